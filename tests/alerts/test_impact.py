"""Incident impact analysis over the generated demo district: circles, plumes, drawn polygons."""

import csv
import io
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely

from zhizhi.gis.impact import SUMMARY_COLUMNS, HazardArea, ImpactReport, analyze
from zhizhi.gis.metric import MetricFrame, geodesic_bearing_deg, geodesic_distance_m


@pytest.fixture(scope="module")
def layers(district):
    return district.layers()


@pytest.fixture(scope="module")
def centre(district):
    """A town centre: the middle of its residential core."""
    core = district.zones[district.zones.zone_type == "residential_core"].geometry.iloc[4]
    p = shapely.point_on_surface(core)
    return p.x, p.y


def check_consistent(report: ImpactReport, district) -> None:
    """Affected units nest: every grid's village and town are listed, shares are sorted."""
    village_codes = {v.code for v in report.villages}
    town_codes = {t.code for t in report.towns}
    parent = dict(zip(district.grids["code"], district.grids["village"]))
    town_of = dict(zip(district.grids["code"], district.grids["town"]))
    for g in report.grids:
        assert parent[g.code] in village_codes
        assert town_of[g.code] in town_codes
    assert {v.code[:9] for v in report.villages} <= town_codes
    for units in (report.towns, report.villages, report.grids):
        shares = [u.share for u in units]
        assert shares == sorted(shares, reverse=True)
        assert all(0 < s <= 1 for s in shares)
    pops = {g.code: g.population for g in report.grids}
    expected = sum(pops[g.code] * g.share for g in report.grids)
    assert report.population == round(expected)


def test_circle_over_a_town_centre(district, layers, centre):
    area = HazardArea.circle(*centre, 1500)
    report = analyze(area, layers)
    assert report.area_km2 == pytest.approx(math.pi * 1.5**2, rel=0.002)
    assert report.area_km2 == pytest.approx(area.km2, rel=1e-6)
    check_consistent(report, district)
    assert len(report.grids) >= 5 and len(report.towns) >= 1
    # Grids wholly inside count in full; the covered area of grids equals the circle's.
    frame = MetricFrame.for_geometry(area.shape)
    grid_area = dict(zip(district.grids["code"], frame.area_m2(district.grids.geometry.values)))
    covered = sum(grid_area[g.code] * g.share for g in report.grids) / 1e6
    assert covered == pytest.approx(report.area_km2, rel=1e-3)
    assert report.grids[0].share == pytest.approx(1.0)
    # Population: town-centre grids are dense, so well above the district's average density.
    assert report.population > report.area_km2 * 1000
    # Village populations are the sum of their grids (from the district's tables).
    vpop = dict(zip(district.villages["code"], district.villages["population"]))
    assert all(v.population == vpop[v.code] for v in report.villages)


def test_cameras_inside_have_distance_zero_and_near_ones_are_sorted(district, layers, centre):
    cam = district.cameras.iloc[7]
    area = HazardArea.circle(cam.geometry.x, cam.geometry.y, 400)
    report = analyze(area, layers, near_m=500)
    found = {c.id: c for c in report.cameras}
    assert cam["id"] in found
    hit = found[cam["id"]]
    assert hit.inside and hit.distance_m == 0.0
    assert hit.properties["heading_deg"] == cam["heading_deg"]
    assert {"hfov_deg", "range_m", "sees_area"} <= set(hit.properties)
    dists = [c.distance_m for c in report.cameras]
    assert dists == sorted(dists)
    # Every camera listed is inside or within near_m; every camera missing is farther.
    d_all = geodesic_distance_m(cam.geometry.x, cam.geometry.y, district.cameras.geometry.x,
                                district.cameras.geometry.y)
    expected = set(district.cameras["id"][d_all <= 400 + 500 - 1])
    assert expected <= set(found) <= set(district.cameras["id"][d_all <= 400 + 500 + 1])
    for c in report.cameras:
        d_centre = float(geodesic_distance_m(cam.geometry.x, cam.geometry.y, c.lon, c.lat))
        assert c.distance_m == pytest.approx(max(d_centre - 400, 0), abs=1.0)
        assert c.inside == (d_centre < 400)


