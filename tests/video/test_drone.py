"""Drone video: poses from telemetry, boxes geolocated through them, the aerial simulator, and
the drone's video served only to the jurisdiction the drone is over."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

from zhizhi.bus import InProcessBus, Topic
from zhizhi.gis.drones import DroneView, lonlat_to_pixel
from zhizhi.gis.metric import MetricFrame
from zhizhi.telemetry.record import DroneState
from zhizhi.video.camera_config import CameraConfig, DroneCamera, SourceConfig
from zhizhi.video.detectors import TrackedBoxes
from zhizhi.video.drone import DroneGeolocator, DronePoses, PoseHistory
from zhizhi.video.frames import Frame
from zhizhi.video.pipeline import FrameAnalyzer

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

T0 = 1.8e9
LON, LAT = 121.06, 32.09



def _rows(batches) -> list[SimpleNamespace]:
    """The one frame's rows, read as attributes (None where unknown)."""
    (batch,) = batches
    return [SimpleNamespace(**row) for row in batch.rows()]

def _pose(ts: float, **changes) -> DroneState:
    base = {"drone_id": "UAV-01", "ts": ts, "lon": LON, "lat": LAT, "height_m": 120.0, "heading_deg": 30.0,
            "gimbal_yaw_deg": 30.0, "gimbal_pitch_deg": -55.0, "battery_pct": 80.0}
    return DroneState(**(base | changes))


# ------------------------------------------------------------------------------ pose history


def test_pose_between_two_reports_is_interpolated_angles_along_the_shorter_arc():
    history = PoseHistory()
    assert history.add(_pose(T0, lon=LON, height_m=100.0, gimbal_yaw_deg=350.0, gimbal_pitch_deg=-60.0))
    assert history.add(_pose(T0 + 1.0, lon=LON + 0.001, height_m=110.0, gimbal_yaw_deg=10.0, gimbal_pitch_deg=-50.0))
    pose = history.at(T0 + 0.25, max_age_s=2.0)
    assert pose["ts"] == T0 + 0.25
    assert pose["lon"] == pytest.approx(LON + 0.00025) and pose["height_m"] == pytest.approx(102.5)
    assert pose["gimbal_yaw_deg"] == pytest.approx(355.0) and pose["gimbal_pitch_deg"] == pytest.approx(-57.5)
    assert history.at(T0 + 1.0, 2.0)["height_m"] == 110.0  # on a report: that report


def test_no_pose_when_the_latest_is_stale_or_before_the_first():
    history = PoseHistory()
    history.add(_pose(T0))
    assert history.at(T0 - 0.1, 2.0) is None  # before the history: unknown
    assert history.at(T0 + 1.9, 2.0)["ts"] == T0  # the latest, still fresh
    assert history.at(T0 + 2.1, 2.0) is None  # stale: no position rather than a wrong one
    # a gap in the telemetry longer than twice the age limit is not bridged
    history.add(_pose(T0 + 10.0, lon=LON + 0.01))
    assert history.at(T0 + 1.0, 2.0)["lon"] == LON  # fresh enough after the first
    assert history.at(T0 + 5.0, 2.0) is None  # in the middle of the gap
    assert history.at(T0 + 10.5, 2.0)["lon"] == LON + 0.01


def test_out_of_order_and_duplicate_poses_are_ignored_and_history_is_bounded():
    poses = DronePoses(max_pose_age_s=2.0, history=4)
    assert poses.on_message(_pose(T0 + 1.0))
    assert not poses.on_message(_pose(T0 + 0.5, lon=LON + 1.0))  # older: ignored
    assert not poses.on_message(_pose(T0 + 1.0, lon=LON + 1.0))  # same time: ignored
    assert poses.at("UAV-01", T0 + 1.5)["lon"] == LON
    assert (poses.accepted, poses.ignored) == (1, 2)
    for k in range(2, 10):
        poses.add(_pose(T0 + k))
    assert poses.at("UAV-01", T0 + 2.5) is None  # forgotten: only the last 4 are kept
    assert poses.at("UAV-01", T0 + 8.5)["ts"] == T0 + 8.5
    assert poses.at("UAV-02", T0 + 8.5) is None


def test_camera_config_takes_a_drone_or_a_calibration_not_both():
    from zhizhi.video.calibration import Calibration

    cam = CameraConfig(id="UAV-01", source=SourceConfig(url="x.mp4"), drone=DroneCamera(drone_id="UAV-01"))
    assert cam.drone.max_pose_age_s == 2.0 and cam.calibration is None
    cal = Calibration.fit([(0, 720), (1280, 720), (1280, 360), (0, 360)],
                          [(121.0, 32.0), (121.0003, 32.0), (121.0003, 32.0009), (121.0, 32.0009)])
    with pytest.raises(ValueError, match="not both"):
        CameraConfig(id="UAV-01", source=SourceConfig(url="x.mp4"), drone=DroneCamera(drone_id="UAV-01"),
                     calibration=cal)


