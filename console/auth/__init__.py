"""Users, roles and tokens: a request's jurisdiction comes from who it is.

A user has a name, an Argon2id-hashed password, a role (:class:`Role`: ``admin``,
``duty_officer``, ``town_operator``, ``analyst``, ``emergency``) and a jurisdiction code (a
district, town or village of the console's district). ``POST /api/auth/login`` with
``{"username", "password"}`` answers ``{"token", "token_type", "expires_at", "user": {"name",
"role", "jurisdiction"}}``; REST calls send ``Authorization: Bearer TOKEN``. What cannot send
a header (``/ws``, ``<img>`` video) sends a short-lived ``?ticket=`` of ``POST /api/auth/ticket``
instead; a token is never accepted in a URL. A token unused for ``idle_timeout_s`` is refused.

For code that authenticates on its own (the websocket, ``<img>`` video routes)::

    principal = state.auth.authenticate(token)   # Principal | None
    if principal is None: ...                     # missing, wrong, revoked, expired or idle
    scope = state.scope_for(principal.code)       # what this user may see

and for a credential of a URL, :func:`console.api.deps.connection_session`; a live connection
holds ``state.auth.watch(session)`` and stops when its ``ended`` is set
(:mod:`console.auth.sessions`).

:class:`Principal` is frozen: ``username``, ``role`` (a :class:`Role`) and ``code`` (the
user's jurisdiction code; the district's code for district users), with
``principal.can(permission)``. What each role may do is the table of :mod:`console.auth.roles`.

Modules: ``roles`` (the permission table), ``passwords`` (hashing, policy, the shipped list of
common passwords), ``ratelimit`` (the login guard: backoff per user and address, per address),
``store`` (tables ``users``, ``auth_tokens`` and ``auth_tickets``),
``service`` (:class:`AuthService`), ``sessions`` (live connections end with their session),
``demo`` (the demo console's users).
"""

from zhizhi.console.auth.models import LoginResult, Principal, UserInfo
from zhizhi.console.auth.roles import PERMISSIONS, Permission, Role, can
from zhizhi.console.auth.service import (
    AuthError,
    AuthService,
    LoginFailed,
    RateLimited,
    UnknownUser,
    UserExists,
)
from zhizhi.console.auth.store import AuthStore

__all__ = [
    "PERMISSIONS",
    "AuthError",
    "AuthService",
    "AuthStore",
    "LoginFailed",
    "LoginResult",
    "Permission",
    "Principal",
    "RateLimited",
    "Role",
    "UnknownUser",
    "UserExists",
    "UserInfo",
    "can",
]
