"""A CSV table of points (a 12345 hotline export, geocoded addresses) placed in its grids at once.

The file has ``lon`` and ``lat`` columns (also ``lng``/``longitude``/``经度``,
``latitude``/``纬度``), optionally ``crs`` per row (wgs84, gcj02 or bd09; empty: the default)
and ``id``/``编号``. It may be UTF-8 (with the BOM Excel writes, or without) or GBK/GB18030.
Rows are numbered as a spreadsheet shows them: the header is row 1, the first point row 2.
Parsing, checking, coordinate conversion and the grid lookup are vectorised; a bad row is
reported with its number and the others are still placed.

>>> table = parse_points("id,lon,lat,crs\\nA,121.06,32.09,\\nB,abc,32.0,\\nC,121.0,32.0,mars2\\n")
>>> table.rows.tolist(), [str(e) for e in table.errors]
([2], ["row 3: lon 'abc' is not a number", "row 4: unknown crs 'mars2' (use wgs84, gcj02 or bd09)"])
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from zhizhi.gis.crs import CRS, parse_crs
from zhizhi.gis.jurisdiction import Jurisdictions

_ALIASES = {
    "lon": ("lon", "lng", "long", "longitude", "经度"),
    "lat": ("lat", "latitude", "纬度"),
    "crs": ("crs", "坐标系"),
    "id": ("id", "编号"),
}
_FIRST_ROW = 2  # the header is row 1
_ABOVE_GRID = ("village", "town", "district")


class PointsFileError(ValueError):
    """A points file that cannot be read at all (missing, undecodable, without lon/lat columns)."""


@dataclass(frozen=True)
class RowError:
    """One refused row, by its spreadsheet row number."""

    row: int
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"


@dataclass
class PointTable:
    """The good rows of a points file (row-aligned arrays) and the refused ones."""

    rows: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    crs: NDArray[np.object_]
    ids: NDArray[np.object_] | None = None
    errors: list[RowError] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


def decode(data: bytes, encoding: str | None = None) -> str:
    """The text of a CSV file: ``encoding`` if given, else UTF-8 (BOM dropped), else GB18030."""
    if encoding:
        return data.decode(encoding)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")  # a superset of GBK and GB2312


def read_points(path: Path, default_crs: str = "wgs84", encoding: str | None = None) -> PointTable:
    """Read and check a points CSV file (:func:`parse_points`)."""
    path = Path(path)
    if not path.is_file():
        raise PointsFileError(f"points file not found: {path}")
    try:
        text = decode(path.read_bytes(), encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise PointsFileError(f"cannot decode {path}: {exc}") from exc
    return parse_points(text, default_crs)


def _column(frame: pd.DataFrame, role: str) -> str | None:
    names = {str(c).strip().lower(): c for c in frame.columns}
    return next((names[a] for a in _ALIASES[role] if a in names), None)


def parse_points(text: str, default_crs: str = "wgs84") -> PointTable:
    """Check every row of a points CSV; :class:`PointsFileError` if it has no lon/lat columns."""
    default = parse_crs(default_crs)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise PointsFileError(f"not a CSV table: {exc}") from exc
    frame = frame.fillna("")  # short rows
    lon_col, lat_col = _column(frame, "lon"), _column(frame, "lat")
    if lon_col is None or lat_col is None:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise PointsFileError(f"a points file needs lon and lat columns (found: {found})")
    rows = np.arange(len(frame), dtype=np.int64) + _FIRST_ROW
    raw_lon, raw_lat = frame[lon_col].str.strip(), frame[lat_col].str.strip()
    blank = (frame.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    lon = pd.to_numeric(raw_lon, errors="coerce").to_numpy(dtype=np.float64)
    lat = pd.to_numeric(raw_lat, errors="coerce").to_numpy(dtype=np.float64)
    crs_col = _column(frame, "crs")
    crs = np.full(len(frame), default, dtype=object)
    messages: dict[int, str] = {}
    if crs_col is not None:
        given = frame[crs_col].str.strip()
        for name in given[given != ""].unique():
            hit = (given == name).to_numpy()
            try:
                crs[hit] = parse_crs(name)
            except ValueError:
                messages.update((i, f"unknown crs {name!r} (use wgs84, gcj02 or bd09)") for i in np.flatnonzero(hit))
    for values, raw, name, limit in ((lon, raw_lon, "lon", 180), (lat, raw_lat, "lat", 90)):
        for i in np.flatnonzero(np.isnan(values) & ~blank):
            messages[i] = f"{name} {raw.iloc[i]!r} is not a number"
        for i in np.flatnonzero(~np.isnan(values) & ~(np.abs(values) <= limit)):
            messages[i] = f"{name} {values[i]} is out of range (-{limit}..{limit})"
    good = ~blank
    good[list(messages)] = False
    ids = frame[_column(frame, "id")].to_numpy(dtype=object)[good] if _column(frame, "id") else None
    errors = [RowError(int(rows[i]), messages[i]) for i in sorted(messages)]
    return PointTable(rows[good], lon[good], lat[good], crs[good], ids, errors)


def locate_points(jurisdictions: Jurisdictions, table: PointTable) -> dict[str, NDArray[np.object_]]:
    """``grid``, ``village``, ``town`` and ``district`` codes of every point (``None`` outside),
    one lookup per coordinate system in the table; the chain follows each unit's parent. Also the
    dedicated grids containing each point (a list) and its micro-grid (``None`` where none)."""
    grid = np.full(len(table), None, dtype=object)
    dedicated = np.empty(len(table), dtype=object)
    dedicated[:] = [[] for _ in range(len(table))]
    micro = np.full(len(table), None, dtype=object)
    for system in CRS:
        hit = table.crs == system
        if hit.any():
            grid[hit] = jurisdictions.locate_many(table.lon[hit], table.lat[hit], system)
            found, micro[hit] = jurisdictions.locate_extras_many(table.lon[hit], table.lat[hit], system)
            for i, codes in zip(np.flatnonzero(hit), found):
                dedicated[i] = codes
    chains = {"grid": grid} | {level: np.full(len(table), None, dtype=object) for level in _ABOVE_GRID}
    inside = np.flatnonzero(pd.notna(grid))
    if len(inside):
        codes, inverse = np.unique(grid[inside].astype(str), return_inverse=True)
        for level in _ABOVE_GRID:
            codes = np.array([jurisdictions.get(c).parent for c in codes], dtype=object)
            chains[level][inside] = codes[inverse]
    outside = pd.isna(grid)
    micro[outside] = None
    return chains | {"dedicated_grids": dedicated, "micro_grid": micro}


def json_lines(table: PointTable, chains: dict[str, NDArray[np.object_]]) -> list[str]:
    """One JSON object per point, in input order: row, id (if the file has one), lon, lat, crs
    as given, and the grid chain."""
    columns: dict[str, list] = {"row": table.rows.tolist()}
    if table.ids is not None:
        columns["id"] = table.ids.tolist()
    columns |= {"lon": table.lon.tolist(), "lat": table.lat.tolist(), "crs": [str(c) for c in table.crs]}
    columns |= {level: values.tolist() for level, values in chains.items()}
    keys = list(columns)
    return [json.dumps(dict(zip(keys, values)), ensure_ascii=False) for values in zip(*columns.values())]
