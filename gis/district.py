"""The demo district generator: towns, villages, grids, roads, cameras, zones, shelters and
hazardous-chemical enterprises (facilities), with a population per grid, village and town.

Deterministic for a seed. It works bottom-up in metres: grids tile the district boundary
(relaxed Voronoi cells clipped to it), towns are contiguous groups of grids, villages are
contiguous groups of a town's grids, so every level nests exactly with no gaps or overlaps.
Everything generated is labelled ``synthetic``; only the boundary may be real.

>>> d = generate_district(DistrictSpec(seed=1, grids=64, towns=3, villages_per_town=2, cameras=8))
>>> len(d.grids), len(d.towns), d.grids.iloc[0]["code"][:6]
(64, 3, '320612')
>>> int(d.towns["population"].sum()) == int(d.grids["population"].sum())
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely
from pydantic import BaseModel, Field

from zhizhi.gis.boundary import Boundary, synthetic_boundary
from zhizhi.gis.codes import child_code
from zhizhi.gis.metric import MetricFrame
from zhizhi.gis.regions import adjacency, cluster, make_contiguous, relaxed_partition

WGS84 = "EPSG:4326"
LAYER_NAMES = (
    "towns", "villages", "grids", "roads", "cameras", "zones", "shelters", "facilities",
)

_STEMS_A = list("东南西北新兴安和平永长青金石桥湖河港庄塘丰乐福宁")
_STEMS_B = list("湖桥港庄塘林园溪山洲坝圩湾亭集口泾河浜墩")
_ROAD_SPEED = {"expressway": 80, "arterial": 60, "local": 40}
#: Grid population: from about 6,000 at a town centre down to 800, falling by e every 1.8 km.
_POP_MIN, _POP_MAX, _POP_DECAY_M = 800, 6000, 1800.0
#: Hazardous-chemical enterprises by kind: name suffix and (UN hazard class, UN numbers) choices.
_FACILITY_KINDS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "production": ("化工有限公司", [("8", "UN1789,UN1830"), ("3", "UN1230,UN1114"), ("2.3", "UN1005")]),
    "storage": ("石化仓储有限公司", [("3", "UN1203,UN1202,UN1230"), ("2.1", "UN1075"), ("2.3", "UN1017")]),
    "gas_station": ("加油加气站", [("3", "UN1203,UN1202"), ("2.1", "UN1203,UN1202,UN1971")]),
}
_FACILITY_WEIGHTS = {"production": 0.35, "storage": 0.3, "gas_station": 0.35}


#: Grid density of a real boundary: the published counts of three districts over their outlines
#: in ``shared/data/gis`` (Tongzhou 1,024 grids / 1,453 km², Haimen 969 / 1,136, Zhangjiagang
#: 1,036 / 1,008: 3,029 grids over 3,597 km², 1.19 km² a grid; Haimen's alone is 1.17).
KM2_PER_GRID = 1.2
#: About 100 km² a town or street (Tongzhou's 14 over 1,453 km², Zhangjiagang's 10 over 1,008).
KM2_PER_TOWN = 100.0
#: About 6 grids a village or community (the demo's 1,024 grids in 14 x 12 villages).
GRIDS_PER_VILLAGE = 6.0
#: The synthetic outline stands for Tongzhou and keeps its published counts.
SYNTHETIC_COUNTS = {"grids": 1024, "towns": 14, "villages_per_town": 12}


class DistrictSpec(BaseModel):
    """What to generate; counts left ``None`` follow from the boundary (:func:`resolve_spec`)."""

    seed: int = 20261121
    towns: int | None = Field(None, ge=1, le=99)
    villages_per_town: int | None = Field(None, ge=1, le=99)
    grids: int | None = Field(None, ge=1, le=50_000)
    cameras: int = Field(120, ge=0, le=5_000)
    schools_per_town: int = Field(2, ge=0, le=20)
    shelters_per_town: int = Field(2, ge=0, le=20)
    hazmat_parking_lots: int = Field(3, ge=0, le=50)
    facilities: int = Field(8, ge=0, le=200, description="hazardous-chemical enterprises")


@dataclass
class District:
    """A generated district; every table is a GeoDataFrame in WGS-84 with a ``code`` column."""

    boundary: Boundary
    towns: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame
    cameras: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    shelters: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    spec: DistrictSpec = field(default_factory=DistrictSpec)

    @property
    def code(self) -> str:
        return self.boundary.adcode

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The demo layers by name (:data:`LAYER_NAMES`)."""
        return {name: getattr(self, name) for name in LAYER_NAMES}


