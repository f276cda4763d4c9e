"""The jurisdiction hierarchy: district -> town -> village/community -> grid (-> micro-grid).

:class:`Jurisdictions` holds every unit with its code, name, parent and WGS-84 geometry, and
answers "which grid / village / town is this point in" for one point or a million.

Grids come in kinds: comprehensive grids (综合网格) tile their village and give a point its chain;
dedicated grids (专属网格: a school, a park, a hospital) may overlap them and are reported beside
it; micro-grids (微网格), when a county has them, lie below the comprehensive grids. A unit's
parent is the one stored with it, so imported codes need not extend their parent's
(:meth:`Jurisdictions.code_book`).

>>> from zhizhi.gis.district import DistrictSpec, generate_district
>>> j = Jurisdictions.from_district(generate_district(DistrictSpec(seed=1, grids=64, towns=3,
...     villages_per_town=2, cameras=0)))
>>> hit = j.locate(*j.get(j.grid_codes[0]).anchor)
>>> hit.grid == j.grid_codes[0] and hit.district == "320612"
True
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict

from zhizhi.gis.codes import LEVELS, CodeBook, Level, validate_code
from zhizhi.gis.crs import convert
from zhizhi.gis.grid_index import OUTSIDE, GridIndex

COMPREHENSIVE, DEDICATED, MICRO = "comprehensive", "dedicated", "micro"
_TABLE_LEVELS = {"towns": Level.TOWN, "villages": Level.VILLAGE, "grids": Level.GRID, "micro_grids": Level.MICRO_GRID}


class Jurisdiction(BaseModel):
    """One administrative unit."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    code: str
    name: str
    level: Level
    parent: str | None
    geometry: shapely.Geometry
    kind: str = COMPREHENSIVE

    @property
    def anchor(self) -> tuple[float, float]:
        """A lon/lat point guaranteed to lie inside the unit."""
        p = shapely.point_on_surface(self.geometry)
        return (p.x, p.y)


class Location(BaseModel):
    """Where a point lies: its grid and the whole chain above it (the contract of locate), and
    the dedicated grids and the micro-grid that contain it, where the county has them."""

    grid: str
    village: str
    town: str
    district: str
    dedicated_grids: list[str] = []
    micro_grid: str | None = None


class OutsideDistrictError(LookupError):
    """The point lies outside every grid of the district."""


