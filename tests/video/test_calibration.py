"""The ground a calibrated camera sees, the pinhole first guess, and the pairs no camera could give.

The reference geometry is the simulator's :class:`~zhizhi.video.simulator.camera.PinholeCamera`
(an independent pinhole over flat ground, the one every rendered test clip is drawn with).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from zhizhi.gis.metric import MetricFrame, geodesic_distance_m
from zhizhi.video.calibration import (
    DEFAULT_HEIGHT_M,
    DEFAULT_TILT_DEG,
    Calibration,
    CalibrationError,
    check_near_camera,
    ground_footprint,
    pinhole_calibration,
)
from zhizhi.video.simulator.camera import PinholeCamera

CAMERA = (121.06, 32.09)
SIZE = (1280, 720)


def _reference(heading=30.0, tilt=15.0, height=8.0, hfov=60.0, size=SIZE) -> PinholeCamera:
    return PinholeCamera(height_m=height, heading_deg=heading, pitch_deg=tilt, hfov_deg=hfov,
                         width=size[0], height=size[1])


@pytest.mark.parametrize("heading, tilt, height, hfov", [(0, 15, 8, 60), (30, 25, 12, 70), (250, 8, 6, 45),
                                                         (359, 40, 20, 90)])
def test_first_guess_is_the_pinhole_over_flat_ground(heading, tilt, height, hfov):
    guess = pinhole_calibration(*CAMERA, heading_deg=heading, hfov_deg=hfov, image_size=SIZE, height_m=height,
                                tilt_deg=tilt)
    ref = _reference(heading, tilt, height, hfov)
    rng = np.random.default_rng(7)
    u = rng.uniform(0, SIZE[0] - 1, 500)
    v = rng.uniform(max(ref.horizon_v() + 20, 0), SIZE[1] - 1, 500)
    want_x, want_y = ref.ground_point(u, v)
    x, y = guess.pixel_to_metric(u, v)
    assert np.isfinite(want_x).all()
    assert np.hypot(x - want_x, y - want_y).max() < 1e-6 * np.hypot(want_x, want_y).max()
    # a point on the optical axis at h / tan(tilt) is the image centre
    axis = height / math.tan(math.radians(tilt))
    lon, lat = MetricFrame.around(*CAMERA).to_lonlat(axis * math.sin(math.radians(heading)),
                                                     axis * math.cos(math.radians(heading)))
    cu, cv = guess.lonlat_to_pixel(lon, lat)
    assert abs(cu - (SIZE[0] - 1) / 2) < 1e-6 and abs(cv - (SIZE[1] - 1) / 2) < 1e-6


def test_first_guess_assumes_a_height_and_tilt_when_unknown():
    guess = pinhole_calibration(*CAMERA, heading_deg=90, hfov_deg=60, image_size=SIZE)
    x, y = guess.pixel_to_metric((SIZE[0] - 1) / 2, (SIZE[1] - 1) / 2)
    assert x == pytest.approx(DEFAULT_HEIGHT_M / math.tan(math.radians(DEFAULT_TILT_DEG))) and abs(y) < 1e-9
    with pytest.raises(CalibrationError, match="hfov_deg between 0 and 170"):
        pinhole_calibration(*CAMERA, heading_deg=0, hfov_deg=360, image_size=SIZE)
    with pytest.raises(CalibrationError, match="tilt_deg"):
        pinhole_calibration(*CAMERA, heading_deg=0, hfov_deg=60, image_size=SIZE, tilt_deg=95)


def _fitted(ref: PinholeCamera, ground_xy, noise_px=0.0) -> Calibration:
    frame = MetricFrame.around(*CAMERA)
    gx, gy = (np.asarray(v, float) for v in zip(*ground_xy))
    u, v, _ = ref.project(np.column_stack([gx, gy, np.zeros_like(gx)]))
    if noise_px:
        u = u + np.random.default_rng(3).normal(0, noise_px, len(u))
    lon, lat = frame.to_lonlat(gx, gy)
    return Calibration.fit(np.column_stack([u, v]), np.column_stack([lon, lat]), image_size=SIZE)


def _on_axis(ref: PinholeCamera, along, across):
    """Ground points ``along`` the camera's heading and ``across`` it (to its right), metres."""
    az = math.radians(ref.heading_deg)
    along, across = np.asarray(along, float), np.asarray(across, float)
    return list(zip(along * math.sin(az) + across * math.cos(az), along * math.cos(az) - across * math.sin(az)))


def _seen_by(ref: PinholeCamera, lon, lat, reach):
    """Which ground points the reference camera sees within ``reach`` metres: the truth."""
    x, y = MetricFrame.around(*CAMERA).to_metric(lon, lat)
    u, v, z = ref.project(np.column_stack([x, y, np.zeros_like(x)]))
    inside = (z > 0) & (u >= 0) & (u <= ref.width) & (v >= 0) & (v <= ref.height)
    return inside & (np.hypot(x, y) <= reach)