def scaled_counts(area_km2: float) -> dict[str, int]:
    """Grids, towns and villages per town for a real district of ``area_km2``.

    >>> scaled_counts(1136.0)  # Haimen: 969 comprehensive grids in reality
    {'grids': 947, 'towns': 11, 'villages_per_town': 14}
    """
    grids = int(np.clip(round(area_km2 / KM2_PER_GRID), 1, 50_000))
    towns = int(np.clip(round(area_km2 / KM2_PER_TOWN), 1, min(99, grids)))
    villages = int(np.clip(round(grids / towns / GRIDS_PER_VILLAGE), 1, 99))
    return {"grids": grids, "towns": towns, "villages_per_town": villages}


def resolve_spec(spec: DistrictSpec, boundary: Boundary) -> DistrictSpec:
    """``spec`` with its missing counts filled: the synthetic boundary's :data:`SYNTHETIC_COUNTS`,
    or, for a real one, counts scaled with its area (towns and villages from the grids given)."""
    given = {k: getattr(spec, k) for k in SYNTHETIC_COUNTS if getattr(spec, k) is not None}
    if len(given) == len(SYNTHETIC_COUNTS):
        return spec
    if boundary.synthetic:
        return spec.model_copy(update={**SYNTHETIC_COUNTS, **given})
    frame = MetricFrame.for_geometry(boundary.geometry)
    area_km2 = float(frame.area_m2(boundary.geometry)) / 1e6
    counts = scaled_counts(area_km2) | given
    if "towns" not in given:
        counts["towns"] = min(counts["towns"], counts["grids"])
    if "villages_per_town" not in given:
        per_town = counts["grids"] / counts["towns"] / GRIDS_PER_VILLAGE
        counts["villages_per_town"] = int(np.clip(round(per_town), 1, 99))
    return spec.model_copy(update=counts)


def _names(rng: np.random.Generator, n: int, suffix: str, taken: set[str]) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = f"{rng.choice(_STEMS_A)}{rng.choice(_STEMS_B)}{suffix}"
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def _frame(rows: dict, geometry, frame: MetricFrame) -> gpd.GeoDataFrame:
    """A WGS-84 GeoDataFrame from columns and metric geometries."""
    lonlat = frame.geometry_to_lonlat(np.asarray(geometry, dtype=object))
    return gpd.GeoDataFrame({**rows, "synthetic": True}, geometry=lonlat, crs=WGS84)


def generate_district(spec: DistrictSpec | None = None, boundary: Boundary | None = None) -> District:
    """Generate the demo district for ``spec`` inside ``boundary`` (synthetic by default); the
    district's ``spec`` is the resolved one, every count filled."""
    spec = spec or DistrictSpec()
    boundary = boundary or synthetic_boundary(spec.seed)
    spec = resolve_spec(spec, boundary)
    rng = np.random.default_rng(spec.seed)
    frame = MetricFrame.for_geometry(boundary.geometry)
    region = shapely.make_valid(frame.geometry_to_metric(boundary.geometry))

    cells = relaxed_partition(region, spec.grids, rng)
    neighbours = adjacency(cells)
    anchors = shapely.get_coordinates(shapely.point_on_surface(cells))
    town_of = make_contiguous(cluster(anchors, spec.towns, spec.seed), neighbours)
    village_of = np.zeros(len(cells), dtype=int)
    next_label = 0
    for town in range(town_of.max() + 1):
        members = np.flatnonzero(town_of == town)
        local = cluster(anchors[members], spec.villages_per_town, spec.seed + town)
        village_of[members] = local + next_label
        next_label += local.max() + 1
    village_of = make_contiguous(village_of, neighbours, allowed=town_of)

    towns, villages, grids, town_geoms, village_geoms = _hierarchy(
        boundary, cells, town_of, village_of, anchors, rng, frame
    )
    road_geoms, roads = _roads(region, town_geoms, village_geoms, rng, boundary.adcode, frame)
    cameras = _cameras(road_geoms, roads, spec.cameras, rng, frame)
    zones, shelters = _zones_and_shelters(
        spec, town_geoms, village_geoms, towns, villages, road_geoms, roads, rng, frame
    )
    # Later additions draw from their own streams: the layers above stay as they were.
    _add_population(towns, villages, grids, town_geoms, frame, np.random.default_rng([spec.seed, 1]))
    facilities = _facilities(
        spec, region, towns, town_geoms, zones, road_geoms, roads, frame,
        np.random.default_rng([spec.seed, 2]),
    )
    return District(
        boundary, towns, villages, grids, roads, cameras, zones, shelters, facilities, spec
    )


