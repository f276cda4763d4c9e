"""Walls configured once, centrally: ``/api/walls`` and the walls admin page ``/walls``.

A wall (a name unique within its jurisdiction, a title, its slots: the screens) belongs to a
jurisdiction; an admin (``walls.manage``) sees and changes the walls of its jurisdiction and
those below it, and nothing else (another town's wall is a 404, as if it did not exist).

- ``GET /api/walls``; ``POST /api/walls`` (201; 403 outside one's jurisdiction; 409 name taken);
  ``GET|PUT|DELETE /api/walls/{id}`` (PUT replaces; 409 when it drops a slot with paired screens).
- ``GET /api/walls/{id}/devices``: its paired screens; ``POST /api/walls/{id}/devices``
  ``{"code", "slot", "label"}`` pairs the screen showing ``code`` to ``slot`` (201; 404 for a
  code no screen shows: unknown, expired or used; 422 for an unknown slot; 429 with
  ``Retry-After`` after too many wrong codes); ``DELETE /api/walls/{id}/devices/{device_id}``
  revokes a screen: its credential stops working and its ``/ws`` closes at once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse

from zhizhi.console.api.deps import State, require
from zhizhi.console.auth import Permission, Principal
from zhizhi.console.walls.models import Device, PairBody, Wall, WallBody
from zhizhi.console.walls.service import RateLimited, WallService, device_model, walls_of
from zhizhi.console.walls.store import DuplicateWall
from zhizhi.gis.codes import is_within

router = APIRouter(tags=["walls"])
PAGE = Path(__file__).resolve().parents[1] / "static" / "walls" / "index.html"
Admin = Annotated[Principal, Depends(require(Permission.WALLS_MANAGE))]


@router.get("/walls", include_in_schema=False)
def walls_page() -> FileResponse:
    """The walls admin page (its script sends the login's token)."""
    return FileResponse(PAGE, headers={"Cache-Control": "no-cache"})


def _service(state: State) -> WallService:
    return walls_of(state.auth)


Walls = Annotated[WallService, Depends(_service)]
WallId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The wall's number.")]
DeviceId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The paired screen's number.")]


def _own(walls: WallService, admin: Principal, wall_id: WallId) -> Wall:
    """The wall ``wall_id`` if it lies within the admin's jurisdiction; 404 otherwise."""
    wall = walls.store.get(wall_id)
    if wall is None or not is_within(wall.code, admin.code):
        raise HTTPException(404, f"no wall {wall_id} in your jurisdiction")
    return wall


def _check_code(state: State, admin: Principal, body: WallBody) -> None:
    if not is_within(body.code, admin.code):
        raise HTTPException(403, f"jurisdiction {body.code} is not within yours ({admin.code})")
    if body.code not in state.jurisdictions:
        raise HTTPException(422, f"unknown jurisdiction {body.code!r}")


def _too_many(exc: RateLimited) -> JSONResponse:
    return JSONResponse(
        status_code=429, content={"detail": str(exc)}, headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
    )


@router.get("/api/walls", response_model=list[Wall])
def list_walls(walls: Walls, admin: Admin) -> list[Wall]:
    """The walls of the caller's jurisdiction and those below it."""
    return walls.store.list(admin.code)


@router.post(
    "/api/walls",
    status_code=201,
    response_model=Wall,
    responses={403: {"description": "Outside your jurisdiction"}, 409: {"description": "Name taken"}},
)
def add_wall(state: State, walls: Walls, admin: Admin, body: WallBody):
    """Create a wall in the caller's jurisdiction or one below it."""
    _check_code(state, admin, body)
    try:
        return walls.store.add(body, state.auth.clock())
    except DuplicateWall as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc)})


@router.get("/api/walls/{wall_id}", response_model=Wall)
def get_wall(walls: Walls, admin: Admin, wall_id: WallId) -> Wall:
    return _own(walls, admin, wall_id)


@router.put(
    "/api/walls/{wall_id}",
    response_model=Wall,
    responses={409: {"description": "Name taken, or a dropped slot has paired screens"}},
)
def replace_wall(state: State, walls: Walls, admin: Admin, wall_id: WallId, body: WallBody):
    """Replace a wall's name, title, jurisdiction and slots."""
    _own(walls, admin, wall_id)
    _check_code(state, admin, body)
    kept = {s.name for s in body.slots}
    orphaned = sorted({d.slot for d in walls.devices.list(wall_id)} - kept)
    if orphaned:
        return JSONResponse(
            status_code=409,
            content={
                "detail": f"slot(s) {', '.join(orphaned)} have paired screens: revoke them before removing the slot"
            },
        )
    try:
        changed = walls.store.replace(wall_id, body, state.auth.clock())
    except DuplicateWall as exc:
        return JSONResponse(status_code=409, content={"detail": str(exc)})
    if changed is None:
        raise HTTPException(404, f"no wall {wall_id} in your jurisdiction")
    return changed


@router.delete("/api/walls/{wall_id}", status_code=204, response_class=Response)
def delete_wall(walls: Walls, admin: Admin, wall_id: WallId) -> Response:
    """Remove a wall; its screens are revoked."""
    _own(walls, admin, wall_id)
    walls.delete_wall(wall_id)
    return Response(status_code=204)


@router.get("/api/walls/{wall_id}/devices", response_model=list[Device])
def list_devices(walls: Walls, admin: Admin, wall_id: WallId) -> list[Device]:
    """The screens paired to the wall."""
    _own(walls, admin, wall_id)
    return [device_model(d) for d in walls.devices.list(wall_id)]


@router.post(
    "/api/walls/{wall_id}/devices",
    status_code=201,
    response_model=Device,
    responses={404: {"description": "No screen shows that code"}, 429: {"description": "Too many wrong codes"}},
)
def pair_device(walls: Walls, admin: Admin, wall_id: WallId, body: PairBody):
    """Pair the screen that shows ``code`` to a slot of the wall."""
    wall = _own(walls, admin, wall_id)
    if body.slot not in {s.name for s in wall.slots}:
        raise HTTPException(
            422, f"wall {wall.name} has no slot {body.slot!r} (its slots: {', '.join(s.name for s in wall.slots)})"
        )
    try:
        device = walls.pair(wall_id, body.code, body.slot, body.label.strip(), admin.username)
    except RateLimited as exc:
        return _too_many(exc)
    if device is None:
        raise HTTPException(
            404,
            f"no screen shows the code {body.code!r}: it is mistyped, expired (codes live 10 minutes) or used already",
        )
    return device_model(device)


@router.delete("/api/walls/{wall_id}/devices/{device_id}", status_code=204, response_class=Response)
def revoke_device(walls: Walls, admin: Admin, wall_id: WallId, device_id: DeviceId) -> Response:
    """Revoke a screen: its credential stops working, its live connections close now."""
    _own(walls, admin, wall_id)
    device = walls.devices.get(device_id)
    if device is None or device.wall_id != wall_id:
        raise HTTPException(404, f"no device {device_id} on wall {wall_id}")
    walls.revoke(device_id)
    return Response(status_code=204)