# ------------------------------------------------------------------- geolocation through poses


class ScriptedDetector:
    """Returns the boxes it is given for each frame (truth boxes, or synthetic ones)."""

    names = ("car", "person")

    def __init__(self) -> None:
        self.next: list[TrackedBoxes] = []

    def update(self, batch):
        out, self.next = self.next, []
        return out

    def close(self) -> None:
        pass


def _drone_camera(**changes) -> CameraConfig:
    return CameraConfig(id="UAV-01", source=SourceConfig(url="unused.mp4"),
                        drone=DroneCamera(drone_id="UAV-01", hfov_deg=72.0, **changes))


def test_a_moving_drone_locates_what_it_sees_through_interpolated_poses():
    """10 m/s eastwards, poses at 1 Hz, frames at 5 Hz: each frame between two poses is
    located with the interpolated pose (the latest pose alone would be up to 8 m off)."""
    frame = MetricFrame.around(LON, LAT)
    people = np.array([[30.0, 60.0], [60.0, 90.0], [45.0, 75.0]])  # metres east/north, standing still
    p_lon, p_lat = frame.to_lonlat(people[:, 0], people[:, 1])
    detector = ScriptedDetector()
    analyzer = FrameAnalyzer(detector, [_drone_camera()])
    for k in range(4):
        lon, lat = frame.to_lonlat(10.0 * k, 0.0)
        analyzer.poses.on_message(_pose(T0 + k, lon=float(lon), lat=float(lat), gimbal_yaw_deg=20.0))
    errors = []
    for i in range(16):  # frames 0..3 s
        ts = T0 + i * 0.2
        lon, lat = frame.to_lonlat(10.0 * (ts - T0), 0.0)
        view = DroneView.from_pose(_pose(ts, lon=float(lon), lat=float(lat), gimbal_yaw_deg=20.0).model_dump(),
                                   hfov_deg=72.0, width_px=960, height_px=540)
        u, v = lonlat_to_pixel(view, p_lon, p_lat)
        # a person's box: its foot point is the near edge of a 0.5 m footprint (put it at the centre:
        # the geolocator pushes it 0.25 m away, well inside the tolerance)
        boxes = np.column_stack([u - 2, v - 10, u + 2, v])
        detector.next = [TrackedBoxes(boxes, [0.9] * 3, [1] * 3, [1, 2, 3], detector.names)]
        observations = _rows(analyzer.analyze([Frame("UAV-01", i, ts, np.zeros((540, 960, 3), np.uint8))]))
        for obs, truth in zip(observations, people):
            x, y = frame.to_metric(obs.lon, obs.lat)
            errors.append(math.hypot(float(x) - truth[0], float(y) - truth[1]))
    assert len(errors) == 48 and max(errors) < 0.5, max(errors)
    assert analyzer.drones["UAV-01"].stats() == {"located": 16, "without_pose": 0}


def test_frames_without_a_fresh_pose_have_no_position_and_are_counted():
    detector = ScriptedDetector()
    analyzer = FrameAnalyzer(detector, [_drone_camera(max_pose_age_s=1.0)])
    analyzer.poses.add(_pose(T0))
    image = np.zeros((540, 960, 3), np.uint8)
    results = []
    for i, ts in enumerate((T0 - 5.0, T0 + 0.5, T0 + 3.0)):  # before any pose, fresh, stale
        detector.next = [TrackedBoxes([[400, 300, 440, 330]], [0.9], [0], [7], detector.names)]
        (obs,) = _rows(analyzer.analyze([Frame("UAV-01", i, ts, image)]))
        results.append(obs.lon is not None)
    assert results == [False, True, False]
    assert analyzer.drones["UAV-01"].stats() == {"located": 1, "without_pose": 2}


def test_pixels_above_the_horizon_or_out_of_range_are_not_located():
    poses = DronePoses()
    poses.add(_pose(T0, gimbal_pitch_deg=-5.0, height_m=50.0))
    geo = DroneGeolocator(DroneCamera(drone_id="UAV-01", max_range_m=400.0), poses).at(T0, (960, 540))
    x, _ = geo.locate(np.array([[470, 10, 490, 40], [470, 500, 490, 530]]), ["car", "car"])
    assert np.isnan(x[0]) and np.isfinite(x[1])  # the sky / the ground in range