class Jurisdictions:
    """All units of one district, indexed for point lookups."""

    def __init__(
        self,
        district: tuple[str, str, shapely.Geometry],
        towns: gpd.GeoDataFrame,
        villages: gpd.GeoDataFrame,
        grids: gpd.GeoDataFrame,
        micro_grids: gpd.GeoDataFrame | None = None,
    ) -> None:
        code, name, geometry = district
        self.district_code = code if len(code) == 6 and code.isdigit() else validate_code(code)
        self._units: dict[str, Jurisdiction] = {
            code: Jurisdiction(code=code, name=name, level=Level.DISTRICT, parent=None, geometry=geometry)
        }
        tables = {"towns": towns, "villages": villages, "grids": grids, "micro_grids": micro_grids}
        for table_name, table in tables.items():
            if table is None:
                continue
            level = _TABLE_LEVELS[table_name]
            default = MICRO if level == Level.MICRO_GRID else COMPREHENSIVE
            kinds = table["kind"].fillna(default) if "kind" in table else [default] * len(table)
            for row_code, row_name, parent, geom, kind in zip(
                table["code"], table["name"], table["parent"], table.geometry.values, kinds
            ):
                self._units[row_code] = Jurisdiction(
                    code=row_code, name=row_name, level=level, parent=parent, geometry=geom, kind=str(kind)
                )
        kinds = (
            grids["kind"].fillna(COMPREHENSIVE).to_numpy() if "kind" in grids else np.full(len(grids), COMPREHENSIVE)
        )
        comprehensive = grids[kinds == COMPREHENSIVE]
        order = np.argsort(comprehensive["code"].to_numpy())
        self.grid_codes: NDArray[np.str_] = comprehensive["code"].to_numpy()[order].astype(str)
        self._grid_index = GridIndex(comprehensive.geometry.values[order])
        dedicated = grids[kinds == DEDICATED]
        self._dedicated_codes = dedicated["code"].to_numpy().astype(str)
        self._dedicated = shapely.STRtree(dedicated.geometry.values) if len(dedicated) else None
        self._micro_codes = np.empty(0, dtype=str)
        self._micro_index: GridIndex | None = None
        if micro_grids is not None and len(micro_grids):
            micro_order = np.argsort(micro_grids["code"].to_numpy())
            self._micro_codes = micro_grids["code"].to_numpy()[micro_order].astype(str)
            self._micro_index = GridIndex(micro_grids.geometry.values[micro_order])
        self._check_chains()
        self._children: dict[str, list[Jurisdiction]] = {}
        for unit in self._units.values():
            if unit.parent is not None:
                self._children.setdefault(unit.parent, []).append(unit)

    @classmethod
    def from_district(cls, district) -> Jurisdictions:
        """From a generated :class:`gis.district.District`."""
        b = district.boundary
        return cls((b.adcode, b.name, b.geometry), district.towns, district.villages, district.grids)

    @classmethod
    def from_layers(
        cls, district_code: str, district_name: str, towns, villages, grids, micro_grids=None
    ) -> Jurisdictions:
        """From stored ``towns``, ``villages``, ``grids`` (and ``micro_grids``) layers
        (code/name/parent columns; grids and micro-grids may carry ``kind``)."""
        geometry = shapely.union_all(towns.geometry.values)
        return cls((district_code, district_name, geometry), towns, villages, grids, micro_grids)

    def _check_chains(self) -> None:
        for code, unit in self._units.items():
            if unit.parent is not None and unit.parent not in self._units:
                raise ValueError(f"{code} names parent {unit.parent}, which is not in the hierarchy")

    def code_book(self) -> CodeBook:
        """Every unit's parent and level, for :func:`zhizhi.gis.codes.install_book`."""
        return CodeBook({c: u.parent for c, u in self._units.items()}, {c: u.level for c, u in self._units.items()})

    def replace_with(self, other: Jurisdictions) -> None:
        """Become ``other`` in place, so that every holder of this object sees the new hierarchy
        (a live re-import). One attribute assignment: a reader sees the old or the new whole."""
        self.__dict__ = other.__dict__

    def __contains__(self, code: object) -> bool:
        return code in self._units

    def __len__(self) -> int:
        return len(self._units)

    def get(self, code: str) -> Jurisdiction:
        """The unit with ``code``; KeyError if the district has none."""
        try:
            return self._units[code]
        except KeyError:
            raise KeyError(f"no jurisdiction with code {code!r} in district {self.district_code}") from None

    def children(self, code: str) -> list[Jurisdiction]:
        """The units directly below ``code``."""
        return list(self._children.get(code, ()))

    def units(self, level: Level | None = None) -> list[Jurisdiction]:
        """All units, or those of one level."""
        return [u for u in self._units.values() if level is None or u.level == level]

    def chain(self, code: str) -> list[Jurisdiction]:
        """The unit and its ancestors, from the district down."""
        units = [self.get(code)]
        while units[-1].parent is not None:
            units.append(self.get(units[-1].parent))
        return units[::-1]

    @property
    def grid_index(self) -> GridIndex:
        return self._grid_index

    def locate_many(self, lon: ArrayLike, lat: ArrayLike, crs: str = "wgs84") -> NDArray[np.object_]:
        """Grid code of every point (``None`` outside the district); lon/lat arrays in ``crs``."""
        lon_w, lat_w = convert(lon, lat, crs)
        idx = self._grid_index.locate(lon_w, lat_w)
        codes = np.full(idx.shape, None, dtype=object)
        inside = idx != OUTSIDE
        codes[inside] = self.grid_codes[idx[inside]]
        return codes

    def locate(self, lon: float, lat: float, crs: str = "wgs84") -> Location:
        """The grid and chain of one point; :class:`OutsideDistrictError` outside."""
        if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"coordinates out of range: lon={lon}, lat={lat}")
        code = self.locate_many(np.array([lon]), np.array([lat]), crs)[0]
        if code is None:
            raise OutsideDistrictError(
                f"point ({lon:.6f}, {lat:.6f}) [{crs}] is outside district {self.district_code}"
            )
        district, town, village, grid = (u.code for u in self.chain(code)[:4])
        (dedicated,), (micro,) = self.locate_extras_many(np.array([lon]), np.array([lat]), crs)
        return Location(grid=grid, village=village, town=town, district=district,
                        dedicated_grids=dedicated, micro_grid=None if micro is None else str(micro))

    def locate_extras_many(
        self, lon: ArrayLike, lat: ArrayLike, crs: str = "wgs84"
    ) -> tuple[list[list[str]], NDArray[np.object_]]:
        """For many points: the dedicated grids containing each, and its micro-grid (``None``)."""
        lon_w, lat_w = convert(lon, lat, crs)
        lon_w, lat_w = np.atleast_1d(lon_w), np.atleast_1d(lat_w)
        dedicated: list[list[str]] = [[] for _ in range(len(lon_w))]
        if self._dedicated is not None:
            pts, hits = self._dedicated.query(shapely.points(lon_w, lat_w), predicate="intersects")
            for p, h in zip(pts, hits):
                dedicated[p].append(str(self._dedicated_codes[h]))
            for found in dedicated:
                found.sort()
        micro = np.full(len(lon_w), None, dtype=object)
        if self._micro_index is not None:
            idx = self._micro_index.locate(lon_w, lat_w)
            micro[idx != OUTSIDE] = self._micro_codes[idx[idx != OUTSIDE]]
        return dedicated, micro

    def lowest_containing(self, geometries: Sequence[shapely.Geometry] | NDArray) -> list[str]:
        """For each WGS-84 geometry, the code of the smallest unit that covers it whole.

        A camera gets its grid, a school zone its village (or grid), a road crossing towns
        the district. This is the code that jurisdiction scoping of layers works with.
        """
        geoms = np.asarray(geometries, dtype=object)
        result = np.full(len(geoms), self.district_code, dtype=object)
        for level in LEVELS[1:]:  # town, village, grid: a finer unit replaces a coarser one
            units = [u for u in self.units(level) if u.kind == COMPREHENSIVE]
            tree = shapely.STRtree([u.geometry for u in units])
            geom_idx, unit_idx = tree.query(geoms, predicate="covered_by")
            for g, u in zip(geom_idx, unit_idx):
                result[g] = units[u].code
        return result.tolist()
