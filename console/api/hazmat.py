"""The hazardous-chemical vehicle registry: plates, carriers, cargo, approved routes and hours.

A vehicle belongs to the jurisdictions its approved route passes through: a town sees (and its
wall draws) the vehicles whose route crosses the town. Registering or changing a vehicle needs
``hazmat.manage`` and a route that meets the caller's jurisdiction; importing a whole table
(CSV or GeoJSON) is the district's job. An import is all or nothing: one bad row and the answer
is a 422 naming every bad row and field, with nothing stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Depends, File, HTTPException, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.deps import RequestScope, State, require
from zhizhi.console.auth import Permission
from zhizhi.layers import Scope
from zhizhi.layers.hazmat import HazmatImportError, HazmatVehicle, visible_to

router = APIRouter(prefix="/api/hazmat", tags=["hazmat"])
MayManage = [Depends(require(Permission.HAZMAT_MANAGE))]
_CHUNK = 1 << 16


def _visible(state, vehicle_id: str, scope: Scope) -> HazmatVehicle:
    vehicle = state.hazmat.get(vehicle_id)
    if vehicle is None or not visible_to(vehicle, scope):
        raise HTTPException(404, f"no hazmat vehicle {vehicle_id!r}")
    return vehicle


@router.post("/vehicles", status_code=201, response_model=HazmatVehicle, dependencies=MayManage)
def register(state: State, scope: RequestScope, vehicle: HazmatVehicle) -> HazmatVehicle:
    """Register a vehicle, or replace the record of one of the caller's vehicles."""
    if not visible_to(vehicle, scope):
        raise HTTPException(403, f"the route does not pass through your jurisdiction ({scope.code})")
    known = state.hazmat.get(vehicle.vehicle_id)
    if known is not None and not visible_to(known, scope):
        raise HTTPException(409, f"vehicle id {vehicle.vehicle_id!r} is registered by another jurisdiction")
    state.hazmat.upsert(vehicle)
    return vehicle


@router.get("/vehicles", response_model=list[HazmatVehicle])
def list_vehicles(state: State, scope: RequestScope) -> list[HazmatVehicle]:
    """The vehicles whose approved route passes through the caller's jurisdiction."""
    return state.hazmat.list(scope)


@router.get("/vehicles/{vehicle_id}", response_model=HazmatVehicle)
def get_vehicle(state: State, scope: RequestScope, vehicle_id: str) -> HazmatVehicle:
    return _visible(state, vehicle_id, scope)


@router.delete("/vehicles/{vehicle_id}", status_code=204, dependencies=MayManage)
def delete_vehicle(state: State, scope: RequestScope, vehicle_id: str) -> Response:
    _visible(state, vehicle_id, scope)
    state.hazmat.delete(vehicle_id)
    return Response(status_code=204)


@router.post("/vehicles/import", dependencies=MayManage)
async def import_vehicles(
    request: Request,
    state: State,
    scope: RequestScope,
    file: Annotated[UploadFile, File(description="CSV (route as WKT or GeoJSON) or a GeoJSON FeatureCollection")],
) -> dict[str, Any]:
    """Import a registry table; all or nothing (422 with every bad row and field)."""
    if scope.code != state.jurisdictions.district_code:
        raise HTTPException(403, "importing the registry is the district's job; register single vehicles instead")
    limit = state.settings.layers.max_upload_bytes
    data = bytearray()
    while chunk := await file.read(_CHUNK):
        data += chunk
        if len(data) > limit:
            raise HTTPException(413, f"upload is larger than the limit of {limit:,} bytes")
    name = (file.filename or "").lower()
    geojson = name.endswith((".geojson", ".json")) or bytes(data[:64]).lstrip().startswith(b"{")
    importer = state.hazmat.import_geojson if geojson else state.hazmat.import_csv
    try:
        count = await run_in_threadpool(importer, bytes(data))
    except HazmatImportError as exc:
        problems = [{"number": p.number, "field": p.field, "reason": p.reason} for p in exc.problems[:200]]
        raise HTTPException(422, {"message": str(exc).splitlines()[0], "problems": problems}) from None
    return {"imported": count, "format": "geojson" if geojson else "csv"}


@router.get("/corridors")
def corridors(state: State, scope: RequestScope) -> dict[str, Any]:
    """Approved routes and their corridors as GeoJSON (``part``: route or corridor)."""
    features = []
    for vehicle in state.hazmat.list(scope):
        props = {"vehicle_id": vehicle.vehicle_id, "plate": vehicle.plate, "company": vehicle.company,
                 "corridor_m": vehicle.corridor_m, "permitted_hours": vehicle.permitted_hours}
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(vehicle.corridor()),
                         "properties": props | {"part": "corridor"}})
        features.append({"type": "Feature", "geometry": vehicle.route, "properties": props | {"part": "route"}})
    return {"type": "FeatureCollection", "features": features}
