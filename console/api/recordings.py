"""Recordings of a camera: the segments covering a time range, each segment file, an export.

``GET /api/cameras/{id}/recordings?start=&end=`` (epoch seconds) lists the finished segments
that overlap the range, oldest first, each with ``start``, ``end`` and a ``url`` the browser
plays (``GET /api/cameras/{id}/recordings/{start_ms}-{end_ms}.mp4``: MP4, range requests).
``GET /api/cameras/{id}/recordings/export?start=&end=`` writes the range as one MP4 (packets
copied from the keyframe at or before ``start``: no re-encode) and sends it as a download.

Jurisdiction: a camera outside the caller's area answers 404 exactly like an unknown one. The
segment file and the export are opened by ``<video>`` tags and download links, which cannot
send a header: like the evidence clips they also take a short-lived ``?ticket=`` of
``POST /api/auth/ticket`` (a login token in the URL is refused). 422: ``end`` before ``start``,
or a range longer than ``recording.max_list_s`` (list) or ``recording.max_export_s`` (export);
404 on an export with nothing recorded in the range.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.deps import RequestScope, State, UrlScope
from zhizhi.console.state import ConsoleState
from zhizhi.gis.codes import is_within
from zhizhi.layers import Scope
from zhizhi.video.recording import SegmentStore
from zhizhi.video.recording.export import NothingRecorded, export

router = APIRouter(prefix="/api/cameras", tags=["recordings"])

CameraId = Annotated[str, Path(max_length=64)]
Epoch = Annotated[float, Query(ge=0, le=1e11, allow_inf_nan=False, description="Epoch seconds.")]
SegmentName = Annotated[str, Path(pattern=r"^\d{1,15}-\d{1,15}\.mp4$", max_length=40)]
Ticket = Annotated[
    str | None,
    Query(description="A ticket of POST /api/auth/ticket, for <video> tags (no login token in URLs).", max_length=256),
]


class RecordingSegment(BaseModel):
    """One recorded segment of the camera."""

    start: float
    end: float
    url: str


def _store(state: ConsoleState) -> SegmentStore:
    return SegmentStore(state.settings.resolved_recordings_dir)


def _visible_camera(state: ConsoleState, scope: Scope, camera_id: str) -> str:
    """``camera_id`` when the caller may see the camera; 404 otherwise (as an unknown one)."""
    try:
        camera = state.cameras.get(camera_id)
    except KeyError:
        camera = None
    if camera is None or camera.grid is None or not is_within(camera.grid, scope.code):
        raise HTTPException(status_code=404, detail=f"no camera {camera_id!r}")
    return camera.id


def _checked_range(start: float, end: float, longest: float) -> None:
    if end < start:
        raise HTTPException(status_code=422, detail=f"end ({end}) is before start ({start})")
    if end - start > longest:
        raise HTTPException(status_code=422, detail=f"the range is {end - start:.0f} s; at most {longest:.0f} s")


@router.get("/{camera_id}/recordings", response_model=list[RecordingSegment])
def list_recordings(
    state: State, scope: RequestScope, camera_id: CameraId, start: Epoch, end: Epoch
) -> list[RecordingSegment]:
    """The camera's recorded segments overlapping ``[start, end]``, oldest first."""
    camera_id = _visible_camera(state, scope, camera_id)
    _checked_range(start, end, state.settings.recording.max_list_s)
    return [
        RecordingSegment(start=s.start, end=s.end, url=f"/api/cameras/{camera_id}/recordings/{s.name}")
        for s in _store(state).list(camera_id, start, end)
    ]


@router.get(
    "/{camera_id}/recordings/export", response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}}
)
async def export_recording(
    state: State, scope: UrlScope, camera_id: CameraId, start: Epoch, end: Epoch, ticket: Ticket = None
) -> FileResponse:
    """``[start, end]`` of the camera's recording as one MP4 download (no re-encode)."""
    camera_id = _visible_camera(state, scope, camera_id)
    _checked_range(start, end, state.settings.recording.max_export_s)
    segments = _store(state).list(camera_id, start, end)
    out = FilePath(tempfile.mkdtemp(prefix="zhizhi-export-")) / "export.mp4"
    try:
        first = await run_in_threadpool(export, segments, start, end, out)
    except NothingRecorded:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise HTTPException(status_code=404, detail=f"camera {camera_id} has no recording in that range") from None
    zone = ZoneInfo(state.settings.wall.time_zone)
    stamp = datetime.fromtimestamp(first, zone).strftime("%Y%m%d-%H%M%S")
    return FileResponse(
        out,
        media_type="video/mp4",
        filename=f"{camera_id}-{stamp}.mp4",
        background=BackgroundTask(shutil.rmtree, out.parent, ignore_errors=True),
    )


@router.get(
    "/{camera_id}/recordings/{name}", response_class=FileResponse, responses={200: {"content": {"video/mp4": {}}}}
)
def read_segment(
    state: State, scope: UrlScope, camera_id: CameraId, name: SegmentName, ticket: Ticket = None
) -> FileResponse:
    """One segment file (MP4), served with range requests; 404 when it is gone (retention)."""
    camera_id = _visible_camera(state, scope, camera_id)
    segment = _store(state).find(camera_id, name)
    if segment is None:
        raise HTTPException(status_code=404, detail=f"camera {camera_id} has no segment {name} (any more)")
    return FileResponse(segment.path, media_type="video/mp4", headers={"Cache-Control": "private, max-age=3600"})
