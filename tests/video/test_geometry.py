"""Calibration, geolocation, kinematics and camera configs of the video path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zhizhi.gis.metric import MetricFrame, geodesic_distance_m
from zhizhi.video.calibration import Calibration, CalibrationError
from zhizhi.video.camera_config import (
    CameraConfig,
    CameraConfigError,
    SourceConfig,
    load_camera_configs,
)
from zhizhi.video.geolocate import Geolocator
from zhizhi.video.kinematics import Kinematics

ORIGIN = (121.06, 32.09)


def pinhole(height=8.0, pitch_deg=15.0, f=900.0, size=(1280, 720)):
    """Project ground points (x east, y north, metres) for a camera at the origin looking north."""
    cx, cy = size[0] / 2, size[1] / 2
    p = np.radians(pitch_deg)

    def project(x, y):
        # camera coordinates: right = x, down, forward
        forward = y * np.cos(p) + height * np.sin(p)
        down = height * np.cos(p) - y * np.sin(p)
        return cx + f * x / forward, cy + f * down / forward

    return project


@pytest.fixture(scope="module")
def calibration():
    frame = MetricFrame.around(*ORIGIN)
    project = pinhole()
    gx = np.array([-10, 10, -10, 10, -5, 5, 0, 0], float)
    gy = np.array([20, 20, 120, 120, 60, 60, 40, 200], float)
    u, v = project(gx, gy)
    lon, lat = frame.to_lonlat(gx, gy)
    return Calibration.fit(np.column_stack([u, v]), np.column_stack([lon, lat]), origin=ORIGIN, image_size=(1280, 720))


def test_calibration_maps_ground_pixels_to_ground(calibration):
    frame = MetricFrame.around(*ORIGIN)
    project = pinhole()
    rng = np.random.default_rng(1)
    gx, gy = rng.uniform(-15, 15, 200), rng.uniform(15, 250, 200)
    lon, lat = calibration.pixel_to_lonlat(*project(gx, gy))
    want_lon, want_lat = frame.to_lonlat(gx, gy)
    assert geodesic_distance_m(lon, lat, want_lon, want_lat).max() < 0.01
    assert calibration.reprojection_error_px < 1e-3 and calibration.ground_error_m < 1e-3
    u, v = calibration.lonlat_to_pixel(want_lon, want_lat)
    pu, pv = project(gx, gy)
    assert np.abs(u - pu).max() < 1e-3 and np.abs(v - pv).max() < 1e-3


def test_noisy_pairs_report_their_error():
    frame = MetricFrame.around(*ORIGIN)
    project = pinhole()
    gx = np.array([-10, 10, -10, 10, 0, 0], float)
    gy = np.array([20, 20, 120, 120, 50, 80], float)
    u, v = project(gx, gy)
    u = u + np.array([3, -2, 4, 0, -3, 2])
    cal = Calibration.fit(np.column_stack([u, v]), np.column_stack(frame.to_lonlat(gx, gy)))
    assert 0.5 < cal.reprojection_error_px < 10 and cal.ground_error_m > 0.05


@pytest.mark.parametrize(
    "pixels, lonlats, fragment",
    [
        ([(0, 0), (1, 1), (2, 0)], [(121, 32), (121.001, 32), (121, 32.001)], "at least 4"),
        ([(0, 0), (1, 1), (2, 2), (3, 3)], [(121, 32), (121.001, 32), (121, 32.001), (121.001, 32.001)], "collinear"),
        ([(0, 0), (100, 0), (100, 100), (0, 100)], [(351000, 3543000)] * 4, "out of range"),
        ([(0, 0), (100, 0), (100, 100)], [(121, 32)] * 4, "3 pixel points but 4"),
        (
            [(0, 0), (100, 0), (100, 100), (float("nan"), 1)],
            [(121, 32), (121.001, 32), (121, 32.001), (121.001, 32.001)],
            "finite",
        ),
    ],
)
def test_bad_calibrations_are_refused(pixels, lonlats, fragment):
    with pytest.raises(CalibrationError, match=fragment):
        Calibration.fit(pixels, lonlats)


def test_calibration_round_trips_through_camera_config(calibration, tmp_path):
    cam = CameraConfig(
        id="CAM-1", source=SourceConfig(url="x.mp4"), lon=ORIGIN[0], lat=ORIGIN[1], calibration=calibration
    )
    path = tmp_path / "camera.json"
    path.write_text(cam.model_dump_json())
    loaded = load_camera_configs(path)[0]
    assert loaded.calibration.homography == calibration.homography
    assert loaded.calibration.pixel_to_lonlat(640, 600) == calibration.pixel_to_lonlat(640, 600)


def test_geolocation_pushes_the_foot_point_to_the_object_centre(calibration):
    project = pinhole()
    geo = Geolocator(calibration, ORIGIN)
    # A 12 m tanker seen from behind: its rear (nearest) edge at 50 m, its centre at 56 m.
    u, v = project(np.array([0.0]), np.array([50.0]))
    x, y = geo.locate(np.array([[u[0] - 40, v[0] - 60, u[0] + 40, v[0]]]), ["hazmat_tanker"], [0.0])
    assert abs(x[0]) < 0.05 and abs(y[0] - 56.0) < 0.05
    # Without the camera position only the foot point is known.
    x, y = Geolocator(calibration, None).locate(np.array([[u[0] - 40, v[0] - 60, u[0] + 40, v[0]]]), ["car"])
    assert abs(y[0] - 50.0) < 0.05


def test_kinematics_constant_speed_stop_and_noise():
    k = Kinematics(window_s=2.0, min_span_s=0.5)
    rng = np.random.default_rng(3)
    for i in range(40):  # 20 m/s east for 4 s, with 0.3 m of position noise
        t = i * 0.1
        state = k.update("c", t, [1], [20.0 * t + rng.normal(0, 0.3)], [rng.normal(0, 0.3)])
    assert abs(state.speed_kmh[0] - 72.0) / 72.0 < 0.05
    assert abs(state.heading_deg[0] - 90.0) < 3.0
    for i in range(40, 80):  # then stopped at 80 m
        state = k.update("c", i * 0.1, [1], [80.0 + rng.normal(0, 0.3)], [rng.normal(0, 0.3)])
    assert state.speed_kmh[0] < 3.0
    # Keeps (about) the heading it had while moving; braking blurs the last estimates a little.
    assert abs(state.heading_deg[0] - 90.0) < 15.0
    young = k.update("c", 8.0, [2], [0.0], [0.0])
    assert np.isnan(young.speed_kmh[0]) and np.isnan(young.heading_deg[0])


def test_tracks_are_per_camera_and_forgotten():
    k = Kinematics(forget_after_s=1.0)
    for i in range(10):
        k.update("a", i * 0.1, [1], [i * 1.0], [0.0])
        k.update("b", i * 0.1, [1], [0.0], [i * 2.0])
    assert k.heading_of("a", 1) == pytest.approx(90.0) and k.heading_of("b", 1) == pytest.approx(0.0)
    k.update("a", 5.0, [9], [0.0], [0.0])
    assert k.heading_of("b", 1) is None


def test_camera_config_files(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"id": "C1", "source": {"url": "rtsp://10.0.0.1/live"}}))
    assert load_camera_configs(one)[0].source.resolved_kind == "rtsp"
    many = tmp_path / "many.yaml"
    many.write_text(
        "cameras:\n  - id: C1\n    source: {url: 'http://x/video.mjpg'}\n"
        "  - id: C2\n    source: {url: 'a.mp4', loop: true}\n"
    )
    cams = load_camera_configs(many)
    assert [c.source.resolved_kind for c in cams] == ["mjpeg", "file"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "C1", "source": {"url": "a.mp4"}, "analysis_fps": -1}))
    with pytest.raises(CameraConfigError, match="(?s)bad.json: camera 0.*analysis_fps"):
        load_camera_configs(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(CameraConfigError, match="not valid json"):
        load_camera_configs(broken)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"cameras": [{"id": "C", "source": {"url": "a"}}, {"id": "C", "source": {"url": "b"}}]}))
    with pytest.raises(CameraConfigError, match="duplicate"):
        load_camera_configs(dup)
    with pytest.raises(CameraConfigError, match="not found"):
        load_camera_configs(tmp_path / "missing.json")


def test_kinematics_follows_braking_without_lag():
    """A line over 2 s lags by 1 s: 1.5 m/s2 of braking would read 5.4 km/h fast."""
    k = Kinematics(window_s=2.0, min_span_s=0.5)
    rng = np.random.default_rng(5)
    v0, decel = 15.0, 1.5  # 54 km/h, braking to a stop in 10 s
    errors = []
    for i in range(100):
        t = i * 0.1
        v = max(v0 - decel * t, 0.0)
        s = v0 * t - 0.5 * decel * t * t if v > 0 else v0 * v0 / (2 * decel)
        state = k.update("c", t, [1], [rng.normal(0, 0.15)], [s + rng.normal(0, 0.15)])
        if t >= 2.0 and v * 3.6 > 20:
            errors.append(abs(state.speed_kmh[0] - v * 3.6) / (v * 3.6))
    assert np.median(errors) < 0.05 and np.percentile(errors, 80) < 0.1, errors
    assert abs(state.heading_deg[0] - 0.0) < 10.0


def test_kinematics_restarts_after_a_gap_or_a_jump():
    k = Kinematics(window_s=2.0, min_span_s=0.5, max_gap_s=1.0)
    for i in range(20):  # 10 m/s north
        k.update("c", i * 0.1, [4], [0.0], [i * 1.0])
    # the id comes back 2 s later on another object, far away and stopped
    young = k.update("c", 3.9, [4], [50.0], [0.0])
    assert np.isnan(young.speed_kmh[0])
    for i in range(1, 10):
        state = k.update("c", 3.9 + i * 0.1, [4], [50.0], [0.0])
    assert state.speed_kmh[0] < 1.0
    # a jump of 40 m in 0.1 s is no road user: history restarts, no 1,440 km/h reading
    jumped = k.update("c", 5.0, [4], [90.0], [0.0])
    assert np.isnan(jumped.speed_kmh[0])


def test_boxes_cut_by_the_bottom_edge_are_not_geolocated(calibration):
    geo = Geolocator(calibration, ORIGIN)
    x, y = geo.locate(np.array([[500, 400, 700, 719], [500, 400, 700, 716]]), ["car", "car"])
    assert np.isnan(x[0]) and np.isnan(y[0])  # its bottom is the frame's edge, not the road
    assert np.isfinite(x[1]) and np.isfinite(y[1])


def test_kinematics_leaves_untrustworthy_speeds_unknown():
    """Far away a pixel of jitter is metres: a speed that noisy is not stated at all."""
    k = Kinematics(window_s=2.0, min_span_s=0.5)
    rng = np.random.default_rng(8)
    speeds = []
    for i in range(30):  # a truck at 20 m/s, 180 m away, with 3 m of position noise
        t = i * 0.1
        state = k.update("c", t, [1], [rng.normal(0, 3.0)], [180.0 + 20.0 * t + rng.normal(0, 3.0)])
        speeds.append(state.speed_kmh[0])
    young = np.array(speeds[5:15])  # under 1.5 s of history: never a wild figure
    assert np.all(np.isnan(young) | (np.abs(young - 72.0) < 20.0))
    quiet = Kinematics(window_s=2.0, min_span_s=0.5)
    for i in range(30):  # the same truck near the camera, 0.2 m of noise: stated, and right
        t = i * 0.1
        state = quiet.update("c", t, [1], [rng.normal(0, 0.2)], [30.0 + 20.0 * t + rng.normal(0, 0.2)])
    assert abs(state.speed_kmh[0] - 72.0) < 3.0