def _hierarchy(boundary, cells, town_of, village_of, anchors, rng, frame):
    """Codes, names and unioned geometries of towns, villages and grids (ordered by code)."""
    # Order towns and villages north-west to south-east so codes read like a map.
    def order(labels: np.ndarray, points: np.ndarray) -> np.ndarray:
        keys = np.array([points[labels == k].mean(axis=0) for k in range(labels.max() + 1)])
        rank = np.lexsort((keys[:, 0], -np.round(keys[:, 1], -3)))
        remap = np.empty_like(rank)
        remap[rank] = np.arange(len(rank))
        return remap[labels]

    town_of = order(town_of, anchors)
    taken: set[str] = set()
    n_towns = town_of.max() + 1
    town_names = [
        name[:-1] + ("街道" if i < max(1, n_towns // 5) else "镇")
        for i, name in enumerate(_names(rng, n_towns, "镇", taken))
    ]
    town_rows, village_rows, grid_rows = [], [], []
    town_geoms, village_geoms, grid_geoms = [], [], []
    for t in range(n_towns):
        town_code = child_code(boundary.adcode, t + 1)
        in_town = town_of == t
        town_geoms.append(shapely.union_all(cells[in_town]))
        town_rows.append((town_code, town_names[t], boundary.adcode))
        labels = village_of[in_town]
        local = order(np.unique(labels, return_inverse=True)[1], anchors[in_town])
        v_names = _names(rng, local.max() + 1, "村", taken)
        town_cells = np.flatnonzero(in_town)
        for v in range(local.max() + 1):
            village_code = child_code(town_code, v + 1)
            name = v_names[v] if v % 4 else v_names[v][:-1] + "社区"
            members = town_cells[local == v]
            village_geoms.append(shapely.union_all(cells[members]))
            village_rows.append((village_code, name, town_code))
            # Grids of a village, ordered north-west to south-east.
            members = members[np.lexsort((anchors[members, 0], -anchors[members, 1]))]
            for g, cell in enumerate(members):
                grid_rows.append(
                    (child_code(village_code, g + 1), f"{name}第{g + 1}网格", village_code, town_code)
                )
                grid_geoms.append(cells[cell])

    def table(rows, geoms, columns):
        data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
        return _frame(data, geoms, frame)

    towns = table(town_rows, town_geoms, ("code", "name", "parent"))
    villages = table(village_rows, village_geoms, ("code", "name", "parent"))
    grids = table(grid_rows, grid_geoms, ("code", "name", "parent", "town"))
    grids["village"] = grids["parent"]
    grids["district"] = boundary.adcode
    grids = grids[["code", "name", "parent", "village", "town", "district", "synthetic", "geometry"]]
    for t in (towns, villages):
        t["area_km2"] = np.round(shapely.area(np.asarray(frame.geometry_to_metric(t.geometry.values))) / 1e6, 3)
    return towns, villages, grids, np.asarray(town_geoms), np.asarray(village_geoms)


def _roads(region, town_geoms, village_geoms, rng, adcode, frame):
    """Expressways across the district, arterials between towns, local roads to villages."""
    centre = shapely.centroid(region)
    minx, miny, maxx, maxy = region.bounds
    span = 2 * max(maxx - minx, maxy - miny)
    lines, classes = [], []
    for angle in rng.uniform(0, np.pi, size=2):
        dx, dy = span * np.cos(angle), span * np.sin(angle)
        lines.append(shapely.LineString([(centre.x - dx, centre.y - dy), (centre.x + dx, centre.y + dy)]))
        classes.append("expressway")
    town_points = shapely.point_on_surface(town_geoms)
    if len(town_points) >= 3:
        edges = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(town_points), only_edges=True))
        lines.extend(edges)
        classes.extend(["arterial"] * len(edges))
    elif len(town_points) == 2:
        lines.append(shapely.LineString(town_points))
        classes.append("arterial")
    village_points = shapely.point_on_surface(village_geoms)
    owner = shapely.STRtree(town_geoms).query(village_points, predicate="intersects")
    for v, t in zip(*owner):
        if not village_points[v].equals(town_points[t]):
            lines.append(shapely.LineString([village_points[v], town_points[t]]))
            classes.append("local")
    clipped = shapely.intersection(np.asarray(lines, dtype=object), region)
    geoms, road_class = [], []
    for geom, cls in zip(clipped, classes):
        for part in shapely.get_parts(shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom):
            if part.geom_type == "LineString" and part.length > 200:
                geoms.append(part)
                road_class.append(cls)
    geoms_arr = np.asarray(geoms, dtype=object)
    count = {"expressway": 0, "arterial": 0, "local": 0}
    names, ids = [], []
    for i, cls in enumerate(road_class):
        count[cls] += 1
        label = {"expressway": "高速", "arterial": "干线公路", "local": "乡道"}[cls]
        names.append(f"{label}{'GSX'[list(count).index(cls)]}{count[cls]:02d}")
        ids.append(f"R{i + 1:04d}")
    roads = _frame(
        {
            "id": ids,
            "name": names,
            "road_class": road_class,
            "speed_limit_kmh": [_ROAD_SPEED[c] for c in road_class],
            "length_m": np.round(shapely.length(geoms_arr), 1),
        },
        geoms_arr,
        frame,
    )
    return geoms_arr, roads