@pytest.mark.parametrize("tilt, reach", [(15.0, 120.0), (4.0, 300.0), (30.0, 60.0)])
def test_footprint_is_what_the_camera_sees(tilt, reach):
    """Fitted from points, the footprint holds exactly the ground the camera shows within its
    range, the horizon inside the image (tilt 4°: the sky above it) included."""
    ref = _reference(heading=30.0, tilt=tilt)
    cal = _fitted(ref, _on_axis(ref, [15, 15, 40, 40, 25], [-5, 5, -12, 12, 0]))
    if tilt == 4.0:
        assert 0 < ref.horizon_v() < SIZE[1]  # the horizon crosses the image
    area = ground_footprint(cal, SIZE, CAMERA, range_m=reach)
    assert area.is_valid and area.geom_type == "Polygon"
    frame = MetricFrame.around(*CAMERA)
    rng = np.random.default_rng(11)
    x, y = rng.uniform(-reach, reach, 20_000), rng.uniform(-reach, reach, 20_000)
    lon, lat = frame.to_lonlat(x, y)
    truth = _seen_by(ref, lon, lat, reach)
    found = shapely.contains_xy(area, lon, lat)
    # only points within half a metre of the footprint's edge (polygonised range arc) may differ
    differ = truth != found
    edge = shapely.distance(frame.geometry_to_metric(area).exterior, shapely.points(x[differ], y[differ]))
    assert truth.sum() > 1000 and (edge < 0.5).all(), (truth.sum(), differ.sum(), edge.max() if differ.any() else 0)
    corners = np.asarray(area.exterior.coords)
    far = geodesic_distance_m(*CAMERA, corners[:, 0], corners[:, 1]).max()
    assert far <= reach + 0.01
    # the pinhole first guess of the same camera sees the same ground
    guess = pinhole_calibration(*CAMERA, heading_deg=30.0, hfov_deg=60.0, image_size=SIZE, height_m=8.0,
                                tilt_deg=tilt)
    same = ground_footprint(guess, SIZE, CAMERA, range_m=reach)
    assert shapely.symmetric_difference(same, area).area / area.area < 1e-3


def test_footprint_stops_at_max_distance_when_the_range_is_larger():
    ref = _reference(tilt=2.0)
    cal = _fitted(ref, _on_axis(ref, [30, 30, 80, 80], [-8, 8, -20, 20]))
    area = ground_footprint(cal, SIZE, CAMERA, range_m=50_000, max_distance_m=2_000)
    corners = np.asarray(area.exterior.coords)
    assert geodesic_distance_m(*CAMERA, corners[:, 0], corners[:, 1]).max() == pytest.approx(2_000, abs=0.5)


def test_each_pair_has_its_errors():
    ref = _reference()
    pts = _on_axis(ref, [15, 15, 40, 40, 25, 60], [-5, 5, -12, 12, 0, 3])
    clean = _fitted(ref, pts)
    px, ground = clean.point_errors()
    assert px.shape == ground.shape == (6,) and px.max() < 1e-3 and ground.max() < 1e-3
    noisy = _fitted(ref, pts, noise_px=2.0)
    px, ground = noisy.point_errors()
    assert px.mean() == pytest.approx(noisy.reprojection_error_px) and ground.mean() == pytest.approx(
        noisy.ground_error_m)
    assert 0.2 < px.mean() < 5 and ground.max() > 0.01


def test_pairs_no_camera_could_give_are_refused():
    ref = _reference(heading=0.0)
    pts = _on_axis(ref, [15, 15, 40, 40], [-5, 5, -12, 12])
    good = _fitted(ref, pts)
    pixels, lonlats = np.asarray(good.pixels), np.asarray(good.lonlats)
    # mirrored: the map points of the left and right pairs swapped
    mirrored = Calibration.fit(pixels, lonlats[[1, 0, 3, 2]])
    with pytest.raises(CalibrationError, match="mirrored"):
        ground_footprint(mirrored, SIZE, CAMERA, range_m=100)
    # crossed: two pairs of one side exchanged, so the quadrilateral twists through the horizon
    crossed = Calibration.fit(pixels, lonlats[[0, 1, 3, 2]])
    with pytest.raises(CalibrationError, match="beyond the horizon of the others"):
        ground_footprint(crossed, SIZE, CAMERA, range_m=100)
    # the nearest ground the image shows is farther than the range: nothing seen
    with pytest.raises(CalibrationError, match="empty within 5 m"):
        ground_footprint(good, SIZE, CAMERA, range_m=5)


def test_three_of_four_points_on_a_line_are_named():
    ref = _reference(heading=0.0)
    pts = _on_axis(ref, [15, 30, 45, 40], [0, 0.01, 0, 12])
    with pytest.raises(CalibrationError, match=r"pixel points 1, 2 and 3 lie \(nearly\) on one line"):
        _fitted(ref, pts)
    lon, lat = MetricFrame.around(*CAMERA).to_lonlat([0, 10, 10, 20], [20, 20, 40, 20.05])
    with pytest.raises(CalibrationError, match=r"map points 1, 2 and 4 lie \(nearly\) on one line"):
        Calibration.fit([(100, 600), (600, 600), (600, 300), (1100, 620)], np.column_stack([lon, lat]))


def test_map_points_far_from_the_camera_or_swapped_are_refused():
    near = [(CAMERA[0] + 0.0003, CAMERA[1] + 0.0002)] * 3
    check_near_camera(near, CAMERA)
    with pytest.raises(CalibrationError, match="map point 2 .* lon and lat swapped"):
        # latitude 121 is out of range for a homography, but the first check a user meets says why
        check_near_camera([near[0], (CAMERA[1], CAMERA[0])], CAMERA)
    with pytest.raises(CalibrationError, match=r"map point 1 .* from the camera .* within 5,000 m"):
        check_near_camera([(CAMERA[0] + 0.2, CAMERA[1])], CAMERA)
    with pytest.raises(CalibrationError, match="point 4: 32.09, 121.06.*swapped"):
        Calibration.fit([(0, 0), (100, 0), (100, 100), (0, 100)], near + [(CAMERA[1], CAMERA[0])])
