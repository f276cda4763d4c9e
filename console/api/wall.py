"""The linked command wall: its three screens, and the two lookups they need besides ``/ws``.

``GET /wall?screen=map|video|alerts&wall=NAME`` serves one screen of the wall ``NAME`` (the
static pages of ``console/static/wall/``); without ``screen`` a launcher page links the three.
Every screen of a wall joins ``/ws?wall=NAME``: a selection made on one (an alert clicked on the
board or on the map) moves all of them. The pages themselves hold no data and need no login;
their scripts send the login's token with every call.

``GET /api/wall/units`` names the units the caller may see, and the units above it (a town's
board names the district that holds an alert): labels and the hand-down picker.
``GET /api/wall/scope`` is the caller's own jurisdiction as a GeoJSON Feature: the outline the
map screen draws.

Pairing a screen (no login on the wall PC; :mod:`console.walls`): ``GET /wall/pair`` shows a
code drawn by ``POST /api/wall/pairings`` (no credential; rate-limited per address: 429 with
``Retry-After``), which answers the code and a secret ``claim``. The screen then polls
``POST /api/wall/pairings/claim`` ``{"claim"}``: ``{"status": "waiting"}`` until an admin has
entered the code (``POST /api/walls/{id}/devices``), then once ``{"status": "paired", "token",
"wall", "slot", "url"}``: the device credential (a bearer token of role ``wall_device``) and its
slot's screen; 404 for an unknown or expired claim (draw a new code). ``GET /api/wall/device`` is
a paired screen's wall and slot (403 for anyone else).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import shapely
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from shapely.geometry import mapping

from zhizhi.console.api.deps import CurrentSession, RequestScope, State
from zhizhi.console.auth.roles import Role
from zhizhi.console.walls.models import ClaimBody, Claimed, DeviceInfo, PairingCode, slot_url
from zhizhi.console.walls.service import RateLimited, walls_of
from zhizhi.gis.codes import is_within

router = APIRouter(tags=["wall"])

PAGES = Path(__file__).resolve().parents[1] / "static" / "wall"
Screen = Literal["map", "video", "alerts"]

#: Outline simplification (degrees, about a metre): the grids' union leaves float noise.
OUTLINE_TOLERANCE_DEG = 1e-5


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES / f"{name}.html", headers={"Cache-Control": "no-cache"})


@router.get("/wall", include_in_schema=False)
def wall_page(
    screen: Annotated[Screen | None, Query(description="map, video or alerts; none: the launcher.")] = None,
    wall: Annotated[str | None, Query(max_length=64, description="The wall's name (default main).")] = None,
) -> FileResponse:
    """One screen of a wall, or the launcher page."""
    return _page(screen or "index")


@router.get("/api/wall/units")
def units(state: State, scope: RequestScope) -> list[dict]:
    """``[{"code", "name", "level", "parent"}]``: the units within the caller's jurisdiction and
    those above it, district first."""
    code = scope.code
    found = [
        u for u in state.jurisdictions.units() if is_within(u.code, code) or is_within(code, u.code)
    ]
    found.sort(key=lambda u: (len(u.code), u.code))
    return [{"code": u.code, "name": u.name, "level": u.level.value, "parent": u.parent} for u in found]


@router.get("/api/wall/scope")
def scope_outline(state: State, scope: RequestScope) -> dict:
    """The caller's jurisdiction as a GeoJSON Feature (``properties``: code, name, level)."""
    unit = state.jurisdictions.get(scope.code)
    geometry = shapely.simplify(unit.geometry, OUTLINE_TOLERANCE_DEG, preserve_topology=True)
    return {
        "type": "Feature",
        "geometry": mapping(geometry),
        "properties": {"code": unit.code, "name": unit.name, "level": unit.level.value},
    }


@router.get("/wall/pair", include_in_schema=False)
def pair_page() -> FileResponse:
    """The page of an unpaired screen: a code to pair it with (no login)."""
    return _page("pair")


@router.post("/api/wall/pairings", status_code=201, response_model=PairingCode,
             responses={429: {"description": "Too many codes from this address"}})
def open_pairing(state: State, request: Request):
    """A new pairing code for the screen asking (no credential needed)."""
    try:
        return walls_of(state.auth).open_pairing(request.client.host if request.client else None)
    except RateLimited as exc:
        return JSONResponse(status_code=429, content={"detail": str(exc)},
                            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))})


@router.post("/api/wall/pairings/claim", response_model=Claimed, response_model_exclude_none=True,
             responses={404: {"description": "Unknown or expired: draw a new code"}})
def claim_pairing(state: State, body: ClaimBody) -> Claimed:
    """The screen asks whether its code was entered; once it was, its credential (once)."""
    answer = walls_of(state.auth).claim(body.claim)
    if answer is None:
        raise HTTPException(404, "unknown or expired pairing: draw a new code (POST /api/wall/pairings)")
    return answer


@router.get("/api/wall/device", response_model=DeviceInfo)
def device_info(state: State, session: CurrentSession) -> DeviceInfo:
    """The wall and slot of the paired screen asking."""
    if session.principal.role is not Role.WALL_DEVICE:
        raise HTTPException(403, "only a paired wall screen has a wall and a slot")
    walls = walls_of(state.auth)
    device = walls.devices.by_digest(session.digest)
    wall = walls.store.get(device.wall_id) if device is not None else None
    slot = next((s for s in wall.slots if s.name == device.slot), None) if wall and device else None
    if device is None or wall is None or slot is None:
        raise HTTPException(404, "this screen's slot is gone: pair it again")
    return DeviceInfo(device_id=device.id, wall_id=wall.id, wall=wall.name, title=wall.title, code=wall.code,
                      slot=slot, url=slot_url(wall.name, slot))
