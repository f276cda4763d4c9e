"""Point location and search in the jurisdiction hierarchy."""

from __future__ import annotations

from typing import Annotated, Literal

import shapely
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from zhizhi.console.api.deps import RequestScope, State
from zhizhi.gis.codes import is_within
from zhizhi.gis.jurisdiction import Location, OutsideDistrictError

router = APIRouter(prefix="/api", tags=["grids"])

Lon = Annotated[float, Query(ge=-180, le=180, description="Longitude in degrees.")]
Lat = Annotated[float, Query(ge=-90, le=90, description="Latitude in degrees.")]
CrsName = Annotated[Literal["wgs84", "gcj02", "bd09"], Query(description="Coordinates' system.")]


@router.get("/grids/locate", response_model=Location)
def locate(state: State, scope: RequestScope, lon: Lon, lat: Lat, crs: CrsName = "wgs84") -> Location:
    """The grid, village, town and district of a point; 404 outside the district."""
    try:
        location = state.jurisdictions.locate(lon, lat, crs)
    except OutsideDistrictError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    if not is_within(location.grid, scope.code):
        raise HTTPException(
            status_code=404, detail=f"point ({lon}, {lat}) is outside jurisdiction {scope.code}"
        )
    return location


class SearchHit(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None
    bounds: list[float]


@router.get("/search", response_model=list[SearchHit])
def search(
    state: State,
    scope: RequestScope,
    q: Annotated[str, Query(min_length=1, max_length=64, description="Code prefix or part of a name.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SearchHit]:
    """Units whose code starts with ``q`` or whose name contains it, within the caller's scope."""
    q = q.strip()
    hits = []
    for unit in state.jurisdictions.units():
        if not is_within(unit.code, scope.code):
            continue
        if unit.code.startswith(q) or q in unit.name:
            hits.append(unit)
    hits.sort(key=lambda u: (len(u.code), u.code))
    return [
        SearchHit(
            code=u.code,
            name=u.name,
            level=u.level.value,
            parent=u.parent,
            bounds=shapely.bounds(u.geometry).tolist(),
        )
        for u in hits[:limit]
    ]
