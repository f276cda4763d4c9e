"""District boundaries: the built-in synthetic one, or one read from a boundary file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import shapely

from zhizhi.gis.codes import validate_code
from zhizhi.gis.crs import convert_geometries, parse_crs
from zhizhi.gis.metric import MetricFrame

# A plausible centre for the synthetic district (near Tongzhou, Nantong) and its area.
SYNTHETIC_CENTER = (121.06, 32.09)
SYNTHETIC_AREA_KM2 = 1350.0


class BoundaryError(ValueError):
    """A boundary file or adcode that cannot be used."""


@dataclass(frozen=True)
class Boundary:
    """A district outline in WGS-84 with its adcode and name."""

    adcode: str
    name: str
    geometry: shapely.Geometry
    synthetic: bool
    source: str


def synthetic_boundary(seed: int, adcode: str = "320612", name: str = "通州区（合成）") -> Boundary:
    """A smooth irregular outline of about 1,350 km², deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    theta = np.linspace(0.0, 2.0 * np.pi, 361)[:-1]
    radius = np.ones_like(theta)
    for k in range(2, 7):
        radius += rng.uniform(0.02, 0.12) / (k - 1) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    frame = MetricFrame.around(*SYNTHETIC_CENTER)
    shape = shapely.Polygon(np.column_stack([radius * np.sin(theta), radius * np.cos(theta)]))
    scale = np.sqrt(SYNTHETIC_AREA_KM2 * 1e6 / shape.area)
    metric = shapely.affinity.scale(shape, scale, scale, origin=(0, 0))
    return Boundary(
        adcode=validate_code(adcode),
        name=name,
        geometry=frame.geometry_to_lonlat(metric),
        synthetic=True,
        source="synthetic",
    )


def load_boundary(path: Path, adcode: str, crs: str = "gcj02") -> Boundary:
    """Read the feature with ``adcode`` from a boundary file and convert it to WGS-84.

    The DataV-style files in ``shared/data/gis`` carry ``adcode`` and ``name`` properties and
    GCJ-02 coordinates, hence the default ``crs``.
    """
    validate_code(adcode)
    if len(adcode) != 6:
        raise BoundaryError(f"a district adcode has 6 digits, got {adcode!r}")
    path = Path(path)
    if not path.is_file():
        raise BoundaryError(f"boundary file not found: {path}")
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise BoundaryError(f"cannot read boundary file {path}: {exc}") from exc
    if "adcode" not in frame.columns:
        raise BoundaryError(f"{path} has no 'adcode' property")
    match = frame[frame["adcode"].astype(str) == adcode]
    if match.empty:
        known = ", ".join(sorted(frame["adcode"].astype(str))[:20])
        raise BoundaryError(f"adcode {adcode} not in {path} (it has: {known})")
    geometry = shapely.make_valid(shapely.union_all(match.geometry.values))
    geometry = convert_geometries(geometry, parse_crs(crs))
    name = str(match.iloc[0].get("name", adcode))
    return Boundary(adcode=adcode, name=name, geometry=geometry, synthetic=False, source=str(path))
