"""Request dependencies: the console state, who the caller is, and the caller's scope.

The caller is the holder of the ``Authorization: Bearer TOKEN`` of a login
(:func:`current_principal`); no token, an unknown, revoked or expired one answers 401 with
``WWW-Authenticate: Bearer``. The caller's jurisdiction is the user's, never something the
request says about itself: :func:`request_scope` builds the :class:`layers.Scope` every read
path takes from the principal's code. :func:`require` guards an endpoint with a permission of
the role table (:mod:`console.auth.roles`): 403 with the reason when the role lacks it.

Routes that a browser opens from a URL without headers (``/ws``, camera video in ``<img>``
tags) take :func:`connection_session`: the bearer header, or a short-lived ``?ticket=`` of
``POST /api/auth/ticket``; a login token in a URL is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from zhizhi.console.auth import Permission, Principal
from zhizhi.console.auth.basic import BadBasicHeader, BasicVerifier, parse_basic
from zhizhi.console.auth.roles import PERMISSION_TEXT
from zhizhi.console.auth.service import LoginFailed, RateLimited, Session
from zhizhi.console.state import ConsoleState
from zhizhi.layers import Scope

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


def current_session(state: State, token: Token) -> Session:
    """The request's session (who, and the token's digest); 401 for an unknown, revoked,
    expired or idle token."""
    session = state.auth.session(token)
    if session is None:
        raise unauthorized("the token is invalid or has expired; log in again")
    return session


CurrentSession = Annotated[Session, Depends(current_session)]


def current_principal(session: CurrentSession) -> Principal:
    """Who the request acts as (401 as :func:`current_session`)."""
    return session.principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

#: Why a login token in a URL is refused: URLs end up in access logs, proxies and histories.
TOKEN_IN_URL = (
    "a login token in the URL is refused (URLs are logged): send 'Authorization: Bearer TOKEN', "
    "or get a ticket (POST /api/auth/ticket) and send ?ticket=TICKET"
)


class Unauthenticated(Exception):
    """A connection without a valid credential; the message says what to send."""


def connection_session(state: ConsoleState, connection: HTTPConnection) -> Session:
    """The session of a request or websocket that may carry its credential in the URL (``/ws``,
    camera video for ``<img>`` tags): ``Authorization: Bearer TOKEN``, or ``?ticket=TICKET``
    (:meth:`~console.auth.AuthService.issue_ticket`). A ``?token=`` is refused outright, so a
    token copied from a log or a browser history opens nothing. :class:`Unauthenticated` otherwise.
    """
    if "token" in connection.query_params:
        raise Unauthenticated(TOKEN_IN_URL)
    header = connection.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        session = state.auth.session(header[7:].strip())
        if session is None:
            raise Unauthenticated("the token is invalid or has expired; log in again")
        return session
    ticket = connection.query_params.get("ticket")
    if not ticket:
        raise Unauthenticated(
            "log in first: send 'Authorization: Bearer TOKEN' or ?ticket=TICKET (POST /api/auth/ticket)"
        )
    session = state.auth.ticket_session(ticket)
    if session is None:
        raise Unauthenticated("the ticket is invalid or has expired (or its session ended); get a new one")
    return session


def url_session(request: Request, state: State) -> Session:
    """:func:`connection_session` for an HTTP route (camera video, evidence files): 401 with
    ``WWW-Authenticate`` saying what to send when there is no valid credential."""
    try:
        return connection_session(state, request)
    except Unauthenticated as exc:
        raise unauthorized(str(exc)) from None


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


def require_district(permission: Permission, why: str, what: str) -> Callable[..., Principal]:
    """A dependency that lets through only users with ``permission`` whose jurisdiction is the
    district itself (403 saying ``why``: "{why}: only district-level users may {what}")."""
    permitted = require(permission)

    def check(state: State, principal: CurrentPrincipal) -> Principal:
        permitted(principal)  # 403 without the permission, first
        district = state.jurisdictions.district_code
        if principal.code != district:
            raise HTTPException(
                403,
                f"{why}: only district-level users may {what} "
                f"(your jurisdiction is {principal.code}, not the district {district})",
            )
        return principal

    check.__name__ = f"require_district_{permission.name.lower()}"
    return check


def request_scope(state: State, principal: CurrentPrincipal) -> Scope:
    """The scope of the caller's own jurisdiction (403 for a role that may not read)."""
    return principal_scope(state, principal)


