"""Live video of the wall's tiles: the workers' latest annotated frames, as JPEG or MJPEG.

An ``<img>`` tag cannot send an ``Authorization`` header, so these two routes also take a
short-lived ``?ticket=TICKET`` of ``POST /api/auth/ticket`` (like ``/ws``); a login token in the
URL is refused (401). A camera outside the caller's jurisdiction, or one no worker of this
console analyses, is a 404. An MJPEG stream ends within a second of the end of its session (a
logout, a password change, the idle timeout: :mod:`console.auth.sessions`).

A drone's camera is served under its drone id (``/api/cameras/UAV-01/mjpeg``) to the
jurisdictions that contain the grid the drone is over now (:meth:`telemetry.fleet.Fleet.drones`);
to any other it is a 404 like an unknown camera, and a stream ends when the drone leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from zhizhi.console.api.deps import console_state, url_session
from zhizhi.console.auth import Permission
from zhizhi.console.auth.service import Session
from zhizhi.console.state import ConsoleState
from zhizhi.gis.codes import is_within

router = APIRouter(prefix="/api/cameras", tags=["video"])
BOUNDARY = "zhizhiframe"
DRONE_RECHECK_S = 2.0  # how often a drone's stream checks the drone is still in the caller's area
MIN_FPS, MAX_FPS = 0.2, 25.0  # an MJPEG stream's rate: at least a frame every 5 s, at most 25 a second


def _viewer(request: Request) -> Session:
    """The caller's session from ``Authorization: Bearer`` or ``?ticket=``; 401 otherwise
    (also for a ``?token=``), 403 for a role that may not read."""
    session = url_session(request, console_state(request))
    if not session.principal.can(Permission.READ):
        raise HTTPException(status_code=403, detail=f"role {session.principal.role.value} may not watch video")
    return session


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


Ticket = Annotated[
    str | None,
    Query(description="A ticket of POST /api/auth/ticket, for <img> tags (no login token in URLs).", max_length=256),
]
CameraId = Annotated[str, Path(max_length=64)]


@router.get("/{camera_id}/frame.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def frame(request: Request, camera_id: CameraId, ticket: Ticket = None) -> Response:
    """The newest annotated frame of a camera or a drone (detections drawn)."""
    state, _ = _visible_camera(request, camera_id, _viewer(request).principal.code)
    jpeg = state.latest_jpeg(camera_id)
    if jpeg is None:
        raise HTTPException(status_code=404, detail=f"no video from camera {camera_id!r} yet")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/{camera_id}/mjpeg", responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}})
async def mjpeg(
    request: Request,
    camera_id: CameraId,
    ticket: Ticket = None,
    fps: Annotated[float, Query(ge=MIN_FPS, le=MAX_FPS, description="Frames per second sent.")] = 5.0,
) -> StreamingResponse:
    """A multipart MJPEG stream of the camera's (or drone's) annotated frames (for an ``<img>`` tile)."""
    session = _viewer(request)
    code = session.principal.code
    state, drone = _visible_camera(request, camera_id, code)
    period = 1.0 / fps  # at most 1 / MIN_FPS: fps is validated

    async def frames() -> AsyncIterator[bytes]:
        # The boundary goes *after* each frame: a browser shows a part once the next boundary
        # arrives, so a camera whose picture stopped changing still shows its last frame.
        watch = state.auth.watch(session)  # the stream ends with its session
        try:
            yield f"--{BOUNDARY}\r\n".encode()
            last = None
            checked = time.monotonic()
            while not watch.ended.is_set() and not await request.is_disconnected():
                if drone and time.monotonic() - checked >= DRONE_RECHECK_S:  # a drone moves: it may leave
                    checked = time.monotonic()
                    if not _is_visible(state, camera_id, code)[0]:
                        return
                # off the event loop: an in-process worker encodes a new frame on the first ask, other
                # processes' frames are a Redis round trip
                jpeg = await asyncio.to_thread(state.latest_jpeg, camera_id)
                if jpeg is not None and jpeg != last and not watch.ended.is_set():
                    last = jpeg
                    head = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    yield head + jpeg + f"\r\n--{BOUNDARY}\r\n".encode()
                with contextlib.suppress(TimeoutError):  # the next frame, or the session's end
                    await asyncio.wait_for(watch.ended.wait(), period)
        finally:
            state.auth.unwatch(watch)

    return StreamingResponse(
        frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers={"Cache-Control": "no-store"}
    )