def _cameras(road_geoms, roads, n, rng, frame, min_spacing_m: float = 300.0):
    """About ``n`` cameras along the roads, looking along them; busier roads get more."""
    weights = roads["road_class"].map({"expressway": 3.0, "arterial": 2.0, "local": 1.0}).to_numpy()
    weights = weights * shapely.length(road_geoms)
    placed: list[tuple[float, float]] = []
    rows = []
    attempts = 0
    while len(rows) < n and attempts < 50 * max(n, 1):
        attempts += 1
        r = int(rng.choice(len(road_geoms), p=weights / weights.sum()))
        line = road_geoms[r]
        d = rng.uniform(20.0, max(line.length - 20.0, 21.0))
        p = shapely.line_interpolate_point(line, d)
        if placed and np.min(np.hypot(*(np.asarray(placed) - (p.x, p.y)).T)) < min_spacing_m:
            continue
        a = shapely.line_interpolate_point(line, max(d - 5.0, 0.0))
        b = shapely.line_interpolate_point(line, min(d + 5.0, line.length))
        along = np.degrees(np.arctan2(b.x - a.x, b.y - a.y)) % 360.0
        heading = (along + (180.0 if rng.random() < 0.5 else 0.0)) % 360.0
        side = np.radians(along + (90.0 if rng.random() < 0.5 else -90.0))
        x, y = p.x + 10.0 * np.sin(side), p.y + 10.0 * np.cos(side)
        placed.append((p.x, p.y))
        rows.append((x, y, round(float(heading), 1), r))
    ids = [f"CAM-{i + 1:04d}" for i in range(len(rows))]
    points = shapely.points([(x, y) for x, y, _, _ in rows]) if rows else np.asarray([], dtype=object)
    road_idx = [r for *_, r in rows]
    return _frame(
        {
            "id": ids,
            "name": [f"{roads['name'].iloc[r]} {i + 1}号枪机" for i, r in enumerate(road_idx)],
            "kind": "fixed",
            "heading_deg": [h for _, _, h, _ in rows],
            "hfov_deg": rng.choice([55.0, 70.0, 90.0], size=len(rows)),
            "range_m": rng.choice([150.0, 200.0, 250.0, 300.0], size=len(rows)),
            "road_id": [roads["id"].iloc[r] for r in road_idx],
        },
        points,
        frame,
    )


