"""A drone camera's ground footprint and pixel <-> ground mapping from its pose."""

import math

import numpy as np
import pytest
import shapely
from pydantic import ValidationError

from zhizhi.gis.drones import (
    DroneView,
    footprint,
    footprints,
    footprints_metric,
    ground_homography,
    ground_size_m,
    lonlat_to_pixel,
    pixel_to_lonlat,
    pixel_to_metric,
)
from zhizhi.gis.metric import MetricFrame, geodesic_distance_m

LON, LAT = 120.86, 32.01


def view(**kw) -> DroneView:
    base = {"lon": LON, "lat": LAT, "height_m": 100.0, "yaw_deg": 0.0, "pitch_deg": -90.0,
            "hfov_deg": 60.0, "width_px": 1920, "height_px": 1080, "max_range_m": 1500.0}
    return DroneView(**{**base, **kw})


def local(poly) -> np.ndarray:
    """Footprint vertices in metres of the drone's MetricFrame (closing point dropped)."""
    frame = MetricFrame.around(LON, LAT)
    return shapely.get_coordinates(frame.geometry_to_metric(poly))[:-1]


def test_nadir_footprint_is_the_expected_rectangle():
    v = view()
    poly = footprint(v)
    xy = local(poly)
    width = 2 * 100 * math.tan(math.radians(30))
    height = width * 1080 / 1920
    assert len(xy) == 4 and poly.is_valid
    assert xy[:, 0].max() - xy[:, 0].min() == pytest.approx(width, abs=0.01)
    assert xy[:, 1].max() - xy[:, 1].min() == pytest.approx(height, abs=0.01)
    assert np.abs(xy.mean(axis=0)).max() < 0.01  # centred under the drone
    assert ground_size_m(v) == pytest.approx((width, height), abs=1e-6)


def test_yaw_rotates_the_nadir_footprint():
    xy0 = footprints_metric([view(yaw_deg=0)])[0]
    for yaw in (30.0, 90.0, 217.0):
        turned = footprints_metric([view(yaw_deg=yaw)])[0]
        # Rotating the ground clockwise by the yaw (shapely rotates counter-clockwise).
        expected = shapely.affinity.rotate(xy0, -yaw, origin=(0, 0))
        assert shapely.hausdorff_distance(turned, expected) < 1e-6
    # At yaw 90 the long side runs north-south.
    w, h = ground_size_m(view(yaw_deg=90))
    assert h > w


def test_pitch_minus_45_is_a_trapezoid_with_the_near_edge_closer_and_shorter():
    v = view(pitch_deg=-45, yaw_deg=0)
    xy = footprints_metric([v])[0]
    pts = shapely.get_coordinates(xy)[:-1]
    assert len(pts) == 4
    near = pts[pts[:, 1] < np.median(pts[:, 1])]
    far = pts[pts[:, 1] >= np.median(pts[:, 1])]
    vfov = v.vertical_fov_deg
    # Near and far edges where the bottom and top image rows meet the ground.
    assert near[:, 1].mean() == pytest.approx(100 / math.tan(math.radians(45 + vfov / 2)), rel=1e-6)
    assert far[:, 1].mean() == pytest.approx(100 / math.tan(math.radians(45 - vfov / 2)), rel=1e-6)
    near_w, far_w = np.ptp(near[:, 0]), np.ptp(far[:, 0])
    assert near_w < far_w
    assert np.allclose(near[:, 0].mean(), 0, atol=1e-6) and np.allclose(far[:, 0].mean(), 0, atol=1e-6)
    # The whole footprint lies ahead (north): the drone is behind its near edge.
    assert pts[:, 1].min() > 0


def test_view_reaching_the_horizon_is_capped_at_max_range():
    v = view(pitch_deg=-5, hfov_deg=70, max_range_m=800)
    poly = footprints_metric([v])[0]
    dist = np.hypot(*shapely.get_coordinates(poly).T)
    assert dist.max() == pytest.approx(800, rel=1e-3)
    assert poly.is_valid and poly.area > 0
    # The near edge is where the bottom row meets the ground.
    near = 100 / math.tan(math.radians(5 + v.vertical_fov_deg / 2))
    assert shapely.get_coordinates(poly)[:, 1].min() == pytest.approx(near, rel=1e-3)


def test_looking_up_sees_no_ground():
    poly = footprint(view(pitch_deg=45, hfov_deg=40))
    assert poly.is_empty and poly.geom_type == "Polygon"
    assert ground_size_m(view(pitch_deg=45, hfov_deg=40)) == (0.0, 0.0)


