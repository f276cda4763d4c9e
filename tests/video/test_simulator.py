"""The scene simulator: outputs, determinism, scenario events, calibration, truth boxes, dataset."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely
import yaml

from zhizhi.gis.metric import MetricFrame, geodesic_distance_m
from zhizhi.video.camera_config import load_camera_configs
from zhizhi.video.observation import CLASSES
from zhizhi.video.simulator import (
    SCENARIOS,
    SceneInfo,
    Variation,
    build_simulation,
    export_yolo_dataset,
    simulate,
)
from zhizhi.video.simulator.camera import PinholeCamera

DAY = Variation(night=False, rain=0.0, noise=0.0, shake=0.0, brightness=1.0, color_temp=0.0)
VEHICLES = {"car", "bus", "truck", "hazmat_tanker"}
TRUTH_KEYS = {
    "track_id", "cls", "bbox", "visible", "occluded", "lon", "lat", "x_m", "y_m", "speed_kmh", "heading_deg",
    "length_m", "width_m", "stopped",
}


def _truth(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]


def _scene(out: Path) -> dict:
    return json.loads((out / "scene.json").read_text())


def _decoded(clip: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def _angle_diff(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _lane_heading(lane: dict, lon: float, lat: float, frame: MetricFrame) -> float:
    """Compass direction of travel of a lane (scene.json) at the point nearest to lon/lat."""
    pts = np.array(lane["line"])
    x, y = frame.to_metric(pts[:, 0], pts[:, 1])
    px, py = frame.to_metric(lon, lat)
    i = int(np.argmin(np.hypot(x - px, y - py)))
    i = min(i, len(x) - 2)
    return math.degrees(math.atan2(x[i + 1] - x[i], y[i + 1] - y[i])) % 360.0


@pytest.fixture(scope="module")
def hazmat_stop(tmp_path_factory):
    out = tmp_path_factory.mktemp("hazmat-stop")
    result = simulate("hazmat-stop", 4242, out, fps=5.0, variation=DAY.model_copy(update={"shake": 2.5}),
                      params={"stop_s": 12.0})
    return out, result


@pytest.fixture(scope="module")
def steady_normal(tmp_path_factory):
    out = tmp_path_factory.mktemp("normal")
    return out, simulate("normal", 21, out, duration_s=4.0, variation=DAY)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_writes_consistent_outputs(scenario, tmp_path):
    result = simulate(scenario, 7, tmp_path, duration_s=2.0, fps=10.0)
    assert result.clip == tmp_path / "clip.mp4" and result.frames == 20
    frames = _decoded(result.clip)
    truth = _truth(tmp_path)
    assert len(frames) == len(truth) == result.frames
    assert frames[0].shape == (720, 1280, 3)
    assert [r["frame"] for r in truth] == list(range(20))
    assert truth[3]["ts"] == pytest.approx(0.3)
    assert sum(len(r["objects"]) for r in truth) > 0
    for record in truth:
        for obj in record["objects"]:
            assert set(obj) == TRUTH_KEYS and obj["cls"] in CLASSES
            x1, y1, x2, y2 = obj["bbox"]
            assert 0 <= x1 < x2 <= 1279 and 0 <= y1 < y2 <= 719
            assert 0 < obj["visible"] <= 1 and 0 <= obj["occluded"] <= 1
            assert math.hypot(obj["x_m"], obj["y_m"]) <= 250.0 + 1e-6
            assert 0 <= obj["heading_deg"] < 360 and obj["speed_kmh"] >= 0
    camera = load_camera_configs(tmp_path / "camera.json")[0]
    assert camera.id == f"SIM-{scenario}-7" and camera.source.url == "clip.mp4"
    assert camera.calibration is not None and len(camera.calibration.pixels) >= 8
    assert camera.calibration.image_size == (1280, 720) and camera.analysis_fps == 10.0
    scene = SceneInfo.model_validate_json((tmp_path / "scene.json").read_text())
    assert scene.scenario == scenario and scene.road.speed_limit_kmh == 80.0
    assert len(scene.road.lanes) == 2 * scene.road.lanes_per_direction
    assert 6.0 <= scene.camera.height_m <= 12.0 and 10.0 <= scene.camera.pitch_deg <= 25.0
    assert 55.0 <= scene.camera.hfov_deg <= 75.0


def test_same_inputs_give_identical_outputs(tmp_path):
    look = Variation(night=True, rain=0.6, noise=4.0, shake=2.0)
    a = simulate("crowd", 99, tmp_path / "a", duration_s=1.5, variation=look)
    b = simulate("crowd", 99, tmp_path / "b", duration_s=1.5, variation=look)
    assert (tmp_path / "a" / "truth.jsonl").read_bytes() == (tmp_path / "b" / "truth.jsonl").read_bytes()
    assert (tmp_path / "a" / "scene.json").read_bytes() == (tmp_path / "b" / "scene.json").read_bytes()
    fa, fb = _decoded(a.clip), _decoded(b.clip)
    assert len(fa) == len(fb) == 15
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    other = simulate("crowd", 100, tmp_path / "c", duration_s=1.5, variation=look)
    assert _truth(tmp_path / "c") != _truth(tmp_path / "a")
    assert not np.array_equal(_decoded(other.clip)[0], fa[0])


def test_variation_is_drawn_from_the_seed_unless_set():
    looks = [Variation().resolve(np.random.default_rng(s)) for s in range(60)]
    assert all(v.resolved for v in looks)
    assert any(v.night for v in looks) and not all(v.night for v in looks)
    assert any(v.rain for v in looks) and any(v.shake for v in looks) and any(v.noise for v in looks)
    assert (
        build_simulation("normal", 3, duration_s=0.5).variation
        == build_simulation("normal", 3, duration_s=0.5).variation
    )
    forced = build_simulation("normal", 3, duration_s=0.5, variation=Variation(night=True, rain=0.0)).variation
    assert forced.night is True and forced.rain == 0.0


def test_night_and_rain_change_the_picture_but_not_the_truth():
    day = build_simulation("normal", 8, duration_s=1.0, variation=DAY)
    night = build_simulation("normal", 8, duration_s=1.0, variation=DAY.model_copy(update={"night": True}))
    rain = build_simulation("normal", 8, duration_s=1.0, variation=DAY.model_copy(update={"rain": 1.0}))
    images, truths = [], []
    for sim in (day, night, rain):
        image, drawn = sim.render(5, sim.poses(sim.times())[5])
        images.append(image)
        truths.append(sim.truth(5, drawn))
    assert truths[0] == truths[1] == truths[2]
    assert images[1].mean() < 0.6 * images[0].mean()
    assert images[2].std() < images[0].std()


def test_hazmat_stop_tanker_stops_for_the_configured_time(hazmat_stop):
    out, _ = hazmat_stop
    scene, truth = _scene(out), _truth(out)
    facts = scene["facts"]
    tanker = facts["tanker_track_id"]
    track = [(r["ts"], o) for r in truth for o in r["objects"] if o["track_id"] == tanker]
    assert track and all(o["cls"] == "hazmat_tanker" for _, o in track)
    stopped = [ts for ts, o in track if o["stopped"]]
    assert stopped, "the tanker never stops"
    assert min(stopped) == pytest.approx(facts["stop_start_ts"], abs=0.25)
    assert max(stopped) == pytest.approx(facts["stop_end_ts"], abs=0.25)
    assert max(stopped) - min(stopped) == pytest.approx(12.0, abs=0.45)
    assert all(
        o["speed_kmh"] == 0.0 for ts, o in track if facts["stop_start_ts"] + 0.1 < ts < facts["stop_end_ts"] - 0.1
    )
    assert any(o["speed_kmh"] > 30 for ts, o in track if ts < facts["stop_start_ts"] - 5)
    assert any(o["speed_kmh"] > 15 for ts, o in track if ts > facts["stop_end_ts"])
    # on the hard shoulder, fully in view and big enough to detect while stopped
    shoulders = [shapely.Polygon(ring) for ring in scene["road"]["shoulders"]]
    for ts, o in track:
        if o["stopped"]:
            assert any(s.contains(shapely.Point(o["lon"], o["lat"])) for s in shoulders)
            assert o["visible"] == 1.0 and o["bbox"][3] - o["bbox"][1] >= 40
    others = [o for r in truth for o in r["objects"] if o["track_id"] != tanker and o["cls"] in VEHICLES]
    assert others and not any(o["stopped"] for o in others)
    assert not any(o["cls"] == "hazmat_tanker" for o in others)


def test_shaken_boxes_follow_the_shaken_image(hazmat_stop):
    out, result = hazmat_stop
    facts, truth = _scene(out)["facts"], _truth(out)
    frames = _decoded(result.clip)
    boxes = {
        r["frame"]: o["bbox"] for r in truth for o in r["objects"]
        if o["track_id"] == facts["tanker_track_id"] and o["stopped"]
    }
    ids = sorted(boxes)
    shifts = np.array([np.subtract(boxes[i][:2], boxes[ids[0]][:2]) for i in ids])
    assert np.abs(shifts).max() >= 1.0, "a shaking camera should move the boxes of a stopped vehicle"
    assert np.abs(shifts).max() <= 2 * 3.0 + 0.01
    checked = 0
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in frames]
    for i in ids[1:12]:
        (dx, dy), _ = cv2.phaseCorrelate(grey[ids[0]], grey[i])
        expected = np.subtract(boxes[i][:2], boxes[ids[0]][:2])
        assert abs(dx - expected[0]) <= 1.0 and abs(dy - expected[1]) <= 1.0, (i, dx, dy, expected)
        checked += 1
    assert checked >= 10


def test_wrong_way_car_drives_against_its_lane(tmp_path):
    simulate("wrong-way", 12, tmp_path, fps=4.0, variation=DAY)
    scene, truth = _scene(tmp_path), _truth(tmp_path)
    facts = scene["facts"]
    frame = MetricFrame.around(scene["camera"]["lon"], scene["camera"]["lat"])
    lane = next(lane for lane in scene["road"]["lanes"] if lane["id"] == facts["lane_id"])
    seen = [o for r in truth for o in r["objects"] if o["track_id"] == facts["wrong_way_track_id"]]
    assert len(seen) >= 10 and all(o["cls"] == "car" for o in seen)
    for o in seen:
        assert _angle_diff(o["heading_deg"], _lane_heading(lane, o["lon"], o["lat"], frame)) > 170.0
    lanes = [(ln, shapely.LineString(np.column_stack(frame.to_metric(*np.array(ln["line"]).T))))
             for ln in scene["road"]["lanes"]]
    checked = 0
    for r in truth:  # everyone else drives with their lane
        for o in r["objects"]:
            if o["cls"] in VEHICLES and o["track_id"] != facts["wrong_way_track_id"] and o["speed_kmh"] > 5:
                point = shapely.Point(o["x_m"], o["y_m"])
                nearest = min(lanes, key=lambda item: item[1].distance(point))[0]
                assert _angle_diff(o["heading_deg"], _lane_heading(nearest, o["lon"], o["lat"], frame)) < 10.0
                checked += 1
    assert checked > 50


def test_speeding_vehicle_exceeds_the_limit(tmp_path):
    simulate("speeding", 31, tmp_path, fps=5.0, variation=DAY)
    scene, truth = _scene(tmp_path), _truth(tmp_path)
    limit = scene["road"]["speed_limit_kmh"]
    fast = scene["facts"]["speeding_track_id"]
    seen = [o for r in truth for o in r["objects"] if o["track_id"] == fast]
    assert len(seen) >= 10
    assert all(110.0 <= o["speed_kmh"] <= 131.0 for o in seen) and limit == 80.0
    assert all(o["speed_kmh"] <= limit + 0.5 for r in truth for o in r["objects"] if o["track_id"] != fast)


def test_crowd_gathers_in_its_area(tmp_path):
    simulate("crowd", 5, tmp_path, fps=2.0, variation=DAY)
    scene, truth = _scene(tmp_path), _truth(tmp_path)
    area = shapely.Polygon(next(z for z in scene["zones"] if z["kind"] == "crowd_area")["polygon"])
    crowd = set(scene["facts"]["crowd_track_ids"])
    last = truth[-1]["objects"]
    inside = [o for o in last if o["track_id"] in crowd and area.contains(shapely.Point(o["lon"], o["lat"]))]
    assert len(crowd) >= 15 and len(inside) >= 15
    assert all(o["stopped"] and o["cls"] == "person" for o in inside)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_calibration_maps_ground_pixels_within_centimetres(seed, tmp_path):
    sim = build_simulation("normal", seed, duration_s=0.2)
    from zhizhi.video.simulator.writer import camera_config

    path = tmp_path / "camera.json"
    path.write_text(camera_config(sim).model_dump_json())
    calibration = load_camera_configs(path)[0].calibration
    rng = np.random.default_rng(seed)
    cam = sim.camera
    gx, gy = rng.uniform(-120, 120, 4000), rng.uniform(-120, 250, 4000)
    u, v, z = cam.project(np.column_stack([gx, gy, np.zeros_like(gx)]))
    ok = (z > 1) & (u >= 0) & (u <= 1279) & (v >= 0) & (v <= 719) & (np.hypot(gx, gy) <= 250)
    assert ok.sum() > 200
    lon, lat = calibration.pixel_to_lonlat(u[ok], v[ok])
    true_lon, true_lat = sim.site.frame.to_lonlat(gx[ok], gy[ok])
    errors = geodesic_distance_m(lon, lat, true_lon, true_lat)
    assert errors.max() < 0.05, errors.max()


def test_truth_boxes_contain_the_projected_footprint(steady_normal):
    out, _ = steady_normal
    scene, truth = _scene(out), _truth(out)
    c = scene["camera"]
    cam = PinholeCamera(height_m=c["height_m"], heading_deg=c["heading_deg"], pitch_deg=c["pitch_deg"],
                        hfov_deg=c["hfov_deg"], width=1280, height=720)
    assert np.allclose(cam.intrinsics, c["intrinsics"])
    frame = MetricFrame.around(c["lon"], c["lat"])
    checked = 0
    for record in truth:
        for o in record["objects"]:
            x, y = frame.to_metric(o["lon"], o["lat"])
            assert abs(x - o["x_m"]) < 0.01 and abs(y - o["y_m"]) < 0.01
            if o["visible"] < 1.0:
                continue
            yaw = math.radians(o["heading_deg"])
            fwd, left = np.array([math.sin(yaw), math.cos(yaw)]), np.array([-math.cos(yaw), math.sin(yaw)])
            hl, hw = o["length_m"] / 2, o["width_m"] / 2
            corners = [np.array([o["x_m"], o["y_m"]]) + a * hl * fwd + b * hw * left for a in (-1, 1) for b in (-1, 1)]
            pts = np.array([[p[0], p[1], 0.0] for p in corners] + [[o["x_m"], o["y_m"], 0.0]])
            u, v, _ = cam.project(pts)
            x1, y1, x2, y2 = o["bbox"]
            slack = 0.05 if o["cls"] != "person" else 0.3 * (x2 - x1)  # a person's 0.5 m square is nominal
            if o["cls"] == "person":
                u, v = u[-1:], v[-1:]
            assert (u >= x1 - slack).all() and (u <= x2 + slack).all(), (o, u)
            assert (v >= y1 - 0.05).all() and (v <= y2 + 0.05).all(), (o, v)
            checked += 1
    assert checked > 50


def test_truth_boxes_match_the_drawn_pixels():
    """Unoccluded objects: the box edges are where the drawn object's pixels stop."""
    sim = build_simulation("normal", 21, duration_s=4.0, variation=DAY)
    poses = sim.poses(sim.times())[10]
    empty, _ = sim.render(10, [])
    checked = 0
    for pose in poses:
        image, drawn = sim.render(10, [pose])
        if not drawn or drawn[0].proj.visible < 1.0 or drawn[0].proj.height_px < 20:
            continue
        diff = np.abs(image.astype(int) - empty.astype(int)).max(axis=2)
        diff[[0, -1], :] = diff[:, [0, -1]] = 0  # anti-aliasing of props cut by the frame edge
        changed = np.argwhere(diff > 12)
        x1, y1, x2, y2 = drawn[0].proj.bbox
        (ry1, rx1), (ry2, rx2) = changed.min(axis=0), changed.max(axis=0)
        # daylight, no weather: what changed is the object itself (and props redrawn over it)
        assert abs(rx1 - x1) <= 1.5 and abs(rx2 - x2) <= 1.5 and abs(ry1 - y1) <= 1.5 and abs(ry2 - y2) <= 1.5
        checked += 1
    assert checked >= 5


