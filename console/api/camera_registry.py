"""The camera registry: list, read, add, change, remove and import cameras (``/api/cameras``).

Reads are scoped like everything else: a town sees the cameras whose owner lies within it.
Writes need ``cameras.manage`` (admins; town operators) and stay within the writer's
jurisdiction: 403 for another town's camera (or an owner outside it), 404 for an unknown id,
409 for an id taken or a stale ``revision``, 422 naming the field for bad values (for the object
filters, ``filters``: the class and the field, :mod:`layers.camera_filters`). Stream URLs go
out whole to admins only; everyone else reads ``rtsp://user:***@host/...``; no answer, error
or log line carries a password. Every change rebuilds this console's camera index at once and
goes out on the bus (``Topic.CAMERAS``) to the other consoles and the workers.

``POST /api/cameras/import`` takes a CSV or GeoJSON upload as a VMS or a GB/T 28181 platform
exports it (:mod:`layers.camera_import`), ``dry_run`` (default true) and ``crs``; it answers a
report per row, and stores every row in one transaction only when no row is wrong.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State, require
from zhizhi.console.auth.models import Principal
from zhizhi.console.auth.roles import Permission, Role
from zhizhi.console.cameras import (
    CameraWriteError,
    camera_json,
    check_access,
    import_cameras,
    owner_for,
    unmask_stream_url,
)
from zhizhi.console.state import ConsoleState
from zhizhi.gis.codes import is_within
from zhizhi.layers.camera_import import CRS_NAMES, CameraFileError, read_camera_file
from zhizhi.layers.camera_registry import (
    CameraInput,
    CameraRecord,
    DuplicateCameraError,
    StaleRevisionError,
    UnknownCameraError,
)

log = logging.getLogger(__name__)
router = APIRouter(tags=["cameras"])
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
MayManage = [Depends(require(Permission.CAMERAS_MANAGE))]
_CHUNK = 1 << 16
#: The largest JSON body of one camera (masks and zones included).
MAX_CAMERA_BODY = 1 << 20


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors without the input they echo (a stream URL may hold a password)."""
    return [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _refuse(exc: CameraWriteError) -> HTTPException:
    return HTTPException(exc.status, exc.detail())


async def json_object_body(request: Request) -> dict[str, Any]:
    """The JSON object of a request (at most :data:`MAX_CAMERA_BODY` bytes), read without echoing
    it in errors; the cameras' and their calibrations' routes read their bodies with it."""
    raw = await request.body()
    if len(raw) > MAX_CAMERA_BODY:
        raise HTTPException(413, f"body is over the limit of {MAX_CAMERA_BODY:,} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise HTTPException(422, [{"loc": ["body"], "msg": "the body is not JSON", "type": "json_invalid"}]) from None
    if not isinstance(body, dict):
        raise HTTPException(422, [{"loc": ["body"], "msg": "the body must be a JSON object", "type": "dict_type"}])
    return body


def _secrets(principal: Principal) -> bool:
    return principal.role == Role.ADMIN


def _place(state: ConsoleState, code: str) -> dict[str, Any]:
    """Names of a camera's owner and of the town above it."""
    jurisdictions = state.jurisdictions
    if code not in jurisdictions:
        return {"owner_name": None, "town_code": None, "town_name": None}
    chain = jurisdictions.chain(code)
    town = next((u for u in chain if u.level.value == "town"), None)
    return {"owner_name": chain[-1].name, "town_code": town.code if town else None,
            "town_name": town.name if town else None}


def _answer(state: ConsoleState, record: CameraRecord, principal: Principal,
            states: dict[str, str] | None = None) -> dict[str, Any]:
    states = state.camera_states() if states is None else states
    live = states.get(record.id)
    status = ("disabled" if not record.enabled else live if live else "no stream" if not record.stream_main
              else "unknown")
    return camera_json(record, secrets=_secrets(principal), status=status) | _place(state, record.owner_code)


def registered_camera(state: ConsoleState, camera_id: str, code: str) -> CameraRecord:
    """The registry camera of this id within ``code`` (404 unknown, 403 another jurisdiction's);
    the cameras', calibrations' and adaptations' routes find their camera with it."""
    record = state.camera_registry.get(camera_id) if state.camera_registry is not None else None
    if record is None:
        raise HTTPException(404, f"no camera {camera_id!r}")
    try:
        check_access(record, code)
    except CameraWriteError as exc:
        raise _refuse(exc) from None
    return record


def _validated(data: dict[str, Any]) -> CameraInput:
    try:
        return CameraInput.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(422, _errors(exc)) from None


@router.get("/api/cameras")
def list_cameras(
    state: State, scope: RequestScope, principal: CurrentPrincipal,
    enabled: Annotated[bool | None, Query(description="Only enabled (true) or disabled (false) cameras.")] = None,
) -> list[dict[str, Any]]:
    """The cameras of the caller's jurisdiction, by id."""
    states = state.camera_states()
    records = [r for r in state.camera_registry.list() if is_within(r.owner_code, scope.code)]
    return [_answer(state, r, principal, states) for r in records if enabled is None or r.enabled == enabled]


@router.get("/api/cameras/{camera_id}")
def get_camera(state: State, scope: RequestScope, principal: CurrentPrincipal, camera_id: str) -> dict[str, Any]:
    """One camera (404 unknown, 403 another jurisdiction's)."""
    return _answer(state, registered_camera(state, camera_id, scope.code), principal)


@router.post("/api/cameras", status_code=201, dependencies=MayManage)
async def add_camera(request: Request, state: State, scope: RequestScope,
                     principal: CurrentPrincipal) -> dict[str, Any]:
    """Register a camera; its owner is the grid it stands in unless ``owner_code`` names one."""
    camera = _validated(await json_object_body(request))

    def add() -> CameraRecord:
        try:
            record = state.camera_registry.add(camera.record(owner_for(camera, state.jurisdictions, scope.code)))
        except CameraWriteError as exc:
            raise _refuse(exc) from None
        except DuplicateCameraError as exc:
            raise HTTPException(409, str(exc)) from None
        state.cameras_changed("added", [record.id], record.revision)
        log.info("camera %s added by %s (owner %s)", record.id, principal.username, record.owner_code)
        return record

    return _answer(state, await run_in_threadpool(add), principal)


async def _change(request: Request, state: ConsoleState, scope, principal: Principal, camera_id: str,
                  *, partial: bool) -> dict[str, Any]:
    body = await json_object_body(request)
    expect = body.pop("revision", None)
    if expect is not None and (not isinstance(expect, int) or isinstance(expect, bool) or expect < 1):
        raise HTTPException(422, [{"loc": ["body", "revision"], "msg": "must be a positive integer",
                                   "type": "int_type"}])
    if "id" in body and body["id"] != camera_id:
        raise HTTPException(422, [{"loc": ["body", "id"], "msg": "an id cannot be changed (add a new camera)",
                                   "type": "value_error"}])
    for key in ("updated_at",):
        body.pop(key, None)

    def change() -> CameraRecord:
        old = registered_camera(state, camera_id, scope.code)
        data = {**old.as_input(), **body} if partial else {**body, "id": camera_id}
        if partial and ({"lon", "lat"} & body.keys()) and "owner_code" not in body:
            data["owner_code"] = None  # moved: its owner follows its position
        for key in ("stream_main", "stream_sub"):
            if isinstance(data.get(key), str):
                data[key] = unmask_stream_url(data[key], getattr(old, key))
        camera = _validated({**data, "id": camera_id})
        try:
            record = camera.record(owner_for(camera, state.jurisdictions, scope.code))
            stored = state.camera_registry.replace(record, expect_revision=expect)
        except CameraWriteError as exc:
            raise _refuse(exc) from None
        except StaleRevisionError as exc:
            raise HTTPException(409, str(exc)) from None
        except UnknownCameraError as exc:  # removed meanwhile
            raise HTTPException(404, str(exc)) from None
        if stored.revision != old.revision:
            state.cameras_changed("updated", [stored.id], stored.revision)
            log.info("camera %s changed by %s (revision %d)", stored.id, principal.username, stored.revision)
        return stored

    return _answer(state, await run_in_threadpool(change), principal)


@router.patch("/api/cameras/{camera_id}", dependencies=MayManage)
async def patch_camera(request: Request, state: State, scope: RequestScope, principal: CurrentPrincipal,
                       camera_id: str) -> dict[str, Any]:
    """Change some fields of a camera (``revision``: refuse with 409 when it changed meanwhile)."""
    return await _change(request, state, scope, principal, camera_id, partial=True)


@router.put("/api/cameras/{camera_id}", dependencies=MayManage)
async def put_camera(request: Request, state: State, scope: RequestScope, principal: CurrentPrincipal,
                     camera_id: str) -> dict[str, Any]:
    """Replace a camera's fields (those left out get their defaults)."""
    return await _change(request, state, scope, principal, camera_id, partial=False)


@router.delete("/api/cameras/{camera_id}", status_code=204, dependencies=MayManage)
def delete_camera(state: State, scope: RequestScope, principal: CurrentPrincipal, camera_id: str) -> Response:
    """Remove a camera from the registry (its workers stop it)."""
    registered_camera(state, camera_id, scope.code)
    if state.camera_registry.delete(camera_id):
        state.cameras_changed("removed", [camera_id])
        log.info("camera %s removed by %s", camera_id, principal.username)
    return Response(status_code=204)


@router.post("/api/cameras/import", dependencies=MayManage)
async def import_file(
    state: State,
    scope: RequestScope,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File(description="CSV or GeoJSON camera list (VMS / GB/T 28181 export)")],
    dry_run: Annotated[bool, Form(description="Check and report only (the default); false stores.")] = True,
    crs: Annotated[str, Form(description="Coordinates' system: wgs84, gcj02 (Amap, Tencent) or bd09.")] = "wgs84",
) -> JSONResponse:
    """Check a camera list row by row; store it (one transaction) when ``dry_run`` is false and no
    row is wrong. 200 with the report; 422 with the report when a row is wrong and it was to be stored."""
    if crs not in CRS_NAMES:
        raise HTTPException(422, [{"loc": ["body", "crs"], "msg": f"must be one of {', '.join(CRS_NAMES)}",
                                   "type": "literal_error"}])
    limit = state.settings.layers.max_upload_bytes
    data = bytearray()
    while chunk := await file.read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"upload is larger than the limit of {limit:,} bytes")

    def run() -> dict[str, Any]:
        try:
            rows = read_camera_file(bytes(data), file.filename or "", crs)
        except CameraFileError as exc:
            raise HTTPException(422, [{"loc": ["body", "file"], "msg": str(exc), "type": "value_error"}]) from None
        plan = import_cameras(rows, state.camera_registry, state.jurisdictions, scope.code, dry_run=dry_run)
        changed = [i["id"] for i in plan.report["items"] if i["action"] in ("add", "update")]
        if plan.report["stored"] and changed:
            state.cameras_changed("imported", changed)
            log.info("cameras imported by %s: %d added, %d updated", principal.username, plan.report["added"],
                     plan.report["updated"])
        return {"dry_run": dry_run, "crs": crs, **plan.report}

    report = await run_in_threadpool(run)
    refused = not dry_run and report["errors"] > 0
    return JSONResponse(report, status_code=422 if refused else 200)


@router.get("/cameras", include_in_schema=False)
def cameras_page() -> FileResponse:
    """The cameras page (it logs in and calls the API like every page)."""
    return FileResponse(STATIC_DIR / "cameras" / "index.html")
