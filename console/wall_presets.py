"""Wall presets and the rules that switch them (Milestone Smart Wall's "rules", Genetec's incident
layouts), typed: what each screen of a wall shows, and the messages that switch it.

A *preset* maps each screen of a wall to a view: the map to an area, the video screen to a tile
layout (and fixed cameras), the board to everything or to one incident. A wall runs its
``normal`` preset (per wall name in ``walls``, else the default); the rules switch it:

- **red alert** (:class:`RedAlertRule`): a new alert of a chosen severity pushes its place to the
  map and its nearest camera to the chosen video tile (``screens`` says which screens follow);
- **incident opened** (:class:`IncidentRule`): the whole wall switches to the incident preset — the
  map to the incident's area, the board filtered to the incident's alerts, the video tiles to the
  cameras and drones in or near it;
- **incident closed**: back to the wall's normal preset.

The rules' messages travel on the wall's websocket as :class:`PresetMessage`
(``{"type": "wall.preset", ...}``), published by :mod:`console.live.presets` to the jurisdictions
the alert or incident concerns, each screen receiving its own jurisdiction's part of it.

A named wall may turn a rule off or choose its own screens for it (``walls.NAME.red_alert`` and
``walls.NAME.incident``: ``false``, or a list of screens); the message names those walls'
screens in ``wall_screens`` and each screen follows its own wall's entry (its audience, hence
what a jurisdiction hears, is the same for every wall).

>>> PresetSettings().red_alert.screens
['map', 'video']
>>> PresetSettings().normal_for("ops").map
'restore'
>>> PresetSettings.model_validate({"walls": {"lobby": {"red_alert": False}}}).red_alert_screens()
(['map', 'video'], {'lobby': []})
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: The screens of a wall a rule may switch.
ScreenName = Literal["map", "video", "alerts"]
SCREENS: tuple[ScreenName, ...] = ("map", "video", "alerts")
#: A map area: west, south, east, north (WGS-84 degrees).
BBox = tuple[float, float, float, float]
Layout = Literal[1, 4, 9, 16]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class WallPreset(_Strict):
    """What each screen of a wall shows when no rule holds it: the map's area (``restore``: the
    view it had before a rule moved it; ``scope``: the user's whole jurisdiction; or a bounding
    box), the video screen's layout and fixed cameras (none: the screen's own choice), the board
    (always every alert of the jurisdiction)."""

    map: Literal["restore", "scope"] | BBox = Field(
        "restore", description="restore, scope, or [west, south, east, north] in degrees."
    )
    video_layout: Layout | None = Field(None, description="Tiles (1, 4, 9, 16); none: the screen's own.")
    video_cameras: list[str] = Field(
        default_factory=list, max_length=16, description="Cameras of the first tiles, in order; empty: the screen's."
    )
    red_alert: bool | list[Literal["map", "video"]] | None = Field(
        None, description="The red-alert rule on this wall: false (off), a list of screens; unset or true: the rule's."
    )
    incident: bool | list[ScreenName] | None = Field(
        None, description="The incident rule on this wall: false (off), a list of screens; unset or true: the rule's."
    )

    @model_validator(mode="after")
    def _box(self) -> WallPreset:
        if isinstance(self.map, tuple):
            west, south, east, north = self.map
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise ValueError("map box must be [west, south, east, north] with west < east and south < north")
        return self


class RedAlertRule(_Strict):
    """A new alert of ``severities`` pushes its place to the map and its nearest camera to the
    video tile ``tile`` (1 is the first) on every wall that sees it."""

    enabled: bool = Field(True, description="Whether new alerts switch the wall at all.")
    severities: list[Literal["red", "orange", "yellow", "blue"]] = Field(
        default_factory=lambda: ["red"], min_length=1, description="Severities that switch the wall."
    )
    screens: list[Literal["map", "video"]] = Field(
        default_factory=lambda: ["map", "video"], description="Screens that follow: map (pans to it), video."
    )
    tile: int = Field(1, ge=1, le=16, description="The video tile (1 = first) that gets the alert's camera.")
    zoom: int = Field(16, ge=3, le=20, description="The map's zoom on the alert's place.")


class IncidentRule(_Strict):
    """Opening an incident switches the wall to its preset; closing it switches back."""

    enabled: bool = Field(True, description="Whether opening and closing incidents switch the wall.")
    screens: list[ScreenName] = Field(
        default_factory=lambda: list(SCREENS), description="Screens that switch: map, video, alerts (the board)."
    )
    back_on_close: bool = Field(True, description="Closing the incident switches back to the normal preset.")


class PresetSettings(_Strict):
    """The presets of the walls and the rules that switch them (see :mod:`console.wall_presets`)."""

    normal: WallPreset = Field(default_factory=WallPreset, description="Every wall's normal preset.")
    walls: dict[str, WallPreset] = Field(
        default_factory=dict, description="Normal presets of named walls (?wall=NAME), over the default."
    )
    red_alert: RedAlertRule = Field(default_factory=RedAlertRule, description="What a new red alert switches.")
    incident: IncidentRule = Field(default_factory=IncidentRule, description="What an incident switches.")

    def normal_for(self, wall: str) -> WallPreset:
        """The normal preset of the wall named ``wall``."""
        return self.walls.get(wall, self.normal)

    def red_alert_screens(self) -> tuple[list[str], dict[str, list[str]]]:
        """The red-alert rule's screens, and those of the walls that differ (``[]``: off there)."""
        return _screens(list(self.red_alert.screens), {n: w.red_alert for n, w in self.walls.items()})

    def incident_screens(self) -> tuple[list[str], dict[str, list[str]]]:
        """The incident rule's screens, and those of the walls that differ (``[]``: off there)."""
        return _screens(list(self.incident.screens), {n: w.incident for n, w in self.walls.items()})


