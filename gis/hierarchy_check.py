"""Check a county's jurisdiction hierarchy before anything is stored: one report of every problem.

Errors refuse the import: a duplicate code, a missing or unknown parent, a unit outside its
parent, comprehensive grids (综合网格) overlapping each other (towns and villages likewise),
invalid or empty geometry, an unknown grid kind. Warnings do not: gaps inside a village not
covered by its comprehensive grids (or inside a town not covered by its villages), with area and
a representative point, since rivers and lakes are real gaps. Dedicated grids (专属网格) may
overlap comprehensive ones.

All geometry work happens in a local metric frame (:class:`~zhizhi.gis.metric.MetricFrame`);
``tolerance_m`` is the width in metres below which an overlap, a gap or a part outside the
parent counts as digitising noise.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel, Field

from zhizhi.gis.codes import InvalidCodeError, parent_of
from zhizhi.gis.metric import MetricFrame

COMPREHENSIVE, DEDICATED, MICRO = "comprehensive", "dedicated", "micro"
_KINDS = {
    "综合": COMPREHENSIVE, "综合网格": COMPREHENSIVE, "comprehensive": COMPREHENSIVE, "zh": COMPREHENSIVE,
    "专属": DEDICATED, "专属网格": DEDICATED, "专项": DEDICATED, "专项网格": DEDICATED,
    "dedicated": DEDICATED, "zs": DEDICATED,
    "微网格": MICRO, "micro": MICRO,
}
_PARENT_LEVEL = {"villages": "towns", "grids": "villages", "micro_grids": "grids"}
_MAX_LISTED = 50  # codes listed per issue; the count is always given


class Issue(BaseModel):
    """One problem: the level, the codes concerned, why; where it lies when it is a place."""

    level: str
    codes: list[str]
    reason: str
    area_m2: float | None = None
    point: tuple[float, float] | None = Field(None, description="lon, lat (WGS-84) of a representative point")


class HierarchyReport(BaseModel):
    """The dry run's answer: counts per level, errors (refusing), warnings, gap and overlap areas."""

    towns: int
    villages: int
    grids: int
    micro_grids: int | None = None
    errors: list[Issue] = []
    warnings: list[Issue] = []
    gap_m2: float = 0.0
    overlap_m2: float = 0.0

    @property
    def valid(self) -> bool:
        return not self.errors


def normalise_kinds(table: gpd.GeoDataFrame, level: str) -> tuple[np.ndarray, list[Issue]]:
    """Each unit's kind (comprehensive, dedicated, micro); unknown kinds as errors."""
    default = MICRO if level == "micro_grids" else COMPREHENSIVE
    raw = table["kind"].to_numpy(dtype=object)
    kinds = np.array([default if k is None else _KINDS.get(str(k).strip().lower(), "") for k in raw], dtype=object)
    bad = kinds == ""
    issues = [
        Issue(level=level, codes=_listed(table["code"].to_numpy()[bad & (raw == value)]),
              reason=f"unknown grid kind {value!r} (expected 综合网格/comprehensive or 专属网格/dedicated)")
        for value in sorted({str(v) for v in raw[bad]})
    ]
    return kinds, issues


def _listed(codes) -> list[str]:
    return [str(c) for c in list(codes)[:_MAX_LISTED]]