def test_the_worker_takes_drone_poses_from_the_bus():
    from zhizhi.video.detectors import make_detector
    from zhizhi.video.worker import Worker

    bus = InProcessBus()
    worker = Worker([_drone_camera()], make_detector("motion"), bus.publish, subscribe=bus.subscribe,
                    runner_options={"backoff_initial_s": 5.0, "backoff_max_s": 5.0})
    try:
        bus.publish(Topic.DRONES, _pose(T0))
        assert worker.analyzer.poses.at("UAV-01", T0 + 1.0) is not None
        assert worker.stats()["drones"] == {"UAV-01": {"located": 0, "without_pose": 0}}
    finally:
        worker.close()
    bus.publish(Topic.DRONES, _pose(T0 + 1.0))  # unsubscribed on close
    assert worker.analyzer.poses.accepted == 1


# ------------------------------------------------------------------------ the aerial simulator


@pytest.fixture(scope="module")
def aerial():
    from zhizhi.video.simulator.aerial import build_aerial_simulation

    view = DroneView(lon=LON, lat=LAT, height_m=120.0, yaw_deg=30.0, pitch_deg=-55.0, hfov_deg=72.0,
                     width_px=960, height_px=540)
    sim = build_aerial_simulation(view, "normal", 3, duration_s=8.0, fps=5.0)
    poses = sim.poses(sim.times())
    frames = [sim.render(i, poses[i]) for i in range(sim.frames)]
    return view, sim, frames


def test_the_aerial_clip_sees_traffic_on_a_road_from_120_m(aerial, tmp_path):
    import cv2

    view, sim, frames = aerial
    cam = sim.site.camera
    assert (cam.height_m, cam.pitch_deg, cam.heading_deg) == (120.0, 55.0, 30.0)
    assert cam.horizon_v() < 0  # steeply down: no sky in the picture
    image, drawn = frames[-1]
    assert image.shape == (540, 960, 3) and len(drawn) >= 5
    vehicles = [d for d in drawn if d.pose.cls != "person"]
    assert vehicles and all(8 <= d.proj.height_px <= 80 for d in vehicles)  # small, seen from above
    truth = sim.truth(len(frames) - 1, drawn)
    # the truth's ground centres project into their boxes through the drone's own geometry
    for obj in truth["objects"]:
        u, v = lonlat_to_pixel(view, obj["lon"], obj["lat"])
        x0, y0, x1, y1 = obj["bbox"]
        if obj["visible"] == 1.0:
            assert x0 - 1 <= u <= x1 + 1 and y0 - 1 <= v <= y1 + 1, obj
    assert cv2.imwrite(str(tmp_path / "aerial.png"), image)


def test_truth_boxes_geolocated_through_telemetry_land_on_the_truth(aerial):
    """The simulator's exact boxes through the pipeline with the drone's pose from its telemetry:
    what remains is the foot-point model (box bottom + half the object's depth)."""
    view, sim, frames = aerial
    detector = ScriptedDetector()
    detector.names = ("car", "bus", "truck", "hazmat_tanker", "person")
    analyzer = FrameAnalyzer(detector, [_drone_camera()])
    for k in range(-1, 10):  # the hovering drone reports once a second
        analyzer.poses.add(_pose(T0 + k, lon=view.lon, lat=view.lat, heading_deg=30.0, gimbal_yaw_deg=30.0))
    errors = []
    for i, (image, drawn) in enumerate(frames):
        truth = sim.truth(i, drawn)["objects"]
        truth = [o for o in truth if o["visible"] == 1.0 and o["occluded"] < 0.2]
        if not truth:
            continue
        # truth boxes have integer pixel centres; detectors' boxes are continuous (+0.5)
        boxes = np.array([o["bbox"] for o in truth]) + np.array([0.0, 0.0, 1.0, 1.0])
        cls = [detector.names.index(o["cls"]) for o in truth]
        detector.next = [TrackedBoxes(boxes, [0.9] * len(truth), cls, [o["track_id"] for o in truth],
                                      detector.names)]
        observations = _rows(analyzer.analyze([Frame("UAV-01", i, T0 + i / sim.fps, image)]))
        for obs, o in zip(observations, truth):
            if obs.lon is not None:
                errors.append(_ground_error_m(obs.lon, obs.lat, o["lon"], o["lat"]))
    print(f"truth boxes through telemetry: {len(errors)} positions, median {np.median(errors):.2f} m, "
          f"p90 {np.percentile(errors, 90):.2f} m")
    assert len(errors) > 100
    assert np.median(errors) < 1.5 and np.percentile(errors, 90) < 3.0, (np.median(errors), np.percentile(errors, 90))


