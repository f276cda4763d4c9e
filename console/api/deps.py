"""Request dependencies: the console state, who the caller is, and the caller's scope.

The caller is the holder of the ``Authorization: Bearer TOKEN`` of a login
(:func:`current_principal`); no token, an unknown, revoked or expired one answers 401 with
``WWW-Authenticate: Bearer``. The caller's jurisdiction is the user's, never something the
request says about itself: :func:`request_scope` builds the :class:`layers.Scope` every read
path takes from the principal's code. :func:`require` guards an endpoint with a permission of
the role table (:mod:`console.auth.roles`): 403 with the reason when the role lacks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from console.auth import Permission, Principal
from console.auth.roles import PERMISSION_TEXT
from console.state import ConsoleState
from layers import Scope

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="The token of POST /api/auth/login, as 'Authorization: Bearer TOKEN'.",
)


def console_state(request: Request) -> ConsoleState:
    """The :class:`ConsoleState` built at start-up."""
    return request.app.state.console


State = Annotated[ConsoleState, Depends(console_state)]


def unauthorized(detail: str) -> HTTPException:
    """A 401 that tells the client to log in and send a bearer token."""
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The request's bearer token; 401 when there is none."""
    if credentials is None or not credentials.credentials:
        raise unauthorized("log in first: send 'Authorization: Bearer TOKEN' (POST /api/auth/login)")
    return credentials.credentials


Token = Annotated[str, Depends(bearer_token)]


def current_principal(state: State, token: Token) -> Principal:
    """Who the request acts as; 401 for an unknown, revoked or expired token."""
    principal = state.auth.authenticate(token)
    if principal is None:
        raise unauthorized("the token is invalid or has expired; log in again")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency that lets only roles with ``permission`` through (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise HTTPException(
                status_code=403,
                detail=f"role {principal.role.value} may not {PERMISSION_TEXT[permission]} "
                f"(needs permission {permission.value})",
            )
        return principal

    check.__name__ = f"require_{permission.name.lower()}"
    return check


def request_scope(state: State, principal: CurrentPrincipal) -> Scope:
    """The scope of the caller's own jurisdiction (403 for a role that may not read)."""
    if not principal.can(Permission.READ):
        raise HTTPException(
            status_code=403, detail=f"role {principal.role.value} may not {PERMISSION_TEXT[Permission.READ]}"
        )
    if principal.code not in state.jurisdictions:  # the district was rebuilt without it
        raise HTTPException(status_code=403, detail=f"unknown jurisdiction {principal.code!r}")
    return state.scope_for(principal.code)


RequestScope = Annotated[Scope, Depends(request_scope)]