def test_shelters_are_the_k_nearest_nearest_first(district, layers, centre):
    report = analyze(HazardArea.circle(*centre, 800), layers, shelters_k=4)
    assert len(report.shelters) == 4
    dists = [s.distance_m for s in report.shelters]
    assert dists == sorted(dists)
    d_all = np.maximum(
        geodesic_distance_m(*centre, district.shelters.geometry.x, district.shelters.geometry.y) - 800, 0
    )
    assert dists == pytest.approx(sorted(d_all)[:4], abs=1.5)
    assert all(s.properties["capacity"] >= 200 for s in report.shelters)
    assert analyze(HazardArea.circle(*centre, 800), layers, shelters_k=0).shelters == []


def test_plume_points_downwind(district, layers, centre):
    lon, lat = centre
    plume = HazardArea.plume(lon, lat, wind_from_deg=45.0, wind_speed_ms=4.0, isolation_m=150)
    assert plume.params["toward_deg"] == 225.0
    assert plume.params["downwind_m"] == 2400.0  # 4 m/s for 10 minutes
    shape = plume.shape
    tip = np.array(shape.exterior.coords)
    dist = geodesic_distance_m(lon, lat, tip[:, 0], tip[:, 1])
    far = tip[np.argmax(dist)]
    assert float(dist.max()) == pytest.approx(2400, rel=1e-3)
    bearing = float(geodesic_bearing_deg(lon, lat, far[0], far[1]))
    assert abs(bearing - 225.0) <= 30.0 + 1e-6
    # The centroid lies downwind, the upwind side only holds the isolation circle.
    c = shape.centroid
    assert abs(float(geodesic_bearing_deg(lon, lat, c.x, c.y)) - 225.0) < 1.0
    upwind = shapely.Point(*np.array(shapely.get_coordinates(
        HazardArea.circle(lon, lat, 200).shape))[0])  # 200 m north of the spill: upwind side
    assert not shape.contains(upwind)
    assert shape.contains(shapely.Point(lon, lat))
    report = analyze(plume, layers)
    check_consistent(report, district)
    assert report.area_km2 == pytest.approx(
        (math.pi * 2.4**2 * 60 / 360) + math.pi * 0.15**2 * 300 / 360, rel=0.01
    )


def test_plume_length_grows_with_wind_and_calm_is_a_circle():
    lengths = [HazardArea.plume(120.9, 32.0, 90, w).params["downwind_m"] for w in (0.5, 2, 5, 30)]
    assert lengths == [800.0, 1200.0, 3000.0, 10_000.0]
    assert HazardArea.plume(120.9, 32.0, 90, 5, downwind_m=700).params["downwind_m"] == 700
    calm = HazardArea.plume(120.9, 32.0, 90, 0.2)
    assert calm.params["spread_deg"] == 360.0
    assert calm.km2 == pytest.approx(math.pi * 0.8**2, rel=0.002)
    with pytest.raises(ValueError, match="wind_speed_ms"):
        HazardArea.plume(120.9, 32.0, 90, -1)
    with pytest.raises(ValueError, match="wind_from_deg"):
        HazardArea.plume(120.9, 32.0, float("nan"), 3)


def test_facilities_and_moving_objects_near_a_leak(district, layers):
    fac = district.facilities.iloc[0]
    lon, lat = fac.geometry.x, fac.geometry.y
    plume = HazardArea.plume(lon, lat, wind_from_deg=270, wind_speed_ms=3)
    east = lon + 0.01  # ~940 m downwind (east)
    moving = {
        "drones": [{"id": "UAV-1", "lon": east, "lat": lat, "attrs": {"battery": 0.7}},
                   {"id": "UAV-far", "lon": lon + 0.2, "lat": lat}],
        "vehicles": [{"id": "苏F-12345", "lon": lon - 0.003, "lat": lat, "kind": "hazmat"},
                     {"id": "lost", "lon": float("nan"), "lat": lat}],
    }
    report = analyze(plume, layers, moving=moving, near_m=500)
    assert report.facilities[0].id == fac["id"] and report.facilities[0].inside
    assert report.facilities[0].properties["un_numbers"] == fac["un_numbers"]
    assert [d.id for d in report.drones] == ["UAV-1"]
    assert report.drones[0].inside and report.drones[0].properties == {"battery": 0.7}
    # 280 m west: upwind, outside the 100 m isolation circle but within near_m.
    (veh,) = report.vehicles
    assert veh.id == "苏F-12345" and not veh.inside
    assert veh.distance_m == pytest.approx(280 - 100, abs=3)
    assert veh.properties == {"kind": "hazmat"}
    with pytest.raises(ValueError, match="drones' or 'vehicles"):
        analyze(plume, layers, moving={"boats": []})