def _screens(default: list[str], walls: dict[str, bool | list | None]) -> tuple[list[str], dict[str, list[str]]]:
    own: dict[str, list[str]] = {}
    for name, choice in walls.items():
        if choice is None or choice is True:
            continue
        screens = [] if choice is False else list(dict.fromkeys(choice))
        if screens != default:
            own[name] = screens
    return default, own


# ------------------------------------------------------------------------------- messages


class PresetMessage(_Strict):
    """``{"type": "wall.preset", ...}``: what a rule switched, for every screen of the walls that
    see the alert or incident. ``screens`` names the screens that follow; the others ignore it.

    - ``preset="alert"`` (``rule="red_alert"``): ``alert`` (the alert's message), ``cameras`` (those
      that see its place, nearest first, as the reader may see them), ``tile``, ``zoom``;
    - ``preset="incident"`` (``rule="incident_opened"``): ``incident`` (as the reader may read it);
    - ``preset="normal"`` (``rule="incident_closed"``): ``incident_id``, ``normal`` (the default
      normal preset) and ``walls`` (named walls' own).

    ``wall_screens``: the named walls whose screens differ from ``screens`` (``[]``: the rule is
    off on that wall); a screen of such a wall follows its entry instead.
    """

    type: Literal["wall.preset"] = "wall.preset"
    preset: Literal["alert", "incident", "normal"]
    rule: Literal["red_alert", "incident_opened", "incident_closed"]
    screens: list[ScreenName]
    alert: dict[str, Any] | None = None
    cameras: list[dict[str, Any]] = Field(default_factory=list)
    tile: int | None = None
    zoom: int | None = None
    incident: dict[str, Any] | None = None
    incident_id: str | None = None
    normal: WallPreset | None = None
    walls: dict[str, WallPreset] = Field(default_factory=dict)
    wall_screens: dict[str, list[ScreenName]] = Field(default_factory=dict)

    def follows(self, wall: str, screen: str) -> bool:
        """Whether screen ``screen`` of the wall named ``wall`` follows this message."""
        return screen in self.wall_screens.get(wall, self.screens)

    def wire(self) -> dict[str, Any]:
        """The JSON form sent on the websocket (unset parts left out)."""
        return self.model_dump(mode="json", exclude_none=True)


def red_alert_message(rule: RedAlertRule, alert: dict[str, Any], cameras: list[dict[str, Any]],
                      wall_screens: dict[str, list[str]] | None = None) -> PresetMessage:
    """The message of a new alert that the red-alert rule switches the wall for."""
    return PresetMessage(preset="alert", rule="red_alert", screens=list(rule.screens), alert=alert,
                         cameras=cameras, tile=rule.tile, zoom=rule.zoom, wall_screens=wall_screens or {})


def incident_opened_message(rule: IncidentRule, incident: dict[str, Any],
                            wall_screens: dict[str, list[str]] | None = None) -> PresetMessage:
    """The message that switches the wall to an opened incident's preset."""
    return PresetMessage(preset="incident", rule="incident_opened", screens=list(rule.screens), incident=incident,
                         wall_screens=wall_screens or {})


def incident_closed_message(settings: PresetSettings, incident_id: str) -> PresetMessage:
    """The message that switches the wall back to its normal preset."""
    return PresetMessage(preset="normal", rule="incident_closed", screens=list(settings.incident.screens),
                         incident_id=incident_id, normal=settings.normal, walls=dict(settings.walls),
                         wall_screens=settings.incident_screens()[1])
