"""Cameras: which see a point, and their field-of-view cones for the map."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from zhizhi.console.api.deps import RequestScope, State
from zhizhi.console.api.grids import CrsName, Lat, Lon
from zhizhi.console.cameras import DISABLED_STATUS
from zhizhi.gis.codes import is_within
from zhizhi.gis.crs import convert

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


class CoveringCamera(BaseModel):
    """A camera whose field of view contains the asked point."""

    id: str
    name: str
    distance_m: float
    bearing_deg: float
    heading_deg: float
    hfov_deg: float
    range_m: float
    lon: float
    lat: float
    grid: str | None
    status: str


def _visible(camera, scope) -> bool:
    return camera.grid is not None and is_within(camera.grid, scope.code)


def _status(camera, states: dict[str, str]) -> str:
    """A camera's live state when its worker reported one (a disabled camera stays so)."""
    return camera.status if camera.status == DISABLED_STATUS else states.get(camera.id, camera.status)


@router.get("/covering", response_model=list[CoveringCamera])
def covering(
    state: State, scope: RequestScope, lon: Lon, lat: Lat, crs: CrsName = "wgs84"
) -> list[CoveringCamera]:
    """Cameras that see the point, nearest first (only those of the caller's jurisdiction)."""
    lon_w, lat_w = convert(lon, lat, crs)
    hits = state.cameras.covering(float(lon_w), float(lat_w))
    states = state.camera_states()
    return [
        CoveringCamera(
            id=h.id,
            name=h.name,
            distance_m=round(h.distance_m, 2),
            bearing_deg=round(h.bearing_deg, 2),
            heading_deg=h.camera.heading_deg,
            hfov_deg=h.camera.hfov_deg,
            range_m=h.camera.range_m,
            lon=h.camera.lon,
            lat=h.camera.lat,
            grid=h.camera.grid,
            status=_status(h.camera, states),
        )
        for h in hits
        if _visible(h.camera, scope)
    ]


@router.get("/fov")
def fov(state: State, scope: RequestScope) -> dict:
    """Field-of-view sectors of the caller's cameras as a GeoJSON FeatureCollection."""
    features = []
    states = state.camera_states()
    index, sectors = state.cameras, state.camera_sectors
    for camera, sector in zip(index.cameras, sectors):
        if not _visible(camera, scope):
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": sector,
                "properties": {
                    "id": camera.id,
                    "name": camera.name,
                    "status": _status(camera, states),
                    "grid": camera.grid,
                    "heading_deg": camera.heading_deg,
                    "hfov_deg": camera.hfov_deg,
                    "range_m": camera.range_m,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