@pytest.mark.parametrize(
    "geometry, message",
    [
        ({"type": "Polygon", "coordinates": [[[120, 32], [120.01, 32.01], [120.01, 32],
                                              [120, 32.01], [120, 32]]]}, "Self-intersection"),
        ({"type": "Point", "coordinates": [120, 32]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[400000, 3500000], [401000, 3500000],
                                              [401000, 3501000], [400000, 3500000]]]},
         "out of lon/lat range"),
        ({"type": "Polygon", "coordinates": [[[120, 32], [121, 32]]]}, "cannot be read"),
        ({"type": "Polygon", "coordinates": [[[100, 20], [120, 20], [120, 40], [100, 20]]]},
         "spans"),
        ({"type": "Polygon", "coordinates": []}, "empty"),
        ({"coordinates": []}, "GeoJSON geometry object"),
    ],
)
def test_bad_polygons_are_refused_with_a_clear_message(geometry, message):
    with pytest.raises(ValueError, match=message):
        HazardArea.polygon(geometry)


def test_drawn_polygon_and_geojson_are_accepted(district, layers):
    grid = district.grids.iloc[100]
    geojson = shapely.geometry.mapping(grid.geometry)
    report = analyze(geojson, layers)
    assert report.grids[0].code == grid["code"] and report.grids[0].share == pytest.approx(1.0)
    assert report.population >= grid["population"]
    assert HazardArea.polygon({"type": "Feature", "geometry": geojson}).kind == "polygon"
    with pytest.raises(ValueError, match="Self-intersection"):
        analyze(shapely.Polygon([(120, 32), (120.01, 32.01), (120.01, 32), (120, 32.01)]), layers)


def test_empty_and_missing_layers(district, centre):
    area = HazardArea.circle(*centre, 1000)
    report = analyze(area, {})
    assert report.grids == [] and report.population is None and report.cameras == []
    assert report.shelters == [] and report.drones == [] and report.vehicles == []
    empty = {name: table.iloc[0:0] for name, table in district.layers().items()}
    report = analyze(area, empty)
    assert report.towns == [] and report.facilities == [] and report.population is None
    no_pop = {"grids": district.grids.drop(columns="population")}
    report = analyze(area, no_pop)
    assert report.grids and report.population is None and report.grids[0].population is None
    # Far from everything: nothing affected, population 0 (there is a population column).
    far = analyze(HazardArea.circle(100.0, 30.0, 500), district.layers())
    assert far.grids == [] and far.population == 0 and len(far.shelters) == 5


def test_projected_layers_are_read_as_wgs84(district, centre):
    frame = MetricFrame.around(*centre)
    grids = gpd.GeoDataFrame(district.grids, crs=4326).to_crs(frame.crs)
    area = HazardArea.circle(*centre, 1000)
    a = analyze(area, {"grids": grids})
    b = analyze(area, {"grids": district.grids})
    assert [(g.code, round(g.share, 6)) for g in a.grids] == [(g.code, round(g.share, 6)) for g in b.grids]


def test_summary_rows_make_a_csv(layers, centre):
    report = analyze(HazardArea.circle(*centre, 1000), layers)
    rows = report.summary_rows()
    assert all(tuple(r) == SUMMARY_COLUMNS for r in rows)
    assert rows[0]["kind"] == "area" and rows[0]["population"] == report.population
    kinds = [r["kind"] for r in rows]
    assert kinds.count("grid") == len(report.grids) and kinds.count("shelter") == len(report.shelters)
    parsed = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(parsed) == len(rows) and parsed[1]["kind"] == "town"
    # JSON round trip of the whole report.
    assert ImpactReport.model_validate_json(report.model_dump_json()) == report


def test_a_given_frame_gives_the_same_answer(district, layers, centre):
    area = HazardArea.plume(*centre, wind_from_deg=120, wind_speed_ms=2.5)
    own = analyze(area, layers)
    shared = analyze(area, layers, frame=MetricFrame.for_geometry(district.boundary.geometry))
    assert [g.code for g in own.grids] == [g.code for g in shared.grids]
    assert abs(own.population - shared.population) <= 2
    assert [c.id for c in own.cameras] == [c.id for c in shared.cameras]
