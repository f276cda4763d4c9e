"""An incident's area: a circle, a drawn polygon or a chemical leak's downwind plume, checked.

>>> CircleArea(point=(120.9, 32.0), radius_m=800).kind
'circle'
>>> area_kind({"point": [120.9, 32.0], "wind_from_deg": 90, "wind_speed_ms": 3})
'plume'
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import shapely
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

MAX_RADIUS_M = 100_000.0
MAX_POLYGON_POSITIONS = 10_000
MAX_WIND_MS = 75.0  # stronger than any typhoon on record near the coast


Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]


class CircleArea(BaseModel):
    """A circle of ``radius_m`` metres around a WGS-84 point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: tuple[Lon, Lat]
    radius_m: float = Field(gt=0, le=MAX_RADIUS_M, allow_inf_nan=False)

    @property
    def kind(self) -> str:
        return "circle"


class PolygonArea(BaseModel):
    """A drawn GeoJSON Polygon (WGS-84), checked to be a valid area."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    polygon: dict[str, Any]

    @property
    def kind(self) -> str:
        return "polygon"

    @field_validator("polygon", mode="before")
    @classmethod
    def _check(cls, value: object) -> dict[str, Any]:
        return check_polygon(value)


class PlumeArea(BaseModel):
    """A chemical leak at ``point``: the plume drifts downwind of ``wind_from_deg``.

    ``wind_from_deg`` is the meteorological direction the wind blows *from* (0 = north,
    90 = east), ``wind_speed_ms`` its speed in m/s (calm air gives no plume direction).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    point: tuple[Lon, Lat]
    wind_from_deg: float = Field(ge=0, le=360, allow_inf_nan=False)
    wind_speed_ms: float = Field(gt=0, le=MAX_WIND_MS, allow_inf_nan=False)

    @property
    def kind(self) -> str:
        return "plume"


def area_kind(value: Any) -> str | None:
    """The area's kind from its keys (``None``: not recognisable)."""
    if isinstance(value, CircleArea | PolygonArea | PlumeArea):
        return value.kind
    if not isinstance(value, dict):
        return None
    if "polygon" in value:
        return "polygon"
    if "wind_from_deg" in value or "wind_speed_ms" in value:
        return "plume"
    if "radius_m" in value:
        return "circle"
    return None


Area = Annotated[
    Annotated[CircleArea, Tag("circle")]
    | Annotated[PolygonArea, Tag("polygon")]
    | Annotated[PlumeArea, Tag("plume")],
    Discriminator(
        area_kind,
        custom_error_type="invalid_area",
        custom_error_message='area must be {"point": [lon, lat], "radius_m": r}, '
        '{"polygon": GeoJSON Polygon} or, for a chemical leak, '
        '{"point": [lon, lat], "wind_from_deg": d, "wind_speed_ms": v}',
    ),
]


def _finite_pair(position: object) -> tuple[float, float] | None:
    if not isinstance(position, list | tuple) or len(position) not in (2, 3):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in position):
        return None
    lon, lat = float(position[0]), float(position[1])
    return (lon, lat) if math.isfinite(lon) and math.isfinite(lat) else None


def check_polygon(value: object) -> dict[str, Any]:
    """A GeoJSON Polygon, normalised to 2-D float positions; ``ValueError`` saying what is wrong.

    >>> check_polygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    {'type': 'Polygon', 'coordinates': [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]}
    >>> check_polygon({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
    Traceback (most recent call last):
    ...
    ValueError: polygon is not a valid area: Self-intersection[0.5 0.5]
    """
    shape = 'a GeoJSON Polygon: {"type": "Polygon", "coordinates": [[[lon, lat], ...]]}'
    if not isinstance(value, dict) or "coordinates" not in value:
        raise ValueError(f"polygon must be {shape}")
    if value.get("type") != "Polygon":
        raise ValueError(f"polygon has type {value.get('type')!r}; it must be {shape}")
    rings = value["coordinates"]
    if not isinstance(rings, list | tuple) or not rings:
        raise ValueError("polygon coordinates must be a non-empty list of rings")
    clean: list[list[list[float]]] = []
    total = 0
    for r, ring in enumerate(rings):
        if not isinstance(ring, list | tuple):
            raise ValueError(f"ring {r} must be a list of [lon, lat] positions")  # noqa: TRY004 - pydantic
        total += len(ring)
        if total > MAX_POLYGON_POSITIONS:
            raise ValueError(f"polygon has more than {MAX_POLYGON_POSITIONS} positions")
        points: list[list[float]] = []
        for p, position in enumerate(ring):
            pair = _finite_pair(position)
            if pair is None:
                raise ValueError(f"ring {r} position {p}: {position!r} is not a [lon, lat] pair of numbers")
            lon, lat = pair
            if not -180 <= lon <= 180 or not -90 <= lat <= 90:
                raise ValueError(
                    f"ring {r} position {p}: lon {lon} / lat {lat} out of range "
                    "(lon -180..180, lat -90..90; [lon, lat] order)"
                )
            points.append([lon, lat])
        if len(points) < 4:
            raise ValueError(
                f"ring {r} has {len(points)} positions; a closed ring needs at least 4 "
                "(the first repeated at the end)"
            )
        if points[0] != points[-1]:
            raise ValueError(f"ring {r} is not closed: it starts at {points[0]} and ends at {points[-1]}")
        clean.append(points)
    polygon = shapely.Polygon(clean[0], clean[1:])
    if not polygon.is_valid:
        raise ValueError(f"polygon is not a valid area: {shapely.is_valid_reason(polygon)}")
    if polygon.area <= 0:
        raise ValueError("polygon encloses no area")
    return {"type": "Polygon", "coordinates": clean}