def test_dataset_export_writes_yolo_layout(tmp_path):
    data = export_yolo_dataset(tmp_path / "ds", train_seeds=[1], val_seeds=[2], scenarios=["normal", "hazmat-stop"],
                               frames_per_clip=3, imgsz=320, progress=False)
    spec = yaml.safe_load(data.read_text())
    assert Path(spec["path"]) == (tmp_path / "ds").resolve()
    assert spec["train"] == "images/train" and spec["val"] == "images/val"
    assert [spec["names"][i] for i in range(len(CLASSES))] == list(CLASSES)
    seen = set()
    for split in ("train", "val"):
        images = sorted((tmp_path / "ds" / "images" / split).glob("*.jpg"))
        assert len(images) == 6
        for image in images:
            assert cv2.imread(str(image)).shape == (180, 320, 3)
            label = tmp_path / "ds" / "labels" / split / f"{image.stem}.txt"
            rows = [line.split() for line in label.read_text().splitlines()]
            assert rows, f"{label} has no boxes"
            for row in rows:
                assert len(row) == 5 and 0 <= int(row[0]) < len(CLASSES)
                cx, cy, w, h = map(float, row[1:])
                assert 0 < w <= 1 and 0 < h <= 1
                assert 0 <= cx - w / 2 + 1e-6 and cx + w / 2 - 1e-6 <= 1 and 0 <= cy - h / 2 + 1e-6
                assert cy + h / 2 - 1e-6 <= 1 and h * 180 >= 4.0
                seen.add(CLASSES[int(row[0])])
    assert {"car", "hazmat_tanker"} <= seen
    summary = json.loads((tmp_path / "ds" / "summary.json").read_text())
    assert summary["train"]["images"] == 6


def test_rendering_speed(capsys):
    sim = build_simulation("normal", 4242, duration_s=6.0)
    poses = sim.poses(sim.times())
    started = time.perf_counter()
    for i in range(sim.frames):
        sim.truth(i, sim.render(i, poses[i])[1])
    fps = sim.frames / (time.perf_counter() - started)
    with capsys.disabled():
        print(f"\nsimulator rendering: {fps:.0f} frames/s at 1280x720 (normal, seed 4242, {sim.frames} frames)")
    assert fps > 0
