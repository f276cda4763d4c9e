"""Camera calibration and masks (``/api/cameras/{id}/calibration``, ``/api/cameras/{id}/masks``).

- ``GET .../calibration``: the newest calibration (``null`` when none), every version (newest
  first), the camera's masks and nominal sector, and the pinhole first guess for a frame of
  ``width`` x ``height`` (what the calibration page starts from).
- ``POST .../calibration/preview``: the pairs clicked so far checked and fitted without storing:
  each pair's errors, the ground area, and where the current model puts each pixel on the map
  (a pair's ``lonlat`` may still be missing).
- ``PUT .../calibration`` (contract): ``{"points": [{"px": [x, y], "lonlat": [lon, lat]}, ...]}``
  (at least 4; optional ``image_size: [w, h]``) stores a new version and answers
  ``{"reprojection_px", "ground_error_m", "fov"}`` with ``points`` (each pair's errors),
  ``version`` and the homography. The console's camera index takes the new ground area at once
  ("which cameras see this point" then uses it), and the other consoles and the workers are told
  on the bus (the camera's registry revision goes up with it).
- ``PUT .../masks``: ``{"masks": [[[x, y], ...], ...]}`` (optional ``image_size``): pixel polygons
  where detections are ignored, stored with the camera's record; workers pick them up.

Reads need ``read``, writes ``cameras.manage``; both stay within the caller's jurisdiction: 404
for an unknown camera, 403 for another town's (a district's users reach every camera). Bad
pairs or masks are a 422 naming the point or mask and what is wrong; nothing is stored then.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.camera_registry import json_object_body, registered_camera
from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State, require
from zhizhi.console.auth.roles import Permission
from zhizhi.console.calibration import (
    CalibrationRefused,
    check_masks,
    first_guess_answer,
    fit,
    image_size_of,
    predict,
    sector_of,
    stored_answer,
)
from zhizhi.console.state import ConsoleState
from zhizhi.layers.camera_calibrations import CameraCalibrations
from zhizhi.layers.camera_registry import StaleRevisionError, UnknownCameraError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/cameras", tags=["calibration"])
MayManage = [Depends(require(Permission.CAMERAS_MANAGE))]
MayRead = [Depends(require(Permission.READ))]


def _store(state: ConsoleState) -> CameraCalibrations:
    return CameraCalibrations(state.engine)


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        allowed_text = ", ".join(sorted(allowed))
        raise HTTPException(422, [{"loc": ["body", extra[0]], "msg": f"unknown field (allowed: {allowed_text})",
                                   "type": "extra_forbidden"}])


def _refused(exc: CalibrationRefused) -> HTTPException:
    return HTTPException(422, exc.detail())


Size = Annotated[int | None, Query(ge=16, le=16384, description="Frame width or height in pixels.")]


@router.get("/{camera_id}/calibration", dependencies=MayRead)
def get_calibration(state: State, scope: RequestScope, camera_id: str, width: Size = None,
                    height: Size = None) -> dict[str, Any]:
    """The camera's newest calibration and its versions, masks, sector and pinhole first guess."""
    record = registered_camera(state, camera_id, scope.code)
    versions = _store(state).versions(camera_id)
    newest = versions[0] if versions else None
    fallback = tuple(newest.image_size) if newest is not None else None
    size = image_size_of([width, height], fallback) if width and height else image_size_of(None, fallback)
    return {
        "camera": {"id": record.id, "name": record.name, "lon": record.lon, "lat": record.lat,
                   "heading_deg": record.heading_deg, "hfov_deg": record.hfov_deg, "range_m": record.range_m,
                   "height_m": record.height_m, "tilt_deg": record.tilt_deg, "owner_code": record.owner_code,
                   "revision": record.revision},
        "calibration": stored_answer(newest) if newest is not None else None,
        "versions": [v.summary() for v in versions],
        "first_guess": first_guess_answer(record, size),
        "sector": sector_of(record),
        "masks": [[list(p) for p in ring] for ring in record.masks],
    }