def _zones_and_shelters(spec, town_geoms, village_geoms, towns, villages, road_geoms, roads, rng, frame):
    """Sensitive areas, hazmat no-stopping zones, designated hazmat parking, shelters."""
    zone_rows: list[dict] = []
    zone_geoms: list[shapely.Geometry] = []

    def add(zone_type: str, name: str, geom: shapely.Geometry, **extra) -> None:
        zone_rows.append({"id": f"Z{len(zone_rows) + 1:04d}", "zone_type": zone_type, "name": name, **extra})
        zone_geoms.append(geom)

    town_centres = shapely.point_on_surface(town_geoms)
    sensitive: list[shapely.Geometry] = []
    for t, (centre, town) in enumerate(zip(town_centres, town_geoms)):
        core = shapely.intersection(shapely.buffer(centre, 1000.0), town)
        name = towns["name"].iloc[t]
        add("residential_core", f"{name}居住核心区", core, sensitivity="high")
        add("hazmat_no_stopping", f"{name}核心区危化品禁停区", shapely.intersection(shapely.buffer(core, 300.0), town))
        sensitive.append(core)
    village_town = shapely.STRtree(town_geoms).query(shapely.point_on_surface(village_geoms), predicate="intersects")
    by_town: dict[int, list[int]] = {}
    for v, t in zip(*village_town):
        by_town.setdefault(int(t), []).append(int(v))
    for t, members in sorted(by_town.items()):
        chosen = rng.choice(members, size=min(spec.schools_per_town, len(members)), replace=False)
        for v in chosen:
            centre = shapely.point_on_surface(village_geoms[v])
            school = shapely.intersection(shapely.buffer(centre, 90.0, cap_style="square"), village_geoms[v])
            name = f"{villages['name'].iloc[v]}小学"
            add("school", name, school, sensitivity="high")
            add("hazmat_no_stopping", f"{name}周边危化品禁停区", shapely.buffer(school, 300.0))
            sensitive.append(school)
    # Designated hazmat parking beside major roads, at least 2 km from anything sensitive.
    avoid = shapely.buffer(shapely.union_all(sensitive), 2000.0) if sensitive else shapely.Polygon()
    region = shapely.union_all(town_geoms)
    major = np.flatnonzero(roads["road_class"].isin(["expressway", "arterial"]).to_numpy())
    lots = 0
    for _ in range(200):
        if lots >= spec.hazmat_parking_lots or len(major) == 0:
            break
        line = road_geoms[int(rng.choice(major))]
        p = shapely.line_interpolate_point(line, rng.uniform(0, line.length))
        lot = shapely.buffer(shapely.buffer(p, 60.0, cap_style="square"), 10.0)
        if shapely.intersects(lot, avoid) or not shapely.within(lot, region):
            continue
        lots += 1
        add("hazmat_parking", f"危化品车辆专用停车场{lots}号", lot, capacity=int(rng.integers(10, 40)))
    zones = _frame(
        {k: [row.get(k) for row in zone_rows] for k in ("id", "zone_type", "name", "sensitivity", "capacity")},
        zone_geoms,
        frame,
    )
    shelter_rows, shelter_points = [], []
    for t, members in sorted(by_town.items()):
        chosen = rng.choice(members, size=min(spec.shelters_per_town, len(members)), replace=False)
        for v in chosen:
            shelter_points.append(shapely.point_on_surface(village_geoms[v]))
            shelter_rows.append(
                {
                    "id": f"S{len(shelter_rows) + 1:04d}",
                    "name": f"{villages['name'].iloc[v]}应急避难场所",
                    "capacity": int(rng.integers(2, 21)) * 100,
                }
            )
    shelters = _frame(
        {k: [row[k] for row in shelter_rows] for k in ("id", "name", "capacity")}, shelter_points, frame
    )
    return zones, shelters


def _add_population(towns, villages, grids, town_geoms, frame, rng) -> None:
    """A deterministic population per grid (denser near its town's centre), summed upwards."""
    anchors = shapely.point_on_surface(grids.geometry.values)
    x, y = frame.to_metric(shapely.get_x(anchors), shapely.get_y(anchors))
    centres = shapely.point_on_surface(town_geoms)  # the towns' residential cores' centres
    town_index = {code: i for i, code in enumerate(towns["code"])}
    centre = shapely.get_coordinates(centres)[[town_index[t] for t in grids["town"]]]
    dist = np.hypot(np.asarray(x) - centre[:, 0], np.asarray(y) - centre[:, 1])
    base = _POP_MIN + (_POP_MAX - _POP_MIN) * np.exp(-dist / _POP_DECAY_M)
    pop = np.clip(base * rng.uniform(0.85, 1.15, size=len(grids)), _POP_MIN, _POP_MAX)
    grids.insert(grids.columns.get_loc("synthetic"), "population", (np.round(pop, -1)).astype(int))
    by_village = grids.groupby("village")["population"].sum()
    villages["population"] = villages["code"].map(by_village).fillna(0).astype(int)
    by_town = villages.groupby("parent")["population"].sum()
    towns["population"] = towns["code"].map(by_town).fillna(0).astype(int)


