"""Roles and what each may do: the one permission table of the console.

========================  =====  ============  =========  =============  =======  =======  ===========
permission                admin  duty_officer  emergency  town_operator  analyst  gateway  wall_device
========================  =====  ============  =========  =============  =======  =======  ===========
``read``                  yes    yes           yes        yes            yes      no       yes
``alerts.act``            yes    yes           yes        yes            no       no       no
``events.report``         yes    yes           yes        yes            no       no       no
``layers.import``         yes    yes           yes        yes            yes      no       no
``hazmat.manage``         yes    yes           yes        no             no       no       no
``incidents.manage``      yes    yes           yes        yes            no       no       no
``telemetry.ingest``      yes    no            no         no             no       yes      no
``users.manage``          yes    no            no         no             no       no       no
``models.manage``         yes    no            no         no             yes      no       no
``jurisdictions.manage``  yes    no            no         no             no       no       no
``cameras.manage``        yes    no            no         yes            no       no       no
``walls.manage``          yes    no            no         no             no       no       no
``procedures.manage``     yes    no            no         no             no       no       no
========================  =====  ============  =========  =============  =======  =======  ===========

``read`` is the map, layers, cameras, search, alerts with their history and evidence; ``alerts.act``
is transition, escalate and hand down; ``events.report`` is ``POST /api/events``; ``layers.import``
is ``POST /api/layers``; ``hazmat.manage`` is the hazardous-chemical vehicle registry;
``incidents.manage`` is opening, noting and closing incidents; ``telemetry.ingest`` is ``POST
/api/telemetry``; ``users.manage`` is the users API; ``models.manage`` is adding, promoting and
rolling back model versions (``/api/models``) — model configurations are district-wide, so only a
district-level admin or analyst may change them (reading them needs ``read``);
``jurisdictions.manage`` is importing the county's own towns, villages and grids
(``/api/jurisdictions``), for district-level admins only; ``cameras.manage`` is adding, changing,
removing and importing cameras of the camera registry (``/api/cameras``): a district admin
manages every camera, a town's admin or operator its own; only admins read the stream URLs'
credentials; ``walls.manage`` is creating walls and pairing or revoking their screens
(``/api/walls``); ``procedures.manage`` is saving the alert categories' standard operating
procedures (``/api/procedures``), district-wide, so for district-level admins only. Every permission
applies inside the user's own jurisdiction only (:mod:`layers.scope`): a town operator works its
town's alerts, a district duty officer the whole district's. Analysts build and tune warning models
and write reports: they read everything in their jurisdiction, may import layers and manage model
versions, but never move an alert. Emergency teams work like duty officers. A ``gateway`` is a
machine account — the BeiDou/GPS platform's or a dock's bridge — that posts positions and nothing
else; it belongs to the district. A ``wall_device`` is a screen paired to a wall's slot
(:mod:`console.walls`): it reads what the wall shows in the wall's jurisdiction and sends wall
selections on ``/ws``, and nothing else; no user has this role (devices are paired, not created).

A ``town_operator`` belongs to a town or a village; the other roles to any of district, town
or village.

>>> can(Role.ANALYST, Permission.ALERTS_ACT)
False
>>> sorted(p.value for p in PERMISSIONS[Role.TOWN_OPERATOR])
['alerts.act', 'cameras.manage', 'events.report', 'incidents.manage', 'layers.import', 'read']
"""

from __future__ import annotations

from enum import StrEnum

from zhizhi.gis.codes import Level


class Role(StrEnum):
    """What a user does at the command center."""

    ADMIN = "admin"
    DUTY_OFFICER = "duty_officer"
    TOWN_OPERATOR = "town_operator"
    ANALYST = "analyst"
    EMERGENCY = "emergency"
    GATEWAY = "gateway"
    WALL_DEVICE = "wall_device"


class Permission(StrEnum):
    """One thing a role may or may not do (see the module's table)."""

    READ = "read"
    ALERTS_ACT = "alerts.act"
    EVENTS_REPORT = "events.report"
    LAYERS_IMPORT = "layers.import"
    HAZMAT_MANAGE = "hazmat.manage"
    INCIDENTS_MANAGE = "incidents.manage"
    TELEMETRY_INGEST = "telemetry.ingest"
    USERS_MANAGE = "users.manage"
    MODELS_MANAGE = "models.manage"
    JURISDICTIONS_MANAGE = "jurisdictions.manage"
    CAMERAS_MANAGE = "cameras.manage"
    WALLS_MANAGE = "walls.manage"
    PROCEDURES_MANAGE = "procedures.manage"


_OPERATE = frozenset(
    {Permission.READ, Permission.ALERTS_ACT, Permission.EVENTS_REPORT, Permission.LAYERS_IMPORT}
)

_COMMAND = _OPERATE | {Permission.HAZMAT_MANAGE, Permission.INCIDENTS_MANAGE}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DUTY_OFFICER: _COMMAND,
    Role.EMERGENCY: _COMMAND,
    Role.TOWN_OPERATOR: _OPERATE | {Permission.INCIDENTS_MANAGE, Permission.CAMERAS_MANAGE},
    Role.ANALYST: frozenset({Permission.READ, Permission.LAYERS_IMPORT, Permission.MODELS_MANAGE}),
    Role.GATEWAY: frozenset({Permission.TELEMETRY_INGEST}),
    Role.WALL_DEVICE: frozenset({Permission.READ}),
}

PERMISSION_TEXT: dict[Permission, str] = {
    Permission.READ: "read the map, layers, cameras and alerts",
    Permission.ALERTS_ACT: "transition, escalate or hand down alerts",
    Permission.EVENTS_REPORT: "report events",
    Permission.LAYERS_IMPORT: "import layers",
    Permission.HAZMAT_MANAGE: "register hazardous-chemical vehicles",
    Permission.INCIDENTS_MANAGE: "open, note or close incidents",
    Permission.TELEMETRY_INGEST: "post telemetry",
    Permission.USERS_MANAGE: "manage users",
    Permission.MODELS_MANAGE: "add, promote or roll back model versions",
    Permission.JURISDICTIONS_MANAGE: "import the district's jurisdictions",
    Permission.CAMERAS_MANAGE: "add, change, remove or import cameras",
    Permission.WALLS_MANAGE: "create walls or pair and revoke their screens",
    Permission.PROCEDURES_MANAGE: "save standard operating procedures",
}

# The levels a role's jurisdiction may have (grids are never a user's jurisdiction).
ROLE_LEVELS: dict[Role, frozenset[Level]] = {
    role: frozenset({Level.DISTRICT, Level.TOWN, Level.VILLAGE}) for role in Role
} | {
    Role.TOWN_OPERATOR: frozenset({Level.TOWN, Level.VILLAGE}),
    Role.GATEWAY: frozenset({Level.DISTRICT}),
}


def can(role: Role | str, permission: Permission | str) -> bool:
    """Whether ``role`` has ``permission``."""
    return Permission(permission) in PERMISSIONS[Role(role)]


def parse_role(value: str) -> Role:
    """The role named ``value``; ValueError listing the roles otherwise."""
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; use one of {names}") from None
