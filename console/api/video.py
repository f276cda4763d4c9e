"""Live video of the wall's tiles: the workers' latest annotated frames, as JPEG or MJPEG.

An ``<img>`` tag cannot send an ``Authorization`` header, so these two routes also take the
token as ``?token=TOKEN`` (like ``/ws``). A camera outside the caller's jurisdiction, or one no
worker of this console analyses, is a 404.

A drone's camera is served under its drone id (``/api/cameras/UAV-01/mjpeg``) to the
jurisdictions that contain the grid the drone is over now (:meth:`console.fleet.Fleet.drones`);
to any other it is a 404 like an unknown camera, and a stream ends when the drone leaves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from console.auth import Permission
from console.state import ConsoleState
from gis.codes import is_within

router = APIRouter(prefix="/api/cameras", tags=["video"])
BOUNDARY = "zhizhiframe"
DRONE_RECHECK_S = 2.0  # how often a drone's stream checks the drone is still in the caller's area


def _viewer_code(request: Request, token: str | None) -> str:
    """The caller's jurisdiction from ``Authorization: Bearer`` or ``?token=``; 401 otherwise."""
    state: ConsoleState = request.app.state.console
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else ""
    principal = state.auth.authenticate(bearer or token or "")
    if principal is None:
        raise HTTPException(status_code=401, detail="log in first", headers={"WWW-Authenticate": "Bearer"})
    if not principal.can(Permission.READ):
        raise HTTPException(status_code=403, detail=f"role {principal.role.value} may not watch video")
    return principal.code


def _is_visible(state: ConsoleState, camera_id: str, code: str) -> tuple[bool, bool]:
    """Whether ``code`` may watch the camera (or drone) ``camera_id``; and whether it is a drone."""
    try:
        camera = state.cameras.get(camera_id)
    except KeyError:
        camera = None
    if camera is not None:
        return camera.grid is not None and is_within(camera.grid, code), False
    return bool(state.fleet.drones(code, ids={camera_id})), True


def _visible_camera(request: Request, camera_id: str, code: str) -> tuple[ConsoleState, bool]:
    """The console state and whether the source is a drone; 404 when ``code`` may not watch it."""
    state: ConsoleState = request.app.state.console
    visible, drone = _is_visible(state, camera_id, code)
    if not visible:
        raise HTTPException(status_code=404, detail=f"no camera {camera_id!r}")
    return state, drone


Token = Annotated[str | None, Query(description="The login token, for <img> tags.", max_length=256)]


@router.get("/{camera_id}/frame.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def frame(request: Request, camera_id: str, token: Token = None) -> Response:
    """The newest annotated frame of a camera or a drone (detections drawn)."""
    state, _ = _visible_camera(request, camera_id, _viewer_code(request, token))
    jpeg = state.latest_jpeg(camera_id)
    if jpeg is None:
        raise HTTPException(status_code=404, detail=f"no video from camera {camera_id!r} yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{camera_id}/mjpeg", responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}})
async def mjpeg(
    request: Request,
    camera_id: str,
    token: Token = None,
    fps: Annotated[float, Query(gt=0, le=25, description="Frames per second sent.")] = 5.0,
) -> StreamingResponse:
    """A multipart MJPEG stream of the camera's (or drone's) annotated frames (for an ``<img>`` tile)."""
    code = _viewer_code(request, token)
    state, drone = _visible_camera(request, camera_id, code)

    async def frames() -> AsyncIterator[bytes]:
        # The boundary goes *after* each frame: a browser shows a part once the next boundary
        # arrives, so a camera whose picture stopped changing still shows its last frame.
        yield f"--{BOUNDARY}\r\n".encode()
        last = None
        checked = time.monotonic()
        while not await request.is_disconnected():
            if drone and time.monotonic() - checked >= DRONE_RECHECK_S:  # a drone moves: it may leave
                checked = time.monotonic()
                if not _is_visible(state, camera_id, code)[0]:
                    return
            if state.shared_frames is None:  # in-process workers: a dictionary look-up
                jpeg = state.latest_jpeg(camera_id)
            else:  # other processes' frames: a Redis round trip, off the event loop
                jpeg = await asyncio.to_thread(state.latest_jpeg, camera_id)
            if jpeg is not None and jpeg != last:
                last = jpeg
                head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                yield head + jpeg + f"\r\n--{BOUNDARY}\r\n".encode()
            await asyncio.sleep(1.0 / fps)

    return StreamingResponse(
        frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers={"Cache-Control": "no-store"}
    )
