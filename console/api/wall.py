"""The linked command wall: its three screens, and the two lookups they need besides ``/ws``.

``GET /wall?screen=map|video|alerts&wall=NAME`` serves one screen of the wall ``NAME`` (the
static pages of ``console/static/wall/``); without ``screen`` a launcher page links the three.
Every screen of a wall joins ``/ws?wall=NAME``: a selection made on one (an alert clicked on the
board or on the map) moves all of them. The pages themselves hold no data and need no login;
their scripts send the login's token with every call.

``GET /api/wall/units`` names the units the caller may see, and the units above it (a town's
board names the district that holds an alert): labels and the hand-down picker.
``GET /api/wall/scope`` is the caller's own jurisdiction as a GeoJSON Feature: the outline the
map screen draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import shapely
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from shapely.geometry import mapping

from zhizhi.console.api.deps import RequestScope, State
from zhizhi.gis.codes import is_within

router = APIRouter(tags=["wall"])

PAGES = Path(__file__).resolve().parents[1] / "static" / "wall"
Screen = Literal["map", "video", "alerts"]

#: Outline simplification (degrees, about a metre): the grids' union leaves float noise.
OUTLINE_TOLERANCE_DEG = 1e-5


def _page(name: str) -> FileResponse:
    return FileResponse(PAGES / f"{name}.html", headers={"Cache-Control": "no-cache"})


@router.get("/wall", include_in_schema=False)
def wall_page(
    screen: Annotated[Screen | None, Query(description="map, video or alerts; none: the launcher.")] = None,
    wall: Annotated[str | None, Query(max_length=64, description="The wall's name (default main).")] = None,
) -> FileResponse:
    """One screen of a wall, or the launcher page."""
    return _page(screen or "index")


@router.get("/api/wall/units")
def units(state: State, scope: RequestScope) -> list[dict]:
    """``[{"code", "name", "level", "parent"}]``: the units within the caller's jurisdiction and
    those above it, district first."""
    code = scope.code
    found = [
        u for u in state.jurisdictions.units() if is_within(u.code, code) or is_within(code, u.code)
    ]
    found.sort(key=lambda u: (len(u.code), u.code))
    return [{"code": u.code, "name": u.name, "level": u.level.value, "parent": u.parent} for u in found]


@router.get("/api/wall/scope")
def scope_outline(state: State, scope: RequestScope) -> dict:
    """The caller's jurisdiction as a GeoJSON Feature (``properties``: code, name, level)."""
    unit = state.jurisdictions.get(scope.code)
    geometry = shapely.simplify(unit.geometry, OUTLINE_TOLERANCE_DEG, preserve_topology=True)
    return {
        "type": "Feature",
        "geometry": mapping(geometry),
        "properties": {"code": unit.code, "name": unit.name, "level": unit.level.value},
    }
