"""Camera configs of the shared real clips: how ``tests/data/real_footage_cameras`` was made.

The clips' real positions are unknown, so each camera gets a metric ground plane built from what
its picture shows, placed around an arbitrary origin east of the demo district (so no district
zone covers it). How each was measured is in docs/backtest.md ("Camera configs of the real
clips"); ``python -m zhizhi.bench.real_footage_cameras [DIR]`` writes them again.

- highway: nine lane-dash centres measured on frame 0 (US markings: 3.05 m dashes every 12.19 m,
  3.66 m lanes); the second line's dash phase (7.01 m) comes from a pinhole fit (square pixels,
  centred principal point) of the same dashes, which also puts the two edge lines, not used in
  the fit, at -3.65 m and +7.34 m (three 3.66 m lanes).
- parking lot: a pinhole (f 1260 px, pitch 42.9 deg, height 10.3 m) fitted to one car (mirror
  width 2.0 m seen at two rows, body length 4.63 m at two places); pixels of a grid mapped
  through it.
- indoor: a pinhole (f 665 px assumed, pitch 41.6 deg, height 3.36 m) from the bar table (base
  0.6 m wide, about 0.5 m from the wall); rough, there only so the floor has metres.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from zhizhi.gis.metric import MetricFrame
from zhizhi.video.calibration import Calibration

#: Ground origins (lon, lat) of the three cameras' local frames: arbitrary, 2 km apart, east of the demo district.
ORIGINS = {
    "highway_720p_24fps": (121.10, 32.20),
    "parking_lot_768x432_12fps": (121.12, 32.20),
    "indoor_people_768x432_10fps": (121.14, 32.20),
}

#: Highway, frame 0: centres of lane dashes (pixels) and their ground position (metres, x across
#: the road to the right, y along it away from the camera = north). Line 1 at x = 0, line 2 at x = 3.66.
DASH = 3.05
PERIOD = 12.19
LANE = 3.66
PHASE_2 = 7.008
HIGHWAY_PIXELS = [(531.6, 653.7), (542.3, 561.3), (549.8, 495.7), (554.7, 447.5), (558.8, 408.4),
                  (747.6, 595.0), (724.1, 520.3), (706.4, 464.9), (692.4, 423.1)]
HIGHWAY_GROUND = ([(0.0, DASH / 2 + PERIOD * k) for k in range(5)]
                  + [(LANE, PHASE_2 + DASH / 2 + PERIOD * k) for k in range(4)])
#: Where the fitted pinhole puts the highway camera (frame metres, height) and its field of view.
HIGHWAY_CAMERA = (0.99, -57.84, 8.51)
HIGHWAY_HFOV = 19.0
#: The road's limit is not posted in view: 65 mph, a usual US urban freeway limit (an assumption).
HIGHWAY_LIMIT_KMH = 105.0
PARKING_LIMIT_KMH = 15.0


def pinhole_ground(u: float, v: float, size: tuple[int, int], f: float, pitch_deg: float,
                   height_m: float) -> tuple[float, float]:
    """Ground point (x right, y forward, metres from the foot of the camera) of pixel (u, v) for a
    camera with a centred principal point, no roll, pitched down by ``pitch_deg``."""
    cx, cy = size[0] / 2, size[1] / 2
    th = math.radians(pitch_deg)
    a = (v - cy) / f
    y = height_m * (math.cos(th) - a * math.sin(th)) / (a * math.cos(th) + math.sin(th))
    depth = y * math.cos(th) + height_m * math.sin(th)
    return (u - cx) * depth / f, y


def _fit(name: str, pixels, ground, size) -> Calibration:
    frame = MetricFrame.around(*ORIGINS[name])
    gx, gy = frame.to_lonlat(np.array([g[0] for g in ground]), np.array([g[1] for g in ground]))
    return Calibration.fit(pixels, np.column_stack([gx, gy]), origin=ORIGINS[name], image_size=size)


def _lonlat(name: str, x: float, y: float) -> tuple[float, float]:
    lon, lat = MetricFrame.around(*ORIGINS[name]).to_lonlat(x, y)
    return round(float(lon), 8), round(float(lat), 8)


def _grid(size, f, pitch, height, rows):
    w = size[0]
    pixels = [(u, v) for v in rows for u in (20.0, w / 2, w - 20.0)]
    return pixels, [pinhole_ground(u, v, size, f, pitch, height) for u, v in pixels]


def configs() -> dict[str, dict]:
    """The three camera configs (JSON-ready), by clip name."""
    out = {}
    name = "highway_720p_24fps"
    cal = _fit(name, HIGHWAY_PIXELS, HIGHWAY_GROUND, (1280, 720))
    lanes = [{"id": f"lane{i + 1}", "line": [_lonlat(name, x, 95.0), _lonlat(name, x, -5.0)], "width_m": LANE,
              "speed_limit_kmh": HIGHWAY_LIMIT_KMH}
             for i, x in enumerate((-LANE / 2, LANE / 2, LANE * 1.5))]
    lon, lat = _lonlat(name, *HIGHWAY_CAMERA[:2])
    out[name] = {"id": "REAL-HIGHWAY", "name": "Real clip: highway (calibrated from lane dashes)",
                 "source": {"url": f"{name}.mp4", "kind": "file"}, "lon": lon, "lat": lat, "heading_deg": 0.0,
                 "hfov_deg": HIGHWAY_HFOV, "range_m": 160.0, "speed_limit_kmh": HIGHWAY_LIMIT_KMH,
                 "lanes": lanes, "calibration": cal.model_dump(mode="json")}
    name = "parking_lot_768x432_12fps"
    pixels, ground = _grid((768, 432), 1260.0, 42.86, 10.34, rows=(20.0, 216.0, 412.0))
    lon, lat = _lonlat(name, 0.0, 0.0)
    out[name] = {"id": "REAL-PARKING", "name": "Real clip: car park (calibrated from a car's size)",
                 "source": {"url": f"{name}.mp4", "kind": "file"}, "lon": lon, "lat": lat, "heading_deg": 0.0,
                 "hfov_deg": 33.9, "range_m": 30.0, "speed_limit_kmh": PARKING_LIMIT_KMH,
                 "calibration": _fit(name, pixels, ground, (768, 432)).model_dump(mode="json")}
    name = "indoor_people_768x432_10fps"
    size = (768, 432)
    pixels, ground = _grid(size, 665.0, 41.59, 3.36, rows=(260.0, 340.0, 412.0))  # the floor: the wall is above 245
    lon, lat = _lonlat(name, 0.0, 0.0)
    out[name] = {"id": "REAL-INDOOR", "name": "Real clip: indoor room (floor calibrated from a table)",
                 "source": {"url": f"{name}.mp4", "kind": "file"}, "lon": lon, "lat": lat, "heading_deg": 0.0,
                 "hfov_deg": 60.0, "range_m": 10.0,
                 "calibration": _fit(name, pixels, ground, size).model_dump(mode="json")}
    return out


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, config in configs().items():
        path = folder / f"{name}.camera.json"
        path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[1] / "tests" / "data" / "real_footage_cameras"
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else default):
        print(p)