def _facilities(spec, region, towns, town_geoms, zones, road_geoms, roads, frame, rng):
    """Hazardous-chemical enterprises (危化品企业) beside the roads, away from schools.

    Each is at least 1 km from any school and 500 m from any town's residential core, 800 m
    from the others; as many as fit in a few hundred tries (a small district may get fewer).
    """
    sensitive = zones[zones["zone_type"].isin(["school", "residential_core"])]
    schools_m = frame.geometry_to_metric(
        shapely.union_all(sensitive[sensitive["zone_type"] == "school"].geometry.values)
    )
    cores_m = frame.geometry_to_metric(
        shapely.union_all(sensitive[sensitive["zone_type"] == "residential_core"].geometry.values)
    )
    avoid = shapely.union(shapely.buffer(schools_m, 1000.0), shapely.buffer(cores_m, 500.0))
    kinds = list(_FACILITY_WEIGHTS)
    weights = np.array([_FACILITY_WEIGHTS[k] for k in kinds])
    town_tree = shapely.STRtree(town_geoms)
    rows, points = [], []
    taken: set[str] = set()
    for _ in range(300 * max(spec.facilities, 1)):
        if len(rows) >= spec.facilities or len(road_geoms) == 0:
            break
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        line = road_geoms[int(rng.integers(len(road_geoms)))]
        d = rng.uniform(0.0, line.length)
        p = shapely.line_interpolate_point(line, d)
        a = shapely.line_interpolate_point(line, max(d - 5.0, 0.0))
        b = shapely.line_interpolate_point(line, min(d + 5.0, line.length))
        side = np.arctan2(b.x - a.x, b.y - a.y) + (np.pi / 2 if rng.random() < 0.5 else -np.pi / 2)
        offset = 30.0 if kind == "gas_station" else rng.uniform(120.0, 400.0)
        site = shapely.Point(p.x + offset * np.sin(side), p.y + offset * np.cos(side))
        if not region.contains(site) or avoid.contains(site):
            continue
        if points and min(site.distance(q) for q in points) < 800.0:
            continue
        hits = town_tree.query(site, predicate="intersects")
        town = towns["name"].iloc[int(hits[0])][:2] if len(hits) else "城东"
        suffix, classes = _FACILITY_KINDS[kind]
        stem = f"{town}{rng.choice(_STEMS_A)}{rng.choice(_STEMS_B)}"
        name = f"{stem}{suffix}"
        if name in taken:
            continue
        taken.add(name)
        hazard_class, un_numbers = classes[int(rng.integers(len(classes)))]
        points.append(site)
        rows.append(
            {
                "id": f"F{len(rows) + 1:04d}",
                "name": name,
                "kind": kind,
                "hazard_class": hazard_class,
                "un_numbers": un_numbers,
                "max_storage_t": int(rng.integers(2, 20)) * (5 if kind == "gas_station" else 50),
            }
        )
    columns = ("id", "name", "kind", "hazard_class", "un_numbers", "max_storage_t")
    table = _frame({k: [r[k] for r in rows] for k in columns}, np.asarray(points, dtype=object), frame)
    return table


#: Water of the demo basemap: river widths (m) per km of the district's span, the lake's radius.
_RIVER_WIDTH_PER_KM, _CANAL_WIDTH_PER_KM, _LAKE_RADIUS_PER_KM = 3.0, 1.4, 42.0