@router.post("/{camera_id}/calibration/preview", dependencies=MayRead)
async def preview_calibration(request: Request, state: State, scope: RequestScope, camera_id: str) -> dict[str, Any]:
    """Check and fit the pairs clicked so far, storing nothing (see the module)."""
    body = await json_object_body(request)
    _only(body, {"points", "image_size"})

    def run() -> dict[str, Any]:
        record = registered_camera(state, camera_id, scope.code)
        try:
            return predict(record, body.get("points", []), body.get("image_size"), _store(state).newest(camera_id))
        except CalibrationRefused as exc:
            raise _refused(exc) from None

    return await run_in_threadpool(run)


@router.put("/{camera_id}/calibration", dependencies=MayManage)
async def put_calibration(request: Request, state: State, scope: RequestScope, principal: CurrentPrincipal,
                          camera_id: str) -> dict[str, Any]:
    """Fit and store a new calibration version; the camera's field of view becomes its ground area."""
    body = await json_object_body(request)
    _only(body, {"points", "image_size"})
    if "points" not in body:
        raise HTTPException(422, [{"loc": ["body", "points"], "msg": "points is required: at least 4 "
                                   "{px: [x, y], lonlat: [lon, lat]} pairs", "type": "missing"}])

    def run() -> dict[str, Any]:
        record = registered_camera(state, camera_id, scope.code)
        store = _store(state)
        newest = store.newest(camera_id)
        try:
            fitted = fit(record, body["points"], body.get("image_size"),
                         fallback_size=tuple(newest.image_size) if newest is not None else None)
        except CalibrationRefused as exc:
            raise _refused(exc) from None
        stored = store.save(fitted.to_store(camera_id), created_by=principal.username)
        log.info("camera %s calibrated by %s: version %d, %d pairs, %.2f px, %.2f m", camera_id, principal.username,
                 stored.version, len(stored.points), stored.reprojection_px, stored.ground_error_m)
        revision = state.camera_registry.get(camera_id).revision if state.camera_registry is not None else None
        state.cameras_changed("updated", [camera_id], revision)
        return fitted.answer() | {"version": stored.version, "created_at": stored.created_at.isoformat(),
                                  "created_by": stored.created_by}

    return await run_in_threadpool(run)


@router.put("/{camera_id}/masks", dependencies=MayManage)
async def put_masks(request: Request, state: State, scope: RequestScope, principal: CurrentPrincipal,
                    camera_id: str) -> dict[str, Any]:
    """Store the camera's masks (pixel polygons where detections are ignored); ``[]`` lifts them."""
    body = await json_object_body(request)
    _only(body, {"masks", "image_size"})
    if "masks" not in body:
        raise HTTPException(422, [{"loc": ["body", "masks"], "msg": "masks is required: a list of pixel polygons "
                                   "([] for none)", "type": "missing"}])

    def run() -> dict[str, Any]:
        record = registered_camera(state, camera_id, scope.code)
        try:
            size = image_size_of(body["image_size"]) if body.get("image_size") is not None else None
            masks = check_masks(body["masks"], size)
        except CalibrationRefused as exc:
            raise _refused(exc) from None
        try:
            stored = state.camera_registry.replace(record.model_copy(update={"masks": masks}),
                                                   expect_revision=record.revision)
        except StaleRevisionError as exc:
            raise HTTPException(409, str(exc)) from None
        except UnknownCameraError as exc:  # removed meanwhile
            raise HTTPException(404, str(exc)) from None
        if stored.revision != record.revision:
            state.cameras_changed("updated", [camera_id], stored.revision)
            log.info("camera %s masks set by %s: %d polygons (revision %d)", camera_id, principal.username,
                     len(masks), stored.revision)
        return {"id": camera_id, "masks": [[list(p) for p in ring] for ring in stored.masks],
                "revision": stored.revision}

    return await run_in_threadpool(run)
