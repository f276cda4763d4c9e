"""Logging in and out, who am I, and (for admins) the users of one's jurisdiction.

``POST /api/auth/login`` ``{"username", "password"}`` answers ``{"token", "token_type",
"expires_at", "user": {"name", "role", "jurisdiction"}}``; a wrong name or password is a 401
with the same message either way; a 429 with ``Retry-After`` (seconds) while this name from
this address, or this address, is in its backoff (``settings.auth``). ``POST /api/auth/logout``
revokes the request's token and its tickets, and closes its open ``/ws`` and video streams
(204). ``GET /api/auth/me`` is the caller with its permissions.

``POST /api/auth/ticket`` answers ``{"ticket", "expires_at", "expires_in"}``: a credential for
the URLs that cannot carry a header (``/ws?ticket=``, ``/api/cameras/{id}/frame.jpg|mjpeg
?ticket=``) and nothing else, usable by its session for ``settings.auth.ticket_ttl_s`` (a
minute; a video tile that refreshes its frame every second uses one ticket many times) and ended
with the session. A login token is never accepted in a URL. The router's lifespan puts
:mod:`console.redact` on uvicorn's loggers, so no ticket (nor a refused token) is ever logged.

``GET /api/users`` lists the users of the caller's jurisdiction; ``POST /api/users``
``{"username", "role", "jurisdiction", "password"}`` creates one inside it (201; 409 when the
name is taken; 422 for a bad role, jurisdiction or weak password). Both need ``users.manage``.
"""

from __future__ import annotations

import math
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.console import redact
from zhizhi.console.api.deps import (
    CurrentPrincipal,
    CurrentSession,
    State,
    Token,
    require,
    unauthorized,
)
from zhizhi.console.auth import (
    AuthError,
    LoginFailed,
    LoginResult,
    Permission,
    Principal,
    RateLimited,
    UserExists,
    UserInfo,
)
from zhizhi.console.auth.models import USERNAME_PATTERN, to_datetime
from zhizhi.console.auth.passwords import MAX_PASSWORD_LENGTH
from zhizhi.console.auth.roles import PERMISSIONS, Role
from zhizhi.gis.codes import CODE_PATTERN, is_within


@asynccontextmanager
async def _no_credentials_in_logs(app):
    redact.install()
    yield


router = APIRouter(prefix="/api/auth", tags=["auth"], lifespan=_no_credentials_in_logs)
users_router = APIRouter(prefix="/api/users", tags=["users"])


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


@router.post(
    "/login",
    response_model=LoginResult,
    responses={401: {"description": "Wrong user name or password"}, 429: {"description": "Too many failed logins"}},
)
def login(state: State, request: Request, body: LoginBody):
    """Exchange a user name and password for a bearer token."""
    address = request.client.host if request.client else None
    try:
        return state.auth.login(body.username, body.password, address)
    except RateLimited as exc:
        return JSONResponse(
            status_code=429,
            content={"detail": str(exc)},
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        )
    except LoginFailed as exc:
        raise unauthorized(str(exc)) from None


@router.post("/logout", status_code=204, response_class=Response)
def logout(state: State, token: Token, principal: CurrentPrincipal) -> Response:
    """Revoke the token of this request and its tickets, and close its live connections
    (other sessions of the user stay)."""
    state.auth.logout(token)
    return Response(status_code=204)


class TicketResult(BaseModel):
    ticket: str = Field(description="Send as ?ticket=TICKET on /ws and /api/cameras/{id}/frame.jpg|mjpeg only.")
    expires_at: datetime
    expires_in: float = Field(description="Seconds the ticket may still be used (whatever the client's clock).")


@router.post("/ticket", response_model=TicketResult, responses={401: {"description": "Not logged in"}})
def ticket(state: State, session: CurrentSession) -> TicketResult:
    """A short-lived ticket of this session for URLs (``/ws``, camera video), which cannot carry
    an ``Authorization`` header; it ends with the session."""
    issued = state.auth.issue_ticket(session)
    return TicketResult(ticket=issued.ticket, expires_at=to_datetime(issued.expires_ts),
                        expires_in=round(max(0.0, issued.expires_ts - state.auth.clock()), 3))


class Me(BaseModel):
    user: UserInfo
    jurisdiction_name: str
    level: str
    permissions: list[Permission]
    expires_at: str | None


@router.get("/me", response_model=Me)
def me(state: State, token: Token, principal: CurrentPrincipal) -> Me:
    """The logged-in user, its jurisdiction and what its role may do."""
    unit = state.jurisdictions.get(principal.code)
    expires = state.auth.expires_at(token)
    return Me(
        user=UserInfo(name=principal.username, role=principal.role, jurisdiction=principal.code),
        jurisdiction_name=unit.name,
        level=unit.level.value,
        permissions=sorted(PERMISSIONS[principal.role]),
        expires_at=to_datetime(expires).isoformat() if expires is not None else None,
    )


# --- users ------------------------------------------------------------------------------------

Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    role: Role
    jurisdiction: str = Field(pattern=CODE_PATTERN, description="District, town or village code.")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


@users_router.get("", response_model=list[UserInfo])
def list_users(state: State, admin: Admin) -> list[UserInfo]:
    """Users whose jurisdiction lies within the caller's, by name."""
    return state.auth.list_users(within=admin.code)


@users_router.post("", status_code=201, response_model=UserInfo)
def add_user(state: State, admin: Admin, body: NewUser):
    """Create a user inside the caller's jurisdiction."""
    if not is_within(body.jurisdiction, admin.code):
        raise HTTPException(403, f"jurisdiction {body.jurisdiction} is not within yours ({admin.code})")
    try:
        return state.auth.add_user(body.username, body.role, body.jurisdiction, body.password)
    except UserExists as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc)})
    except AuthError as exc:
        return JSONResponse(status_code=422, content={"detail": str(exc)})
