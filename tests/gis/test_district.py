"""The demo district generator: tiling, nesting, codes, determinism, the real Tongzhou boundary."""

import numpy as np
import pytest
import shapely

from zhizhi.gis.codes import chain, level_of
from zhizhi.gis.district import DistrictSpec, generate_district
from zhizhi.gis.metric import MetricFrame


def _tiling_figures(district):
    frame = MetricFrame.for_geometry(district.boundary.geometry)
    grids_m = frame.geometry_to_metric(district.grids.geometry.values)
    district_m = frame.geometry_to_metric(district.boundary.geometry)
    union = shapely.union_all(grids_m)
    overlap = float(shapely.area(grids_m).sum() - union.area)
    return district_m.area, union.area, overlap, shapely.area(shapely.symmetric_difference(union, district_m))


@pytest.mark.parametrize("which", ["synthetic", "tongzhou"])
def test_grids_tile_the_district(which, district, tongzhou):
    d = district if which == "synthetic" else tongzhou
    assert len(d.grids) == 1024 and len(d.towns) == 14
    district_area, union_area, overlap_m2, gap_m2 = _tiling_figures(d)
    assert abs(union_area - district_area) / district_area < 0.001
    assert overlap_m2 < 1.0
    assert gap_m2 / district_area < 0.001
    assert d.grids.geometry.is_valid.all()


def test_tongzhou_is_real_and_about_the_right_size(tongzhou):
    b = tongzhou.boundary
    assert b.adcode == "320612" and b.name == "通州区" and not b.synthetic
    area_km2 = MetricFrame.for_geometry(b.geometry).area_m2(b.geometry) / 1e6
    assert 1100 < area_km2 < 1600  # Tongzhou district is about 1,350 km²
    # Converted from GCJ-02: the outline moved a few hundred metres from the raw file's.
    import pyogrio

    from tests.conftest import NANTONG
    from zhizhi.gis.metric import geodesic_distance_m

    raw = pyogrio.read_dataframe(NANTONG)
    raw = shapely.union_all(raw[raw["adcode"].astype(str) == "320612"].geometry.values)
    moved = geodesic_distance_m(raw.centroid.x, raw.centroid.y, b.geometry.centroid.x, b.geometry.centroid.y)
    assert 100 < float(moved) < 1000


@pytest.mark.parametrize("which", ["synthetic", "tongzhou"])
def test_every_grid_knows_its_whole_chain(which, district, tongzhou):
    d = district if which == "synthetic" else tongzhou
    towns, villages = set(d.towns["code"]), set(d.villages["code"])
    assert len(set(d.grids["code"])) == len(d.grids)
    for row in d.grids.itertuples():
        assert level_of(row.code).value == "grid"
        assert chain(row.code) == [row.district, row.town, row.village, row.code]
        assert row.village in villages and row.town in towns and row.district == d.code
    assert set(villages) == {c[:12] for c in d.grids["code"]}
    assert all(p in towns for p in d.villages["parent"])


def test_levels_nest_exactly(district):
    frame = MetricFrame.for_geometry(district.boundary.geometry)
    for parent_table, child_table in ((district.towns, district.villages), (district.villages, district.grids)):
        parents = dict(zip(parent_table["code"], frame.geometry_to_metric(parent_table.geometry.values)))
        children = frame.geometry_to_metric(child_table.geometry.values)
        for code, geom in zip(child_table["code"], children):
            parent = parents[code[:-3]]
            assert shapely.area(shapely.difference(geom, parent)) < 1.0  # m², float noise only


def test_towns_are_contiguous(district, tongzhou):
    for d in (district, tongzhou):
        frame = MetricFrame.for_geometry(d.boundary.geometry)
        parts = shapely.get_num_geometries(frame.geometry_to_metric(d.towns.geometry.values))
        assert (parts == 1).all(), d.towns["name"][parts > 1].tolist()