def test_moving_vehicles_detected_in_the_aerial_clip_are_located_within_metres(aerial):
    """A real detector (background subtraction: the hovering camera is steady) on the rendered
    frames: its boxes, geolocated through the telemetry, match the simulator's truth."""
    from zhizhi.video.detectors import make_detector

    view, sim, frames = aerial
    detector = make_detector("motion", min_area_px=60, work_width=960, warmup_frames=10, merge_gap_px=2)
    analyzer = FrameAnalyzer(detector, [_drone_camera()])
    for k in range(-1, 10):
        analyzer.poses.add(_pose(T0 + k, lon=view.lon, lat=view.lat))
    errors, located = [], 0
    for i, (image, drawn) in enumerate(frames):
        observations = _rows(analyzer.analyze([Frame("UAV-01", i, T0 + i / sim.fps, image)]))
        truth = [o for o in sim.truth(i, drawn)["objects"] if o["cls"] != "person"]
        for obs in observations:
            if obs.lon is None or not truth:
                continue
            located += 1
            best = max(truth, key=lambda o: _iou(obs.bbox, o["bbox"]))
            if _iou(obs.bbox, best["bbox"]) >= 0.5:
                errors.append(_ground_error_m(obs.lon, obs.lat, best["lon"], best["lat"]))
    print(f"motion detections through telemetry: {located} located, {len(errors)} matched, "
          f"median {np.median(errors):.2f} m, p90 {np.percentile(errors, 90):.2f} m")
    assert located >= 30 and len(errors) >= 0.7 * located, (located, len(errors))
    assert np.median(errors) < 3.0, np.median(errors)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


_FRAME = MetricFrame.around(LON, LAT)


def _ground_error_m(lon: float, lat: float, lon_t: float, lat_t: float) -> float:
    x, y = _FRAME.to_metric([lon, lon_t], [lat, lat_t])
    return float(math.hypot(x[0] - x[1], y[0] - y[1]))


# ----------------------------------------------------------------------- the API's scoping


@pytest.fixture(scope="module")
def console(tmp_path_factory, module_database_url):
    from fastapi.testclient import TestClient

    from tests.auth_support import bearer, create_test_users, login, small_console_settings
    from tests.wall_support import FakeWorker
    from zhizhi.console.app import create_app
    from zhizhi.console.state import open_console

    settings = small_console_settings(tmp_path_factory.mktemp("drone-video"), database_url=module_database_url)
    state = open_console(settings)
    users = create_test_users(state)
    state.workers.append(FakeWorker({"UAV-01": "drone"}))
    with TestClient(create_app(settings, state=state)) as client:
        heads = {name: bearer(login(client, name)) for name in (users.district, users.operator_a, users.operator_b)}
        yield state, client, users, heads
    state.close()


def _fly_over(state, town: str, ts: float) -> None:
    p = state.jurisdictions.get(town).geometry.representative_point()
    assert state.ingest_drone(_pose(ts, lon=p.x, lat=p.y))


def test_drone_video_is_served_to_the_town_it_is_over_and_to_no_other(console):
    state, client, users, heads = console
    _fly_over(state, users.town_a, time.time() - 5)
    ticket = client.post("/api/auth/ticket", headers=heads[users.operator_a]).json()["ticket"]
    for head in (heads[users.operator_a], heads[users.district]):
        r = client.get("/api/cameras/UAV-01/frame.jpg", headers=head)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert client.get(f"/api/cameras/UAV-01/frame.jpg?ticket={ticket}").status_code == 200
    with client.stream("GET", "/api/cameras/UAV-01/mjpeg", headers=heads[users.operator_a]) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("multipart/x-mixed-replace")
    # the other town: as if there were no such drone
    for suffix in ("frame.jpg", "mjpeg"):
        with client.stream("GET", f"/api/cameras/UAV-01/{suffix}", headers=heads[users.operator_b]) as r:
            assert r.status_code == 404 and "UAV-01" in r.read().decode()
    assert client.get("/api/cameras/UAV-99/frame.jpg", headers=heads[users.district]).status_code == 404
    # the drone flies over to town B: now B sees it and A does not
    _fly_over(state, users.town_b, time.time())
    assert client.get("/api/cameras/UAV-01/frame.jpg", headers=heads[users.operator_b]).status_code == 200
    assert client.get("/api/cameras/UAV-01/frame.jpg", headers=heads[users.operator_a]).status_code == 404
