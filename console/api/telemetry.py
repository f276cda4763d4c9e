"""Telemetry in (``POST /api/telemetry``), live vehicles and drones out.

``POST /api/telemetry`` takes a JSON list of reports (the contract of
:class:`telemetry.record.VehicleReport`) from a gateway account and answers with the batch's
:class:`~telemetry.gate.IngestReport`: how many were accepted, and which were refused and why
(bad values, ``future``, ``too_old`` — older than ``telemetry.max_age_s``, 24 h —, ``stale`` time
going backwards, ``duplicate``, ``late`` — back-dated behind a newer report of the same batch —,
``unknown_vehicle``, ``jump``). Refused reports never touch a track; the good ones of the same
batch go on. A body that is not a JSON list is a 422,
an oversized one a 413, and while the trajectory rules are behind, a 503 with ``Retry-After``
(nothing is dropped: the gateway sends the batch again).

``GET /api/vehicles`` and ``GET /api/drones`` are the newest positions the caller's
jurisdiction may see; ``GET /api/drones/nearest`` the drones nearest a point, with battery to
fly; ``GET /api/telemetry/status`` the gate's, the rules' and the MQTT link's counters.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.deps import RequestScope, State, require
from zhizhi.console.api.grids import CrsName, Lat, Lon
from zhizhi.console.auth import Permission
from zhizhi.gis.crs import convert
from zhizhi.telemetry.gate import IngestReport
from zhizhi.telemetry.record import VehicleReport

router = APIRouter(tags=["telemetry"])


def _refused(request: Request, status: int, reason: str, detail: str, **kw: Any) -> HTTPException:
    """A whole batch refused before the gate, counted by reason on ``/metrics``
    (``zhizhi_telemetry_batches_refused_total``)."""
    request.app.state.metrics.telemetry_batches_refused.labels(reason).inc()
    return HTTPException(status, detail, **kw)


async def _read_list(request: Request, max_bytes: int, max_items: int) -> list[Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _refused(request, 413, "too_large", f"body of {declared} bytes is over the limit of {max_bytes}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _refused(request, 413, "too_large", f"body is over the limit of {max_bytes} bytes")
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refused(request, 422, "not_json", f"the body is not JSON: {exc}") from None
    if not isinstance(items, list):
        raise _refused(request, 422, "not_a_list", "send a JSON list of reports [{vehicle_id, ts, lon, lat, ...}]")
    if len(items) > max_items:
        raise _refused(request, 413, "too_many", f"{len(items)} reports in one batch; at most {max_items}")
    return items


@router.post(
    "/api/telemetry",
    response_model=IngestReport,
    dependencies=[Depends(require(Permission.TELEMETRY_INGEST))],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {
                "type": "array", "items": VehicleReport.model_json_schema(),
            }}},
        }
    },
)
async def post_telemetry(request: Request, state: State) -> IngestReport:
    """Vehicle positions, a JSON list of ``{vehicle_id, ts, lon, lat, speed_kmh?, heading?, crs}``;
    the answer counts the refused by reason (``rejected``) and lists the first with their index."""
    limits = state.settings.telemetry
    items = await _read_list(request, limits.max_body_bytes, limits.max_batch)
    if state.trajectory is not None and state.trajectory.full(len(items)):
        raise _refused(request, 503, "behind", "the trajectory rules are behind; send the batch again shortly",
                       headers={"Retry-After": "1"})
    return await run_in_threadpool(state.ingest_reports, items)


@router.get("/api/telemetry/status")
def telemetry_status(state: State, scope: RequestScope) -> dict[str, Any]:
    """Counters of the gate (accepted, refused by reason), the rules and the MQTT link."""
    return state.telemetry_status()


Battery = Annotated[float | None, Query(ge=0, le=100, description="Least battery, percent.")]


@router.get("/api/vehicles")
def vehicles(state: State, scope: RequestScope) -> list[dict[str, Any]]:
    """The newest position of each vehicle in the caller's jurisdiction, with registry facts."""
    feed = state.positions
    return [feed.vehicle_item(v) for v in state.fleet.vehicles(scope.code)] if feed else []


@router.get("/api/drones")
def drones(state: State, scope: RequestScope) -> list[dict[str, Any]]:
    """The newest pose of each drone in the caller's jurisdiction, with its camera footprint."""
    return state.fleet.drones(scope.code)


@router.get("/api/drones/nearest")
def nearest_drones(
    state: State,
    scope: RequestScope,
    lon: Lon,
    lat: Lat,
    crs: CrsName = "wgs84",
    k: Annotated[int, Query(ge=1, le=50)] = 3,
    min_battery_pct: Battery = None,
) -> list[dict[str, Any]]:
    """The drones nearest a point, nearest first, that have battery to fly."""
    lon_w, lat_w = convert(lon, lat, crs)
    least = state.settings.drones.min_battery_pct if min_battery_pct is None else min_battery_pct
    found = state.fleet.nearest_drones(float(lon_w), float(lat_w), scope.code, k=k, min_battery_pct=least)
    return [{"drone_id": n.id, "lon": n.lon, "lat": n.lat, "distance_m": round(n.distance_m, 1),
             "battery_pct": n.attrs.get("battery_pct")} for n in found]