def principal_scope(state: ConsoleState, principal: Principal) -> Scope:
    """The read scope of a principal however it was authenticated (403 for a role that may not
    read, or a jurisdiction that no longer exists): every read path goes through here."""
    if not principal.can(Permission.READ):
        raise HTTPException(
            status_code=403, detail=f"role {principal.role.value} may not {PERMISSION_TEXT[Permission.READ]}"
        )
    if principal.code not in state.jurisdictions:  # the district was rebuilt without it
        raise HTTPException(status_code=403, detail=f"unknown jurisdiction {principal.code!r}")
    return state.scope_for(principal.code)


RequestScope = Annotated[Scope, Depends(request_scope)]


def url_scope(request: Request, state: State) -> Scope:
    """The read scope of a caller of a file that ``<img>``/``<video>`` tags open by URL (evidence,
    recordings, patrol snapshots): ``Authorization: Bearer`` or a ``?ticket=``
    (:func:`connection_session`; 401 without either, a login token in the URL refused), then as
    :func:`request_scope` (403 for a role that may not read). A dependency, so that the 401 comes
    before any check of the path."""
    return principal_scope(state, url_session(request, state).principal)


UrlScope = Annotated[Scope, Depends(url_scope)]


#: What a route open to GIS clients (``/ogc``) asks for: HTTP Basic or a bearer token.
GIS_CHALLENGE = 'Basic realm="zhizhi", Bearer'


def basic_verifier(request: Request, state: State) -> BasicVerifier:
    """The app's :class:`~console.auth.basic.BasicVerifier` (made on first use)."""
    verifier = getattr(request.app.state, "basic_verifier", None)
    if verifier is None or verifier.auth is not state.auth:
        verifier = request.app.state.basic_verifier = BasicVerifier(state.auth, state.settings.ogc.basic_cache_s)
    return verifier


def gis_principal(request: Request, state: State) -> Principal:
    """Who a GIS client is: ``Authorization: Bearer TOKEN`` (a login's token) or HTTP Basic
    ``user:password`` of a console user (checked as a login, rate limits included; a success
    remembered briefly: :mod:`console.auth.basic`). 401 with ``WWW-Authenticate: Basic
    realm="zhizhi", Bearer`` without a valid one, 429 with ``Retry-After`` while rate limited."""
    header = request.headers.get("authorization", "")
    def refuse(detail: str) -> HTTPException:
        return HTTPException(401, detail=detail, headers={"WWW-Authenticate": GIS_CHALLENGE})
    if header[:7].lower() == "bearer ":
        session = state.auth.session(header[7:].strip())
        if session is None:
            raise refuse("the token is invalid or has expired; log in again")
        return session.principal
    try:
        pair = parse_basic(header) if header else None
    except BadBasicHeader as exc:
        raise refuse(str(exc)) from None
    if pair is None:
        raise refuse("log in first: HTTP Basic with your console user and password, or 'Authorization: Bearer TOKEN'")
    address = request.client.host if request.client else None
    try:
        return basic_verifier(request, state).principal(*pair, address)
    except RateLimited as exc:
        raise HTTPException(429, detail=str(exc), headers={"Retry-After": str(math.ceil(exc.retry_after))}) from None
    except LoginFailed as exc:
        raise refuse(str(exc)) from None


def gis_scope(state: State, principal: Annotated[Principal, Depends(gis_principal)]) -> Scope:
    """The read scope of a GIS client (:func:`gis_principal`, then :func:`principal_scope`)."""
    return principal_scope(state, principal)


GisScope = Annotated[Scope, Depends(gis_scope)]
