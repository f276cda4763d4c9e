"""Camera fields of view: the analytic "who sees this point" test, the drawn sector, their agreement."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import shapely
from pydantic import ValidationError

import zhizhi.gis.cameras
from zhizhi.gis.cameras import Camera, CameraIndex, fov_sector, fov_sectors, sector_polygons
from zhizhi.gis.metric import MetricFrame, geodesic_bearing_deg, geodesic_distance_m

LON, LAT = 120.8640, 32.0110  # Nantong city centre


def cam(heading=90.0, hfov=60.0, range_m=200.0, lon=LON, lat=LAT, id="C1", **extra) -> Camera:
    return Camera(
        id=id,
        name=f"cam {id}",
        lon=lon,
        lat=lat,
        heading_deg=heading,
        hfov_deg=hfov,
        range_m=range_m,
        **extra,
    )


def at(
    bearing_deg: float, dist_m: float, lon: float = LON, lat: float = LAT
) -> tuple[float, float]:
    """The point ``dist_m`` metres from (lon, lat) on ``bearing_deg``, via a frame centred there."""
    frame = MetricFrame.around(lon, lat)
    b = math.radians(bearing_deg)
    x, y = frame.to_lonlat(dist_m * math.sin(b), dist_m * math.cos(b))
    return float(x), float(y)


def ids(hits) -> list[str]:
    return [h.id for h in hits]


def test_doctests():
    assert doctest.testmod(zhizhi.gis.cameras).failed == 0


@pytest.mark.parametrize(
    "bearing, dist, seen",
    [
        (90, 100, True),  # 100 m east, on the axis
        (0, 100, False),  # 100 m north, beside the camera
        (90, 250, False),  # beyond range
        (90, 199, True),
        (90 + 29, 150, True),  # inside the half-angle of 30
        (90 + 31, 150, False),
        (90 - 29, 150, True),
        (90 - 31, 150, False),
        (270, 50, False),  # behind
    ],
)
def test_covering_east_looking_camera(bearing, dist, seen):
    index = CameraIndex([cam()])
    hits = index.covering(*at(bearing, dist))
    assert ids(hits) == (["C1"] if seen else [])
    if seen:
        assert hits[0].distance_m == pytest.approx(dist, abs=0.01)
        assert hits[0].bearing_deg == pytest.approx(bearing, abs=1e-4)
        assert hits[0].camera.id == "C1" and hits[0].name == "cam C1"


@pytest.mark.parametrize(
    "bearing, seen",
    [(5, True), (0, True), (355, True), (331, True), (9, True), (329, False), (11, False)],
)
def test_heading_wraps_around_north(bearing, seen):
    index = CameraIndex([cam(heading=350, hfov=40)])
    assert ids(index.covering(*at(bearing, 100))) == (["C1"] if seen else [])


def test_apex_and_full_circle():
    assert ids(CameraIndex([cam()]).covering(LON, LAT)) == ["C1"]
    ring = CameraIndex([cam(hfov=360, range_m=100)])
    for bearing in (0, 90, 181, 300):
        assert ids(ring.covering(*at(bearing, 90))) == ["C1"]
        assert ring.covering(*at(bearing, 110)) == []


def test_nearest_first_among_overlapping_cameras():
    # Five cameras strung out west of the target, all looking east at it, listed out of order.
    target = at(90, 400)
    cams = [
        cam(id=f"C{d}", lon=at(90, d)[0], lat=at(90, d)[1], range_m=500)
        for d in (150, 0, 300, 50, 250)
    ]
    cams.append(cam(id="away", lon=at(90, 200)[0], lat=at(90, 200)[1], heading=270, range_m=500))
    hits = CameraIndex(cams).covering(*target)
    assert ids(hits) == ["C300", "C250", "C150", "C50", "C0"]
    want = geodesic_distance_m([h.camera.lon for h in hits], [h.camera.lat for h in hits], *target)
    np.testing.assert_allclose([h.distance_m for h in hits], want, atol=1e-6)


def test_covering_many_matches_single_queries():
    rng = np.random.default_rng(3)
    cams = [
        cam(
            id=f"C{i}",
            lon=LON + rng.uniform(-0.01, 0.01),
            lat=LAT + rng.uniform(-0.01, 0.01),
            heading=rng.uniform(0, 360),
            hfov=rng.choice([40.0, 90.0, 360.0]),
            range_m=rng.uniform(100, 600),
        )
        for i in range(60)
    ]
    index = CameraIndex(cams)
    lons, lats = LON + rng.uniform(-0.015, 0.015, 400), LAT + rng.uniform(-0.015, 0.015, 400)
    many = index.covering_many(lons, lats)
    assert sum(map(len, many)) > 100
    for lon, lat, hits in zip(lons, lats, many):
        single = index.covering(lon, lat)
        assert ids(hits) == ids(single)
        d = [h.distance_m for h in hits]
        assert d == sorted(d)
    # Brute force, no prefilter: every camera against every point, geodesic distance/bearing.
    lon_c = np.array([c.lon for c in cams])[:, None]
    lat_c = np.array([c.lat for c in cams])[:, None]
    dist = geodesic_distance_m(lon_c, lat_c, lons[None, :], lats[None, :])
    off = np.abs(
        np.mod(
            geodesic_bearing_deg(lon_c, lat_c, lons, lats)
            - np.array([c.heading_deg for c in cams])[:, None]
            + 180,
            360,
        )
        - 180
    )
    brute = (dist <= np.array([c.range_m for c in cams])[:, None]) & (
        off <= np.array([c.hfov_deg for c in cams])[:, None] / 2
    )
    for p, hits in enumerate(many):
        assert sorted(ids(hits)) == sorted(cams[c].id for c in np.flatnonzero(brute[:, p]))


def test_prefilter_holds_far_from_the_frame_centre():
    # An index whose frame is 80 km away: scale drift must not lose a camera at the range edge.
    far_frame = MetricFrame.around(LON + 0.85, LAT + 0.1)
    index = CameraIndex([cam(range_m=200)], frame=far_frame)
    assert ids(index.covering(*at(90, 199.9))) == ["C1"]
    assert index.covering(*at(90, 200.1)) == []
    assert ids(index.near(*at(0, 99.9), radius_m=100)) == ["C1"]


def test_near_ignores_direction():
    cams = [cam(id="a", heading=0), cam(id="b", lon=at(90, 80)[0], lat=at(90, 80)[1], heading=180)]
    index = CameraIndex(cams)
    hits = index.near(*at(270, 30), radius_m=100)
    assert ids(hits) == ["a"]
    assert hits[0].distance_m == pytest.approx(30, abs=0.01)
    assert ids(index.near(*at(90, 50), radius_m=100)) == ["b", "a"]
    assert index.near(*at(90, 500), radius_m=100) == []


@pytest.mark.parametrize("hfov", [30.0, 60.0, 90.0, 200.0, 360.0])
def test_sector_area(hfov):
    r = 200.0
    sector = fov_sector(LON, LAT, 123.0, hfov, r)
    assert sector.is_valid and shapely.is_ccw(sector.exterior)
    area = float(MetricFrame.around(LON, LAT).area_m2(sector))
    assert area == pytest.approx(math.pi * r * r * hfov / 360.0, rel=0.01)


def test_sector_vertices_are_metres_in_a_frame_centred_on_the_camera():
    frame = MetricFrame.around(LON, LAT)
    for r in (50.0, 200.0, 2000.0):
        coords = shapely.get_coordinates(fov_sector(LON, LAT, 350.0, 40.0, r))
        x, y = frame.to_metric(coords[:, 0], coords[:, 1])
        assert (x[0], y[0]) == pytest.approx((0.0, 0.0), abs=1e-6)  # apex
        np.testing.assert_allclose(np.hypot(x[1:-1], y[1:-1]), r, atol=1e-3)
        bearing = np.degrees(np.arctan2(x[1:-1], y[1:-1]))
        expected = 350.0 + 20.0 - 40.0 * np.arange(33) / 32
        np.testing.assert_allclose(np.mod(bearing - expected + 180, 360) - 180, 0, atol=1e-5)


@pytest.mark.parametrize(
    "heading, hfov, range_m",
    [(90, 60, 200), (350, 40, 150), (10, 270, 300), (0, 360, 120), (200, 5, 800)],
)
def test_polygon_and_analytic_test_agree(heading, hfov, range_m):
    camera = cam(heading=heading, hfov=hfov, range_m=range_m)
    index = CameraIndex([camera])
    sector = fov_sector(LON, LAT, heading, hfov, range_m)
    frame = MetricFrame.around(LON, LAT)
    rng = np.random.default_rng(int(heading + hfov))
    # Polar sampling around the sector (and a bit beyond it) so both answers are common.
    spread = min(hfov / 2.0 + 20.0, 180.0)
    bearing = np.radians(heading + rng.uniform(-spread, spread, 4000))
    dist = 1.3 * range_m * np.sqrt(rng.uniform(0.0, 1.0, 4000))
    x, y = dist * np.sin(bearing), dist * np.cos(bearing)
    lons, lats = frame.to_lonlat(x, y)
    drawn = shapely.contains(sector, shapely.points(lons, lats))
    pi, _, _, _ = index.covering_pairs(lons, lats)
    seen = np.zeros(len(lons), bool)
    seen[pi] = True
    # Skip the thin band along the outline where a chord of the polygon cuts inside the true
    # arc: its depth is the sagitta of one arc segment (32 segments).
    sagitta = range_m * (1.0 - math.cos(math.radians(hfov / 32.0 / 2.0)))
    edge_m = shapely.distance(frame.geometry_to_metric(sector.exterior), shapely.points(x, y))
    clear = edge_m > sagitta + 0.05
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(drawn[clear], seen[clear])
    assert 200 < seen[clear].sum() < clear.sum() - 200


def test_sector_polygons_vectorized_and_shaped():
    polys = sector_polygons([[LON, LON + 0.01]], [[LAT, LAT]], 90.0, [[60.0, 360.0]], 200.0)
    assert polys.shape == (1, 2)
    assert polys[0, 0].equals_exact(fov_sector(LON, LAT, 90, 60, 200), 1e-12)
    with pytest.raises(ValueError, match="hfov_deg"):
        sector_polygons(LON, LAT, 90, 0.0, 200)
    with pytest.raises(ValueError, match="range_m"):
        sector_polygons(LON, LAT, 90, 60, -1.0)
    with pytest.raises(ValueError, match="out of range"):
        sector_polygons(LON, 95.0, 90, 60, 200)


def test_fov_sectors_match_one_by_one():
    rng = np.random.default_rng(9)
    n = 20_000
    cols = np.column_stack(
        [
            LON + rng.uniform(-0.3, 0.3, n),
            LAT + rng.uniform(-0.3, 0.3, n),
            rng.uniform(0, 360, n),
            rng.choice([55.0, 70.0, 90.0, 360.0], n),
            rng.uniform(50, 400, n),
        ]
    )
    cams = [
        Camera(id=f"C{i}", lon=a, lat=b, heading_deg=h, hfov_deg=f, range_m=r)
        for i, (a, b, h, f, r) in enumerate(cols.tolist())
    ]
    polys = fov_sectors(cams)  # its speed: zhizhi bench camera-sectors (a ratio, not a timed assert)
    assert polys.shape == (n,) and shapely.is_valid(polys).all()
    for i in (0, 17, n - 1):
        c = cams[i]
        assert polys[i].equals_exact(
            fov_sector(c.lon, c.lat, c.heading_deg, c.hfov_deg, c.range_m), 1e-12
        )
    index = CameraIndex(cams)
    point_idx, camera_idx, _, _ = index.covering_pairs(cols[:5000, 0], cols[:5000, 1])
    assert len(point_idx) == len(camera_idx) and (camera_idx < n).all()
    assert len(fov_sectors([])) == 0


@pytest.mark.parametrize(
    "change, field",
    [
        ({"hfov_deg": 0}, "hfov_deg"),
        ({"hfov_deg": 361}, "hfov_deg"),
        ({"range_m": -5}, "range_m"),
        ({"range_m": 0}, "range_m"),
        ({"lat": 95}, "lat"),
        ({"lon": -181}, "lon"),
        ({"lon": float("nan")}, "lon"),
        ({"heading_deg": 400}, "heading_deg"),
        ({"grid": "12345"}, "grid"),
        ({"id": ""}, "id"),
    ],
)
def test_invalid_cameras_rejected(change, field):
    fields = {"id": "C1", "lon": LON, "lat": LAT, "heading_deg": 90, "hfov_deg": 60, "range_m": 200}
    with pytest.raises(ValidationError) as info:
        Camera(**(fields | change))
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [(field,)]
    assert field in str(info.value)


def test_camera_optional_fields():
    c = cam(grid="320612101001001", road_id="R0001", kind="ptz", status="online")
    assert (c.grid, c.road_id, c.kind, c.status) == ("320612101001001", "R0001", "ptz", "online")
    assert cam().status == "unknown" and cam().grid is None
    assert cam(grid=float("nan"), road_id="").grid is None  # missing values from a table


def test_index_bookkeeping():
    index = CameraIndex([cam(id="a"), cam(id="b", heading=0)])
    assert len(index) == 2 and index.get("b").heading_deg == 0
    assert index.x.shape == index.range.shape == (2,)
    with pytest.raises(KeyError, match="nope"):
        index.get("nope")
    with pytest.raises(ValueError, match="duplicate camera ids"):
        CameraIndex([cam(id="a"), cam(id="a")])
    with pytest.raises(ValueError, match="out of range"):
        index.covering(LON, float("nan"))
    empty = CameraIndex([])
    assert empty.covering(LON, LAT) == [] and empty.near(LON, LAT, 100) == []


def _ground(*bearing_dist) -> shapely.Polygon:
    """A WGS-84 polygon through points given as (bearing, distance) from the test camera."""
    return shapely.Polygon([at(b, d) for b, d in bearing_dist])


def test_a_calibrated_camera_sees_its_footprint_not_its_sector():
    """The camera is nominally looking east; calibrated, it really sees an area north-east."""
    footprint = _ground((20, 40), (70, 40), (60, 180), (30, 180))
    calibrated = cam(footprint=footprint, height_m=9.0, tilt_deg=12.0)
    index = CameraIndex([calibrated])
    north_east, east = at(45, 100), at(90, 100)
    assert cam().heading_deg == 90 and ids(CameraIndex([cam()]).covering(*north_east)) == []
    assert ids(index.covering(*north_east)) == ["C1"]  # inside the footprint, outside the old sector
    assert ids(index.covering(*east)) == []  # on the old axis, outside the footprint
    assert ids(index.covering(LON, LAT)) == []  # the foot of its pole is not in view
    hit = index.covering(*north_east)[0]
    assert hit.distance_m == pytest.approx(100, abs=0.01) and hit.bearing_deg == pytest.approx(45, abs=0.01)
    drawn = fov_sectors([calibrated, cam(id="C2")])
    assert drawn[0].equals(footprint) and drawn[1].equals(fov_sector(LON, LAT, 90, 60, 200))


def test_a_footprint_past_the_range_is_still_found():
    """The prefilter boxes grow to hold a footprint reaching past the nominal range."""
    far = _ground((80, 300), (100, 300), (100, 900), (80, 900))
    index = CameraIndex([cam(range_m=50, footprint=far)])
    assert ids(index.covering(*at(90, 600))) == ["C1"]


def test_covering_many_with_calibrated_and_nominal_cameras_matches_single_queries():
    rng = np.random.default_rng(5)
    cameras = []
    for i in range(60):
        lon, lat = at(rng.uniform(0, 360), rng.uniform(0, 1500))
        heading = rng.uniform(0, 360)
        footprint = None
        if i % 2:
            a, b = heading - 25, heading + 25
            footprint = shapely.Polygon([at(a, 20, lon, lat), at(b, 20, lon, lat), at(b, 150, lon, lat),
                                         at(a, 150, lon, lat)])
        cameras.append(cam(id=f"C{i}", lon=lon, lat=lat, heading=heading, range_m=200, footprint=footprint))
    index = CameraIndex(cameras)
    bearing, dist = np.radians(rng.uniform(0, 360, 3000)), rng.uniform(0, 1700, 3000)
    points = list(zip(*MetricFrame.around(LON, LAT).to_lonlat(dist * np.sin(bearing), dist * np.cos(bearing))))
    many = index.covering_many([p[0] for p in points], [p[1] for p in points])
    for (lon, lat), hits in zip(points[:300], many[:300]):
        assert ids(hits) == ids(index.covering(lon, lat))
    lons, lats = np.array(points).T
    want: list[set[str]] = [set() for _ in points]
    for c in cameras:  # each camera alone, over all the points: its footprint, or its own sector index
        if c.footprint is not None:
            seen = shapely.intersects_xy(c.footprint, lons, lats)
        else:
            seen = np.array([bool(h) for h in CameraIndex([c]).covering_many(lons, lats)])
        for i in np.flatnonzero(seen):
            want[i].add(c.id)
    assert [set(ids(h)) for h in many] == want
    assert sum(len(h) for h in many) > 100 and any(cameras[int(h.id[1:])].footprint is not None
                                                   for hits in many for h in hits)


@pytest.mark.parametrize(
    "footprint, reason",
    [
        (shapely.Point(LON, LAT), "polygon"),
        (shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "not a valid polygon"),
        (shapely.box(351000, 3543000, 351100, 3543100), "lon/lat"),
        (shapely.Polygon(), "non-empty"),
    ],
)
def test_invalid_footprints_rejected(footprint, reason):
    with pytest.raises(ValidationError, match=reason):
        cam(footprint=footprint)
