"""Validation of imported geometries and of GeoJSON text before a library reads it.

* :func:`parse_geojson_text` — JSON errors with line and column.
* :func:`precheck_geojson` — structure that GDAL would silently accept or "fix": unclosed or
  too-short rings, non-numeric / NaN coordinates, lon/lat out of range.
* :func:`validate_geometries` — null, empty and OGC-invalid geometries over arrays, repaired
  with ``shapely.make_valid`` only on request, keeping each geometry's family.
* :func:`check_lonlat` — coordinates outside lon ±180 / lat ±90 (before and after conversion).

Problems are reported as ``{"index": feature position, "reason": text}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from zhizhi.layers.errors import LayerError
from zhizhi.layers.geometry import as_array, keep_dimension

GEOMETRY_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
)


def parse_geojson_text(data: bytes | str) -> Any:
    """Decode and parse JSON; ``empty`` for blank input, ``malformed`` with line/column otherwise."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LayerError("malformed", f"the file is not UTF-8 text (byte {exc.start})") from exc
    if not data.strip():
        raise LayerError("empty", "the file holds only whitespace")
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise LayerError(
            "malformed", f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError:
        raise LayerError("malformed", "the JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise LayerError("malformed", f"malformed JSON: {exc}") from None


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_NUMBER = (float, int)


@dataclass
class _Scan:
    """Problems found while walking one GeoJSON document.

    Types and nesting are checked while walking; finiteness and lon/lat range are checked at
    the end on one array of every position (:meth:`finish`).
    """

    degrees: bool
    problems: list[dict[str, Any]] = field(default_factory=list)
    out_of_range: list[dict[str, Any]] = field(default_factory=list)
    bounds: tuple[list[float], list[float]] = field(
        default_factory=lambda: ([math.inf, -math.inf], [math.inf, -math.inf])
    )
    coords: list[tuple[float, float]] = field(default_factory=list)
    segments: list[tuple[int, int, str]] = field(default_factory=list)  # (first row, index, where)

    def problem(self, index: int, reason: str) -> None:
        self.problems.append({"index": index, "reason": reason})

    def positions(self, index: int, seq: Any, where: str, minimum: int) -> bool:
        """Check an array of positions and queue it for the numeric checks."""
        if not isinstance(seq, list):
            self.problem(index, f"{where}: expected an array of positions, got {_short(seq)}")
            return False
        if 0 < len(seq) < minimum:
            self.problem(index, f"{where} has {len(seq)} position(s); at least {minimum} needed")
            return False
        for j, pos in enumerate(seq):
            if not self.position_ok(index, pos, f"{where} position {j}"):
                return False
        if seq:
            self.segments.append((len(self.coords), index, where))
            self.coords.extend((p[0], p[1]) for p in seq)
        return True

    def position_ok(self, index: int, pos: Any, where: str) -> bool:
        if (
            type(pos) is list
            and len(pos) >= 2
            and type(pos[0]) in _NUMBER
            and type(pos[1]) in _NUMBER
            and (len(pos) == 2 or all(type(v) in _NUMBER for v in pos))
        ):
            return True
        if not isinstance(pos, list) or len(pos) < 2:
            self.problem(index, f"{where}: expected [lon, lat], got {_short(pos)}")
            return False
        k = next(k for k, v in enumerate(pos) if type(v) not in _NUMBER)
        self.problem(index, f"{where}: coordinate {k} is not a number: {_short(pos[k])}")
        return False

    def finish(self) -> None:
        """Non-finite and (for degrees) out-of-range positions: the first of each array."""
        if not self.coords:
            return
        arr = np.array(self.coords, dtype=np.float64)
        starts = np.array([s[0] for s in self.segments])
        finite = np.isfinite(arr).all(axis=1)
        for row in self._first_per_segment(np.flatnonzero(~finite), starts):
            start, index, where = self.segments[np.searchsorted(starts, row, "right") - 1]
            self.problem(
                index,
                f"{where} position {row - start} has a non-finite coordinate {arr[row].tolist()}",
            )
        if not self.degrees or not finite.any():
            return
        good = arr[finite]
        self.bounds = (
            [float(good[:, 0].min()), float(good[:, 0].max())],
            [float(good[:, 1].min()), float(good[:, 1].max())],
        )
        outside = finite & ((np.abs(arr[:, 0]) > 180.0) | (np.abs(arr[:, 1]) > 90.0))
        for row in self._first_per_segment(np.flatnonzero(outside), starts):
            start, index, where = self.segments[np.searchsorted(starts, row, "right") - 1]
            self.out_of_range.append(
                {
                    "index": index,
                    "reason": f"{where} position {row - start} {arr[row].tolist()} is outside "
                    "lon [-180, 180] / lat [-90, 90]",
                }
            )

    @staticmethod
    def _first_per_segment(rows: NDArray[np.intp], starts: NDArray[np.intp]) -> list[int]:
        segment = np.searchsorted(starts, rows, "right") - 1
        _, first = np.unique(segment, return_index=True)
        return rows[np.sort(first)].tolist()

    def ring(self, index: int, ring: Any, where: str) -> None:
        if not self.positions(index, ring, where, 4):
            return
        if not ring:
            self.problem(index, f"{where} has no positions; a linear ring needs at least 4")
        elif ring[0] != ring[-1]:
            self.problem(
                index,
                f"{where} is not closed: first position {ring[0]} != last position {ring[-1]}",
            )

    def geometry(self, index: int, geom: Any, where: str = "") -> None:
        if not isinstance(geom, dict):
            self.problem(index, f"{where}geometry is not an object: {_short(geom)}")
            return
        kind = geom.get("type")
        label = f"{where}{kind}"
        if kind not in GEOMETRY_TYPES:
            self.problem(index, f"{where}unknown geometry type {_short(kind)}")
            return
        if kind == "GeometryCollection":
            parts = geom.get("geometries")
            if not isinstance(parts, list):
                self.problem(index, f"{label} has no 'geometries' array")
                return
            for k, part in enumerate(parts):
                self.geometry(index, part, f"{label} geometry {k}: ")
            return
        coords = geom.get("coordinates")
        if not isinstance(coords, list):
            self.problem(index, f"{label} has no 'coordinates' array")
            return
        if kind == "Point":
            if coords and self.position_ok(index, coords, label):
                self.segments.append((len(self.coords), index, label))
                self.coords.append((coords[0], coords[1]))
        elif kind == "MultiPoint":
            self.positions(index, coords, label, 1)
        elif kind == "LineString":
            self.positions(index, coords, label, 2)
        elif kind == "MultiLineString":
            for k, line in enumerate(coords):
                self.positions(index, line, f"{label} line {k}", 2)
        elif kind == "Polygon":
            self.polygon(index, coords, label)
        else:  # MultiPolygon
            for k, polygon in enumerate(coords):
                self.polygon(index, polygon, f"{label} polygon {k}")

    def polygon(self, index: int, rings: Any, where: str) -> None:
        if not isinstance(rings, list):
            self.problem(index, f"{where}: expected an array of rings, got {_short(rings)}")
            return
        for k, ring in enumerate(rings):
            self.ring(index, ring, f"{where} ring {k}")


def _features(doc: Any) -> list[Any]:
    if not isinstance(doc, dict):
        raise LayerError("malformed", f"GeoJSON must be a JSON object, got {type(doc).__name__}")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise LayerError("malformed", "FeatureCollection has no 'features' array")
        return features
    if kind == "Feature":
        return [doc]
    if kind in GEOMETRY_TYPES:
        return [{"type": "Feature", "properties": {}, "geometry": doc}]
    raise LayerError("malformed", f"not GeoJSON: top-level type is {_short(kind)}")


def precheck_geojson(doc: Any, *, degrees: bool = True) -> int:
    """Check a parsed GeoJSON document's structure; return its feature count.

    ``degrees``: the coordinates are meant to be lon/lat, so out-of-range ones are an error
    (``projected_as_degrees``). Raises ``empty`` for no features and ``malformed`` with one
    detail per problem otherwise.
    """
    features = _features(doc)
    if not features:
        raise LayerError("empty", "the GeoJSON holds no features")
    scan = _Scan(degrees=degrees)
    for i, feature in enumerate(features):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            scan.problem(i, f"not a Feature object: {_short(feature)}")
            continue
        if "geometry" not in feature:
            scan.problem(i, "Feature has no 'geometry' member")
            continue
        props = feature.get("properties")
        if props is not None and not isinstance(props, dict):
            scan.problem(i, f"'properties' is not an object: {_short(props)}")
        if feature["geometry"] is not None:
            scan.geometry(i, feature["geometry"])
    scan.finish()
    if scan.problems:
        scan.problems.sort(key=lambda p: p["index"])
        first = scan.problems[0]
        raise LayerError(
            "malformed",
            f"{len(scan.problems)} structural problem(s) in the GeoJSON; first: feature "
            f"{first['index']}: {first['reason']}",
            scan.problems,
        )
    if scan.out_of_range:
        raise LayerError(
            "projected_as_degrees",
            _degrees_message(*scan.bounds, "the GeoJSON says lon/lat degrees"),
            scan.out_of_range,
        )
    return len(features)


def _degrees_message(lon: list[float], lat: list[float], says: str) -> str:
    return (
        f"coordinates look like metres of a projected system but {says}: bounds seen "
        f"x {lon[0]:.10g}..{lon[1]:.10g}, y {lat[0]:.10g}..{lat[1]:.10g} (lon/lat must lie within "
        "±180 / ±90); declare the file's real CRS (e.g. EPSG:32651)"
    )


def check_lonlat(geoms: ArrayLike, *, says: str, converted_from: str | None = None) -> None:
    """Refuse coordinates outside lon ±180 / lat ±90, or not finite, naming the bounds seen.

    ``projected_as_degrees`` for data that says it is in degrees (``says`` completes "coordinates
    look like metres ... but {says}"); ``bad_crs`` when converting from the projected system
    ``converted_from`` produced them (the declared system does not fit the data).
    """
    geoms = as_array(geoms)
    bounds = shapely.bounds(geoms)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    with np.errstate(invalid="ignore"):
        bad = present & (
            ~np.isfinite(bounds).all(axis=1)
            | (bounds[:, 0] < -180.0)
            | (bounds[:, 2] > 180.0)
            | (bounds[:, 1] < -90.0)
            | (bounds[:, 3] > 90.0)
        )
    if not bad.any():
        return
    finite = np.where(np.isfinite(bounds), bounds, np.nan)
    lon = [float(np.nanmin(finite[:, 0])), float(np.nanmax(finite[:, 2]))]
    lat = [float(np.nanmin(finite[:, 1])), float(np.nanmax(finite[:, 3]))]
    details = [
        {
            "index": int(i),
            "reason": f"bounds {np.round(bounds[i], 6).tolist()} outside lon ±180 / lat ±90",
        }
        for i in np.flatnonzero(bad)
    ]
    if converted_from is not None:
        raise LayerError(
            "bad_crs",
            f"converting from {converted_from} gave coordinates outside lon/lat range (bounds "
            f"seen x {lon[0]:.10g}..{lon[1]:.10g}, y {lat[0]:.10g}..{lat[1]:.10g}): the "
            "coordinate system does not fit the data",
            details,
        )
    raise LayerError("projected_as_degrees", _degrees_message(lon, lat, says), details)


def validate_geometries(
    geoms: ArrayLike, *, make_valid: bool = False
) -> tuple[NDArray[np.object_], int]:
    """Return ``(geometries, repaired_count)``, or raise ``invalid_geometry`` listing every problem.

    Null and empty geometries are always errors. Invalid ones are errors unless ``make_valid``,
    which repairs them with ``shapely.make_valid`` and keeps only the original family (a bowtie
    polygon becomes a MultiPolygon, never a collection with lines); a geometry that has nothing
    of its family left is an error.
    """
    geoms = as_array(geoms)
    missing = shapely.is_missing(geoms)
    empty = ~missing & shapely.is_empty(geoms)
    invalid = ~missing & ~empty & ~shapely.is_valid(geoms)
    details: list[tuple[int, str]] = [(int(i), "null geometry") for i in np.flatnonzero(missing)]
    details += [(int(i), "empty geometry") for i in np.flatnonzero(empty)]
    bad_idx = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[bad_idx]) if len(bad_idx) else np.array([])
    out = geoms.copy()
    if len(bad_idx) and make_valid:
        fixed = keep_dimension(
            shapely.make_valid(geoms[bad_idx]), shapely.get_dimensions(geoms[bad_idx])
        )
        ok = ~shapely.is_missing(fixed)
        ok[ok] = shapely.is_valid(fixed[ok])
        out[bad_idx[ok]] = fixed[ok]
        details += [
            (int(i), f"cannot be repaired without changing its geometry type: {r}")
            for i, r in zip(bad_idx[~ok], reasons[~ok])
        ]
    elif len(bad_idx):
        details += [(int(i), str(r)) for i, r in zip(bad_idx, reasons)]
    if details:
        details.sort()
        hint = "" if make_valid else " (import with make_valid to repair invalid ones)"
        raise LayerError(
            "invalid_geometry",
            f"{len(details)} feature(s) with null, empty or invalid geometry{hint}; first: "
            f"feature {details[0][0]}: {details[0][1]}",
            [{"index": i, "reason": r} for i, r in details],
        )
    return out, (len(bad_idx) if make_valid else 0)
