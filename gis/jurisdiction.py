"""The jurisdiction hierarchy: district -> town -> village/community -> grid.

:class:`Jurisdictions` holds every unit with its code, name, parent and WGS-84 geometry, and
answers "which grid / village / town is this point in" for one point or a million.

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

from zhizhi.gis.codes import LEVELS, Level, chain, level_of, validate_code
from zhizhi.gis.crs import convert
from zhizhi.gis.grid_index import OUTSIDE, GridIndex


class Jurisdiction(BaseModel):
    """One administrative unit."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    code: str
    name: str
    level: Level
    parent: str | None
    geometry: shapely.Geometry

    @property
    def anchor(self) -> tuple[float, float]:
        """A lon/lat point guaranteed to lie inside the unit."""
        p = shapely.point_on_surface(self.geometry)
        return (p.x, p.y)


class Location(BaseModel):
    """Where a point lies: its grid and the whole chain above it (the contract of locate)."""

    grid: str
    village: str
    town: str
    district: str


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
    ) -> None:
        code, name, geometry = district
        self.district_code = validate_code(code)
        self._units: dict[str, Jurisdiction] = {
            code: Jurisdiction(code=code, name=name, level=Level.DISTRICT, parent=None, geometry=geometry)
        }
        for table in (towns, villages, grids):
            for row_code, row_name, parent, geom in zip(
                table["code"], table["name"], table["parent"], table.geometry.values
            ):
                self._units[row_code] = Jurisdiction(
                    code=row_code, name=row_name, level=level_of(row_code), parent=parent, geometry=geom
                )
        order = np.argsort(grids["code"].to_numpy())
        self.grid_codes: NDArray[np.str_] = grids["code"].to_numpy()[order].astype(str)
        self._grid_index = GridIndex(grids.geometry.values[order])
        self._check_chains()

    @classmethod
    def from_district(cls, district) -> Jurisdictions:
        """From a generated :class:`gis.district.District`."""
        b = district.boundary
        return cls((b.adcode, b.name, b.geometry), district.towns, district.villages, district.grids)

    @classmethod
    def from_layers(
        cls, district_code: str, district_name: str, towns, villages, grids
    ) -> Jurisdictions:
        """From stored ``towns``, ``villages`` and ``grids`` layers (code/name/parent columns)."""
        geometry = shapely.union_all(towns.geometry.values)
        return cls((district_code, district_name, geometry), towns, villages, grids)

    def _check_chains(self) -> None:
        for code, unit in self._units.items():
            if unit.parent is not None and unit.parent not in self._units:
                raise ValueError(f"{code} names parent {unit.parent}, which is not in the hierarchy")
            if unit.parent is not None and not code.startswith(unit.parent):
                raise ValueError(f"code {code} does not extend its parent's code {unit.parent}")

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
        return [u for u in self._units.values() if u.parent == code]

    def units(self, level: Level | None = None) -> list[Jurisdiction]:
        """All units, or those of one level."""
        return [u for u in self._units.values() if level is None or u.level == level]

    def chain(self, code: str) -> list[Jurisdiction]:
        """The unit and its ancestors, from the district down."""
        return [self.get(c) for c in chain(code)]

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
        grid, village, town, district = chain(code)[::-1]
        return Location(grid=grid, village=village, town=town, district=district)

    def lowest_containing(self, geometries: Sequence[shapely.Geometry] | NDArray) -> list[str]:
        """For each WGS-84 geometry, the code of the smallest unit that covers it whole.

        A camera gets its grid, a school zone its village (or grid), a road crossing towns
        the district. This is the code that jurisdiction scoping of layers works with.
        """
        geoms = np.asarray(geometries, dtype=object)
        result = np.full(len(geoms), self.district_code, dtype=object)
        for level in reversed(LEVELS[1:]):  # town, village, grid: finer levels overwrite
            units = self.units(level)
            tree = shapely.STRtree([u.geometry for u in units])
            geom_idx, unit_idx = tree.query(geoms, predicate="covered_by")
            for g, u in zip(geom_idx, unit_idx):
                if len(units[u].code) > len(result[g]):
                    result[g] = units[u].code
        return result.tolist()