def test_pixel_ground_round_trip_is_within_centimetres():
    v = view(pitch_deg=-35, yaw_deg=123, height_m=150, hfov_deg=80)
    u = np.array([0, 960, 1919, 300, 1500, 960.5])
    vv = np.array([1079, 540, 1079, 700, 300, 1000.25])
    lon, lat = pixel_to_lonlat(v, u, vv)
    assert np.isfinite(lon).all()
    u2, v2 = lonlat_to_pixel(v, lon, lat)
    assert np.allclose(u2, u, atol=1e-4) and np.allclose(v2, vv, atol=1e-4)
    # Ground to image and back: a point in view comes back within a few centimetres.
    ground_lon, ground_lat = 120.8621, 32.0093
    pu, pv = lonlat_to_pixel(v, ground_lon, ground_lat)
    assert 0 <= pu <= 1920 and 0 <= pv <= 1080
    back = pixel_to_lonlat(v, pu, pv)
    assert float(geodesic_distance_m(ground_lon, ground_lat, *back)) < 0.03


def test_homography_agrees_with_the_metric_frame_and_footprint():
    v = view(pitch_deg=-60, yaw_deg=45, height_m=80)
    h = ground_homography(v)
    assert h.shape == (3, 3)
    corners = np.array([(0, 0), (1920, 0), (1920, 1080), (0, 1080)], float)
    x, y = pixel_to_metric(v, corners[:, 0], corners[:, 1])
    poly = footprints_metric([v])[0]
    assert np.allclose(
        np.sort(np.round(np.column_stack([x, y]), 6), axis=0),
        np.sort(np.round(shapely.get_coordinates(poly)[:-1], 6), axis=0),
    )
    # The metres are those of MetricFrame.around(drone): a millimetre or better.
    lon, lat = pixel_to_lonlat(v, corners[:, 0], corners[:, 1])
    fx, fy = MetricFrame.around(LON, LAT).to_metric(lon, lat)
    assert np.hypot(fx - x, fy - y).max() < 1e-3


def test_pixels_above_the_horizon_and_points_behind_are_nan():
    v = view(pitch_deg=-5, hfov_deg=70)
    lon, lat = pixel_to_lonlat(v, [960, 960], [0, 1079])
    assert np.isnan(lon[0]) and np.isnan(lat[0]) and np.isfinite(lon[1])
    # A ground point behind the camera (south, yaw 0) has no pixel.
    u, vv = lonlat_to_pixel(v, LON, LAT - 0.001)
    assert np.isnan(u) and np.isnan(vv)


def test_footprints_is_vectorised_and_matches_one_by_one():
    views = [
        view(yaw_deg=y, pitch_deg=p, height_m=h, lon=LON + 0.01 * i)
        for i, (y, p, h) in enumerate([(0, -90, 100), (90, -45, 50), (200, -10, 120), (10, 30, 80)])
    ]
    many = footprints(views)
    assert many.shape == (4,)
    for v, poly in zip(views, many):
        assert shapely.equals_exact(poly, footprint(v), 1e-12)
    assert many[3].is_empty and not many[0].is_empty
    assert footprints([]).shape == (0,)
    # Each drone's footprint is around its own position.
    assert many[0].contains(shapely.Point(views[0].lon, views[0].lat))


def test_aspect_gives_the_vertical_fov_and_explicit_vfov_wins():
    assert view(hfov_deg=90, width_px=1000, height_px=1000).vertical_fov_deg == pytest.approx(90)
    v = view(hfov_deg=60, vfov_deg=20)
    assert v.vertical_fov_deg == 20
    _, h = ground_size_m(v)
    assert h == pytest.approx(2 * 100 * math.tan(math.radians(10)), rel=1e-9)


def test_from_pose_reads_telemetry_field_names():
    pose = {"drone_id": "UAV-1", "ts": 1.8e9, "lon": LON, "lat": LAT, "height_m": 90.0,
            "heading_deg": 10.0, "gimbal_pitch_deg": -70.0, "gimbal_yaw_deg": 350.0}
    v = DroneView.from_pose(pose, hfov_deg=82, width_px=4000, height_px=3000)
    assert (v.yaw_deg, v.pitch_deg, v.height_m, v.hfov_deg) == (350.0, -70.0, 90.0, 82.0)
    assert DroneView.from_pose({"lon": LON, "lat": LAT, "height_m": 50, "heading_deg": 15}).yaw_deg == 15


@pytest.mark.parametrize(
    "bad", [{"height_m": 0}, {"pitch_deg": -91}, {"hfov_deg": 180}, {"lon": float("nan")},
            {"max_range_m": 0}, {"width_px": 0}],
)
def test_bad_views_are_refused(bad):
    with pytest.raises(ValidationError):
        view(**bad)
