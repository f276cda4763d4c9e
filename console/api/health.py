"""Liveness and the page configuration."""

from __future__ import annotations

import shapely
from fastapi import APIRouter

from zhizhi.console.api.deps import RequestScope, State

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness probe (contract: ``{"status": "ok"}``)."""
    return {"status": "ok"}


@router.get("/api/config")
def config(state: State, scope: RequestScope) -> dict:
    """What a map page needs to start: district, map settings and the caller's scope."""
    j = state.jurisdictions
    district = j.get(j.district_code)
    unit = j.get(scope.code)
    return {
        "district": {"code": district.code, "name": district.name, **_extent(district)},
        "map": {
            "tile_url": state.settings.map.tile_url,
            "tile_attribution": state.settings.map.tile_attribution,
        },
        "synthetic": state.synthetic,
        "wall": {
            "time_zone": state.settings.wall.time_zone,
            "english_glosses": state.settings.wall.english_glosses,
            "min_text_px": state.settings.wall.min_text_px,
        },
        "scope": {"code": unit.code, "name": unit.name, "level": unit.level.value, **_extent(unit)},
    }


def _extent(unit) -> dict:
    """Bounds and a point inside a unit, for fitting a map to it."""
    return {"bounds": shapely.bounds(unit.geometry).tolist(), "center": list(unit.anchor)}