def generate_water(boundary: shapely.Geometry, seed: int, avoid=None) -> gpd.GeoDataFrame:
    """A river, a canal branching off it and a lake inside ``boundary`` (WGS-84), deterministic
    for ``seed`` and scaled with the district: drawn into the demo's rendered basemap, not a
    stored layer (the demo's other layers do not depend on it). ``avoid`` (WGS-84 geometries,
    such as the roads and the towns' centres) keeps the lake away from them.

    >>> from zhizhi.gis.boundary import synthetic_boundary
    >>> water = generate_water(synthetic_boundary(1).geometry, 1)
    >>> water["kind"].tolist(), bool(water.geometry.is_valid.all())
    (['river', 'canal', 'lake'], True)
    """
    rng = np.random.default_rng([seed, 3])  # its own stream: the generated layers stay as they were
    frame = MetricFrame.for_geometry(boundary)
    region = shapely.make_valid(frame.geometry_to_metric(boundary))
    minx, miny, maxx, maxy = region.bounds
    span = max(maxx - minx, maxy - miny)
    centre = shapely.centroid(region)
    t = np.linspace(-1.0, 1.0, 400)

    def meander(origin, angle: float, amplitude: float, length: float) -> shapely.LineString:
        """A line through ``origin`` at ``angle``, bent by a few smooth waves."""
        along = np.array([np.cos(angle), np.sin(angle)])
        across = np.array([-along[1], along[0]])
        offset = np.zeros_like(t)
        for k in (1.5, 2.5, 4.0, 7.0):
            offset += amplitude / np.sqrt(k) * np.sin(np.pi * k * t + rng.uniform(0, 2 * np.pi))
        points = np.asarray(origin) + np.outer(t * length, along) + np.outer(offset, across)
        return shapely.LineString(points)

    def inside(geom: shapely.Geometry) -> shapely.Geometry:
        return shapely.make_valid(shapely.intersection(geom, region))

    angle = rng.uniform(0, np.pi)
    shift = rng.uniform(-0.15, 0.15) * span
    origin = (centre.x - shift * np.sin(angle), centre.y + shift * np.cos(angle))
    river_line = meander(origin, angle, 0.06 * span, span)
    river = inside(shapely.buffer(river_line, _RIVER_WIDTH_PER_KM * span / 1000 / 2, quad_segs=4))
    # The canal leaves the river a third of the way along, at 50-80 degrees to it, and runs straight-ish.
    start = shapely.line_interpolate_point(river_line, rng.uniform(0.35, 0.65), normalized=True)
    turn = angle + np.radians(rng.uniform(50, 80)) * (1 if rng.random() < 0.5 else -1)
    canal_line = meander((start.x + 0.5 * span * np.cos(turn), start.y + 0.5 * span * np.sin(turn)),
                         turn, 0.015 * span, 0.5 * span)
    canal = inside(shapely.buffer(canal_line, _CANAL_WIDTH_PER_KM * span / 1000 / 2, quad_segs=4))
    # The lake: an irregular round shape where it is farthest from the points to avoid and the river.
    radius = _LAKE_RADIUS_PER_KM * span / 1000
    core = shapely.buffer(region, -2.5 * radius)
    if core.is_empty:
        core = shapely.buffer(region, -radius)
    candidates = shapely.points(rng.uniform((minx, miny), (maxx, maxy), size=(400, 2)))
    candidates = candidates[shapely.contains(core, candidates)] if not core.is_empty else candidates[:0]
    away = [shapely.union(river_line, canal_line)]
    if avoid is not None and len(avoid):
        away.append(shapely.union_all(frame.geometry_to_metric(np.asarray(avoid, dtype=object))))
    geoms, kinds = [river, canal], ["river", "canal"]
    if len(candidates):
        score = np.min([shapely.distance(candidates, a) for a in away], axis=0)
        at = candidates[int(np.argmax(score))]
        theta = np.linspace(0, 2 * np.pi, 121)[:-1]
        r = np.ones_like(theta)
        for k in (2, 3, 5):
            r += rng.uniform(0.05, 0.18) / k * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        ring = np.column_stack([at.x + radius * r * np.cos(theta), at.y + 0.75 * radius * r * np.sin(theta)])
        geoms.append(inside(shapely.Polygon(ring)))
        kinds.append("lake")
    suffix = {"river": "河", "canal": "运河", "lake": "湖"}
    names = _names(rng, len(kinds), "", set())
    keep = [i for i, g in enumerate(geoms) if not g.is_empty]
    return _frame(
        {"kind": [kinds[i] for i in keep], "name": [names[i] + suffix[kinds[i]] for i in keep]},
        [geoms[i] for i in keep], frame,
    )