def test_deterministic_for_a_seed():
    spec = DistrictSpec(seed=3, grids=80, towns=4, villages_per_town=3, cameras=10)
    a, b = generate_district(spec), generate_district(spec)
    for name, table in a.layers().items():
        other = b.layers()[name]
        assert table.drop(columns="geometry").equals(other.drop(columns="geometry")), name
        assert shapely.equals_exact(table.geometry.values, other.geometry.values, tolerance=0).all(), name
    c = generate_district(spec.model_copy(update={"seed": 4}))
    assert not shapely.equals_exact(a.grids.geometry.values, c.grids.geometry.values, tolerance=0).all()


def test_demo_content_is_complete_and_labelled_synthetic(district):
    layers = district.layers()
    assert set(layers) == {
        "towns", "villages", "grids", "roads", "cameras", "zones", "shelters", "facilities"
    }
    for name, table in layers.items():
        assert table["synthetic"].all(), name
        assert table.crs.to_epsg() == 4326
    assert 100 <= len(district.cameras) <= 140
    assert set(district.roads["road_class"]) == {"expressway", "arterial", "local"}
    zone_types = set(district.zones["zone_type"])
    assert {"school", "residential_core", "hazmat_no_stopping", "hazmat_parking"} <= zone_types
    assert len(district.shelters) > 0
    cams = district.cameras
    assert cams["hfov_deg"].between(1, 360).all() and (cams["range_m"] > 0).all()
    assert cams["heading_deg"].between(0, 360).all()


def test_cameras_look_along_their_roads(district):
    """A camera placed beside a road sees a stretch of it."""
    from zhizhi.gis.cameras import fov_sector

    roads = dict(zip(district.roads["id"], district.roads.geometry.values))
    seeing = 0
    for cam in district.cameras.itertuples():
        sector = fov_sector(cam.geometry.x, cam.geometry.y, cam.heading_deg, cam.hfov_deg, cam.range_m)
        seeing += bool(shapely.intersects(sector, roads[cam.road_id]))
    assert seeing == len(district.cameras)


def test_hazmat_parking_is_away_from_sensitive_areas(district):
    zones = district.zones
    frame = MetricFrame.for_geometry(district.boundary.geometry)
    sensitive = frame.geometry_to_metric(
        shapely.union_all(zones[zones.zone_type.isin(["school", "residential_core"])].geometry.values)
    )
    lots = frame.geometry_to_metric(zones[zones.zone_type == "hazmat_parking"].geometry.values)
    assert len(lots) > 0
    assert np.all(shapely.distance(lots, sensitive) >= 2000.0 - 1.0)


def test_population_is_plausible_denser_near_town_centres_and_sums_up(district):
    grids, villages, towns = district.grids, district.villages, district.towns
    assert grids["population"].between(800, 6000).all()
    assert grids["population"].dtype.kind == "i"
    by_village = grids.groupby("village")["population"].sum()
    assert (villages.set_index("code")["population"] == by_village.reindex(villages["code"])).all()
    by_town = villages.groupby("parent")["population"].sum()
    assert (towns.set_index("code")["population"] == by_town.reindex(towns["code"])).all()
    # Grids in a town's residential core are more populous than the district's typical grid.
    cores = district.zones[district.zones.zone_type == "residential_core"].geometry.values
    anchors = shapely.point_on_surface(np.asarray(grids.geometry.values))
    in_core = np.zeros(len(grids), dtype=bool)
    in_core[shapely.STRtree(anchors).query(np.asarray(cores), predicate="contains")[1]] = True
    assert grids["population"][in_core].median() > 1.5 * grids["population"][~in_core].median()


def test_facilities_are_hazmat_enterprises_inside_and_away_from_schools(district):
    fac = district.facilities
    assert 6 <= len(fac) <= 10
    assert fac["id"].is_unique and fac["name"].is_unique
    assert set(fac["kind"]) <= {"storage", "production", "gas_station"}
    assert fac["name"].str.endswith(("有限公司", "加油加气站")).all()
    assert fac["un_numbers"].str.match(r"^UN\d{4}(,UN\d{4})*$").all()
    assert fac["hazard_class"].isin(["2.1", "2.3", "3", "6.1", "8"]).all()
    frame = MetricFrame.for_geometry(district.boundary.geometry)
    sites = frame.geometry_to_metric(fac.geometry.values)
    region = frame.geometry_to_metric(shapely.union_all(district.towns.geometry.values))
    assert shapely.within(sites, region).all()
    schools = district.zones[district.zones.zone_type == "school"].geometry.values
    assert np.all(shapely.distance(sites, frame.geometry_to_metric(shapely.union_all(schools))) >= 999.0)