class _Checker:
    def __init__(self, levels: Mapping[str, gpd.GeoDataFrame], district: str | None, tolerance_m: float):
        self.levels = {name: t.reset_index(drop=True) for name, t in levels.items() if t is not None}
        self.district = district
        self.tol = tolerance_m
        every = np.concatenate([t.geometry.values for t in self.levels.values()])
        self.frame = MetricFrame.for_geometry(every[~shapely.is_empty(every) & ~shapely.is_missing(every)])
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []
        self.metric: dict[str, np.ndarray] = {}
        self.kinds: dict[str, np.ndarray] = {}
        self.gap_m2 = 0.0
        self.overlap_m2 = 0.0

    def error(self, level: str, codes, reason: str, **where) -> None:
        self.errors.append(Issue(level=level, codes=_listed(codes), reason=reason, **where))

    def where(self, geometry_m) -> dict:
        point = shapely.point_on_surface(geometry_m)
        lon, lat = self.frame.to_lonlat(shapely.get_x(point), shapely.get_y(point))
        area = round(float(shapely.area(geometry_m)), 1)
        return {"area_m2": area, "point": (round(float(lon), 6), round(float(lat), 6))}

    # -- per level ----------------------------------------------------------------------------
    def codes_and_parents(self, level: str, table: gpd.GeoDataFrame) -> None:
        codes = table["code"].to_numpy(dtype=object)
        missing = np.array([c is None for c in codes])
        if missing.any():
            self.error(level, [f"feature {i}" for i in np.flatnonzero(missing)], "no code")
        counts = table["code"].value_counts()
        for code in counts.index[counts > 1]:
            self.error(level, [code], f"duplicate code ({counts[code]} features)")
        parents = table["parent"].to_numpy(dtype=object).copy()
        for i in np.flatnonzero(np.array([p is None for p in parents]) & ~missing):
            parents[i] = self.parent_from_code(level, codes[i])
        no_parent = np.array([p is None for p in parents]) & ~missing
        if no_parent.any():
            self.error(level, codes[no_parent], "no parent: no parent column and the code has no parent prefix")
        table["parent"] = parents

    def parent_from_code(self, level: str, code: str) -> str | None:
        try:
            parent = parent_of(code)
        except InvalidCodeError:
            return self.district if level == "towns" else None
        return parent

    def geometry(self, level: str, table: gpd.GeoDataFrame) -> None:
        geoms = table.geometry.values
        codes = table["code"].to_numpy(dtype=object)
        empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        if empty.any():
            self.error(level, codes[empty], "no geometry")
        polygonal = np.isin(shapely.get_type_id(geoms), (3, 6)) | empty
        if (~polygonal).any():
            self.error(level, codes[~polygonal], "not a polygon")
        invalid = ~empty & polygonal & ~shapely.is_valid(geoms)
        for i in np.flatnonzero(invalid):
            self.error(level, [codes[i]], f"invalid geometry (feature {table['feature'].iat[i]}): "
                       f"{shapely.is_valid_reason(geoms[i])}")
        fixed = np.where(invalid, shapely.make_valid(geoms), geoms)
        fixed = np.where(empty | ~polygonal, shapely.from_wkt("POLYGON EMPTY"), fixed)
        self.metric[level] = self.frame.geometry_to_metric(fixed)

    def inside_parents(self, level: str, table: gpd.GeoDataFrame) -> None:
        parent_level = _PARENT_LEVEL[level]
        parents = self.levels.get(parent_level)
        codes = table["code"].to_numpy(dtype=object)
        wanted = table["parent"].to_numpy(dtype=object)
        known = {} if parents is None else {c: i for i, c in enumerate(parents["code"]) if c is not None}
        index = np.array([known.get(p, -1) for p in wanted], dtype=int)
        unknown = (index < 0) & np.array([p is not None for p in wanted])
        for parent in sorted({str(p) for p in wanted[unknown]}):
            self.error(level, codes[unknown & (wanted == parent)], f"parent {parent} is not among the {parent_level}")
        has = np.flatnonzero(index >= 0)
        if not len(has):
            return
        parent_m = self.metric[parent_level]
        grown = shapely.buffer(parent_m, self.tol)[index[has]]
        child = self.metric[level][has]
        outside = ~shapely.covers(grown, child)
        if not outside.any():
            return
        rows = has[outside]
        rest = shapely.difference(child[outside], grown[outside])
        significant = ~shapely.is_empty(shapely.buffer(rest, -self.tol / 2))
        for row, piece in zip(rows[significant], rest[significant], strict=True):
            self.error(level, [codes[row]], f"lies outside its parent {wanted[row]} (by more than {self.tol:g} m)",
                       **self.where(piece))

    # -- grids --------------------------------------------------------------------------------
    def overlaps(self, level: str, table: gpd.GeoDataFrame, rows: np.ndarray, what: str) -> float:
        """Overlaps among ``rows`` wider than the tolerance as errors; the total overlap area."""
        geoms = self.metric[level][rows]
        codes = table["code"].to_numpy(dtype=object)[rows]
        tree = shapely.STRtree(geoms)
        a, b = tree.query(geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        pieces = shapely.intersection(geoms[a], geoms[b])
        areas = shapely.area(pieces)
        wide = (areas > 0) & ~shapely.is_empty(shapely.buffer(pieces, -self.tol / 2))
        for i, j, piece in zip(a[wide], b[wide], pieces[wide], strict=True):
            self.error(level, [codes[i], codes[j]], f"{what} overlap", **self.where(piece))
        return float(areas.sum())

    def gaps(self, parent_level: str, level: str, rows: np.ndarray) -> None:
        """Parts of each parent not covered by its children (``rows`` of ``level``)."""
        parents = self.levels[parent_level]
        table = self.levels[level]
        by_parent: dict[str, list[int]] = {}
        for row, parent in zip(rows, table["parent"].to_numpy(dtype=object)[rows], strict=True):
            by_parent.setdefault(parent, []).append(row)
        child_m = self.metric[level]
        parent_m = self.metric[parent_level]
        codes = parents["code"].to_numpy(dtype=object)
        covers = np.array([shapely.union_all(child_m[by_parent.get(c, [])]) for c in codes], dtype=object)
        holes = shapely.difference(parent_m, covers)
        self.gap_m2 += float(shapely.area(holes).sum())
        parts, owner = shapely.get_parts(holes, return_index=True)
        wide = ~shapely.is_empty(shapely.buffer(parts, -self.tol / 2))
        for k, piece in zip(owner[wide], parts[wide], strict=True):
            what = "no comprehensive grids" if level == "grids" else "no villages"
            reason = f"{what} cover this part" if by_parent.get(codes[k]) else f"{what} at all"
            self.warnings.append(Issue(level=parent_level, codes=[str(codes[k])], reason=reason, **self.where(piece)))

    def run(self) -> None:
        for level, table in self.levels.items():
            self.codes_and_parents(level, table)
            self.geometry(level, table)
        if self.district is not None and "towns" in self.levels:
            towns = self.levels["towns"]
            elsewhere = towns["parent"].to_numpy(dtype=object) != self.district
            if elsewhere.any():
                self.error("towns", towns["code"].to_numpy()[elsewhere], f"not in district {self.district}")
        every = np.concatenate([t["code"].dropna().to_numpy(dtype=object) for t in self.levels.values()])
        names, counts = np.unique(every.astype(str), return_counts=True)
        within = {c for t in self.levels.values() for c, n in t["code"].value_counts().items() if n > 1}
        across = [c for c in names[counts > 1] if c not in within]
        if across:
            self.error("hierarchy", across, "code used on more than one level")
        for level, table in self.levels.items():
            if level in ("grids", "micro_grids"):
                self.kinds[level], issues = normalise_kinds(table, level)
                self.errors.extend(issues)
                table["kind"] = self.kinds[level]
            if level != "towns":
                self.inside_parents(level, table)
        if "grids" in self.levels:
            comprehensive = np.flatnonzero(self.kinds["grids"] == COMPREHENSIVE)
            self.overlap_m2 = self.overlaps("grids", self.levels["grids"], comprehensive, "comprehensive grids")
            if "villages" in self.levels:
                self.gaps("villages", "grids", comprehensive)
        for level in ("towns", "villages"):  # they tile their parents as well; not in overlap_m2
            if level in self.levels:
                self.overlaps(level, self.levels[level], np.arange(len(self.levels[level])), level)
        if "villages" in self.levels and "towns" in self.levels:
            self.gaps("towns", "villages", np.arange(len(self.levels["villages"])))


def check_hierarchy(
    towns: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    micro_grids: gpd.GeoDataFrame | None = None,
    district: str | None = None,
    tolerance_m: float = 1.0,
) -> HierarchyReport:
    """Validate tables as :func:`~zhizhi.gis.hierarchy_files.read_level` returns them."""
    return checked_hierarchy(towns, villages, grids, micro_grids, district, tolerance_m)[0]


def checked_hierarchy(
    towns: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    micro_grids: gpd.GeoDataFrame | None = None,
    district: str | None = None,
    tolerance_m: float = 1.0,
) -> tuple[HierarchyReport, dict[str, gpd.GeoDataFrame]]:
    """:func:`check_hierarchy`'s report and the tables as checked: every unit's ``parent`` filled
    (from the code prefix where the file had none) and grid ``kind`` normalised."""
    levels = {"towns": towns, "villages": villages, "grids": grids, "micro_grids": micro_grids}
    checker = _Checker(levels, district, tolerance_m)
    checker.run()
    return _report(checker, towns, villages, grids, micro_grids), checker.levels


def _report(checker: _Checker, towns, villages, grids, micro_grids) -> HierarchyReport:
    return HierarchyReport(
        towns=len(towns),
        villages=len(villages),
        grids=len(grids),
        micro_grids=None if micro_grids is None else len(micro_grids),
        errors=checker.errors,
        warnings=checker.warnings,
        gap_m2=round(checker.gap_m2, 1),
        overlap_m2=round(checker.overlap_m2, 1),
    )