def test_additions_leave_the_older_layers_alone():
    """Population and facilities come from their own random streams: a fewer facilities
    changes nothing else."""
    spec = DistrictSpec(seed=5, grids=60, towns=3, villages_per_town=2, cameras=6)
    a = generate_district(spec)
    b = generate_district(spec.model_copy(update={"facilities": 0}))
    assert len(b.facilities) == 0
    for name in ("towns", "grids", "cameras", "zones", "shelters"):
        assert a.layers()[name].drop(columns="geometry").equals(b.layers()[name].drop(columns="geometry"))


def _real_boundaries():
    import pyogrio

    from tests.conftest import SHARED
    from zhizhi.gis.boundary import load_boundary

    for path in sorted((SHARED / "data" / "gis").glob("*.geojson")):
        for adcode in pyogrio.read_dataframe(path, columns=["adcode"])["adcode"].astype(str):
            if len(adcode) == 6:
                yield load_boundary(path, adcode)


def test_counts_scale_with_the_area_of_real_boundaries():
    from zhizhi.gis.district import KM2_PER_GRID, resolve_spec

    rows = []
    for b in _real_boundaries():
        spec = resolve_spec(DistrictSpec(), b)
        area_km2 = float(MetricFrame.for_geometry(b.geometry).area_m2(b.geometry)) / 1e6
        assert abs(spec.grids - area_km2 / KM2_PER_GRID) <= 0.5, b.name  # about 1.2 km² a grid
        assert 1 <= spec.towns <= 99 and 1 <= spec.villages_per_town <= 99
        assert 4 <= spec.grids / (spec.towns * spec.villages_per_town) <= 9 or spec.villages_per_town in (1, 99)
        rows.append((area_km2, spec.grids, spec.towns, b.adcode))
    assert len(rows) >= 20
    rows.sort()
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)  # a larger district, more grids
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)  # and no fewer towns
    by_code = {code: (grids, towns) for _, grids, towns, code in rows}
    assert abs(by_code["320684"][0] - 969) / 969 < 0.05  # Haimen: 969 comprehensive grids
    assert by_code["430923"][0] > 4 * by_code["320684"][0]  # Anhua, 4,950 km²


def test_given_counts_win_and_the_synthetic_district_keeps_its_own():
    from tests.conftest import NANTONG
    from zhizhi.gis.boundary import load_boundary, synthetic_boundary
    from zhizhi.gis.district import SYNTHETIC_COUNTS, resolve_spec

    synthetic = resolve_spec(DistrictSpec(), synthetic_boundary(7))
    assert {k: getattr(synthetic, k) for k in SYNTHETIC_COUNTS} == {"grids": 1024, "towns": 14, "villages_per_town": 12}
    assert resolve_spec(DistrictSpec(grids=64), synthetic_boundary(7)).towns == 14  # as before: only grids given
    haimen = load_boundary(NANTONG, "320684")
    spec = resolve_spec(DistrictSpec(grids=64), haimen)
    assert spec.grids == 64 and spec.towns == 11 and spec.villages_per_town == 1  # about 6 grids a village
    spec = resolve_spec(DistrictSpec(grids=5, towns=3, villages_per_town=40), haimen)
    assert (spec.grids, spec.towns, spec.villages_per_town) == (5, 3, 40)
    assert resolve_spec(DistrictSpec(grids=3), haimen).towns == 3  # never more towns than grids


def test_a_small_real_district_gets_fewer_grids():
    from tests.conftest import SHARED
    from zhizhi.gis.boundary import load_boundary

    gusu = load_boundary(SHARED / "data" / "gis" / "suzhou_320500.geojson", "320508")  # 82 km²
    d = generate_district(DistrictSpec(cameras=0), gusu)
    assert len(d.grids) == d.spec.grids == 68 and len(d.towns) == d.spec.towns == 1
    assert len(d.villages) == d.spec.villages_per_town == 11
