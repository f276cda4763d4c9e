"""What the wall's browser tests put into a real console: alerts, camera states, tracks, video.

Everything goes through the console's own paths: alerts through ``state.alerts.ingest`` (the
alert service stores, routes and publishes them on the bus, the live bridge hands them to the
websocket hub), camera states and frame batches on ``state.bus`` as a worker publishes them,
and live video through ``state.workers`` — :class:`FakeWorker` stands in for a frame-analysis
worker with JPEGs drawn by OpenCV, so the MJPEG tiles play without a detector.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from zhizhi.bus import Topic
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.models.warning.record import WarningEvent


def board_console_settings(data_dir):
    """Settings of a small wall console of its own for the board's browser tests: 24 grids, 4
    cameras, no tile server (whatever the environment says), no warning model, no deadline watch."""
    from zhizhi.console.settings import AlertSettings, DemoSettings, MapSettings, Settings, WarningSettings

    return Settings(
        data_dir=data_dir,
        demo=DemoSettings(seed=11, grids=24, towns=3, villages_per_town=2, cameras=4),
        map=MapSettings(),
        warning=WarningSettings(enabled=False),
        alerts=AlertSettings(check_interval_s=0),
    )


def road_jpeg(camera_id: str, name: str, tint: int = 0) -> bytes:
    """A synthetic road view (labelled as such) for a camera's tile."""
    h, w = 360, 640
    img = np.zeros((h, w, 3), np.uint8)
    sky = np.linspace(70, 25, h // 2, dtype=np.float32)[:, None]
    img[: h // 2] = np.stack([sky + 40, sky + 20, sky], axis=-1).astype(np.uint8)
    img[h // 2 :] = (48, 52, 50)
    road = np.array([[w * 0.42, h * 0.5], [w * 0.58, h * 0.5], [w * 0.98, h], [w * 0.02, h]], np.int32)
    cv2.fillPoly(img, [road], (78, 80, 82))
    for k in range(6):  # dashed centre line
        y0 = int(h * 0.52 + k * h * 0.09)
        cv2.line(img, (w // 2, y0), (w // 2, y0 + int(h * 0.04)), (220, 220, 220), 2 + k // 2)
    x = 60 + (tint * 9) % 420
    cv2.rectangle(img, (x, 250), (x + 120, 310), (0, 110, 255), -1)  # an orange tanker (BGR)
    cv2.rectangle(img, (x + 120, 262), (x + 160, 310), (40, 40, 40), -1)
    cv2.rectangle(img, (x - 6, 244), (x + 166, 316), (0, 255, 0), 2)  # its detection box
    cv2.putText(img, "#7 0.91", (x - 4, 238), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)  # no words (annotate)
    cv2.putText(img, f"{camera_id}  SYNTHETIC", (12, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    cv2.putText(img, time.strftime("%Y-%m-%d %H:%M:%S"), (12, 56), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                (230, 230, 230), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return buf.tobytes()


class FakeWorker:
    """``latest_jpeg(camera_id)`` of a frame-analysis worker, for the cameras it was given.

    Like a real worker it has a new frame every ``1 / fps`` seconds. That matters: a browser
    shows a part of a multipart MJPEG stream once the next part begins, so a stream whose
    frame never changes would show nothing.
    """

    def __init__(self, cameras: dict[str, str], fps: float = 5.0) -> None:
        self.cameras = dict(cameras)
        self.period = 1.0 / fps
        self._frames: dict[str, tuple[int, bytes]] = {}
        self.asked: list[str] = []

    def latest_jpeg(self, camera_id: str) -> bytes | None:
        self.asked.append(camera_id)
        if camera_id not in self.cameras:
            return None
        tick = int(time.time() / self.period)
        cached = self._frames.get(camera_id)
        if cached is None or cached[0] != tick:
            index = list(self.cameras).index(camera_id)
            cached = (tick, road_jpeg(camera_id, self.cameras[camera_id], index * 5 + tick % 40))
            self._frames[camera_id] = cached
        return cached[1]


def publish_status(state, camera_id: str, source_state: str = "online") -> None:
    """A camera's source state on the bus, as a worker reports it."""
    from zhizhi.video.status import CameraStatus

    status = CameraStatus(camera_id=camera_id, state=source_state, fps=5.0 if source_state == "online" else 0.0,
                          since=time.time())
    state.bus.publish(Topic.CAMERA_STATUS, status)


def publish_tracks(state, camera_id: str, ts: float, tracks: list[dict]) -> None:
    """One analysed frame's observations on the bus (the live bridge turns them into tracks)."""
    rows = [{"conf": 0.9, "bbox": [0, 0, 1, 1], **t} for t in tracks]
    state.bus.publish(Topic.FRAMES, ObservationBatch.from_rows(camera_id, ts, rows))


def offset(lon: float, lat: float, heading_deg: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lon, lat) towards ``heading_deg`` (fine for a few hundred m)."""
    h = math.radians(heading_deg)
    dlat = metres * math.cos(h) / 111_320.0
    dlon = metres * math.sin(h) / (111_320.0 * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


@dataclass(frozen=True)
class Spot:
    """A place for an alert: a point, its grid, and the cameras that see it (nearest first)."""

    lon: float
    lat: float
    grid: str
    cameras: tuple[str, ...]


def covered_spot(state, town: str = "", *, at_least: int = 2, skip: tuple[str, ...] = ()) -> Spot:
    """A point in ``town`` ("" the whole district) that ``at_least`` of its cameras see (the
    best found if none does); points are tried across each camera's field of view."""
    best: Spot | None = None
    for camera in state.cameras.cameras:
        if not (camera.grid or "").startswith(town) or camera.id in skip:
            continue
        for fraction in (0.35, 0.55, 0.75, 0.9, 0.15):
            for across in (0.0, -0.3, 0.3, -0.45, 0.45):
                heading = camera.heading_deg + across * camera.hfov_deg
                lon, lat = offset(camera.lon, camera.lat, heading, camera.range_m * fraction)
                loc = state.jurisdictions.locate(lon, lat)
                if not loc.grid.startswith(town):
                    continue
                seen = tuple(
                    h.id for h in state.cameras.covering(lon, lat) if (h.camera.grid or "").startswith(town)
                )
                spot = Spot(lon, lat, loc.grid, seen)
                if best is None or len(seen) > len(best.cameras):
                    best = spot
                if len(seen) >= at_least:
                    return spot
    assert best is not None, f"no camera in {town or 'the district'}"
    return best


def raise_alert(state, spot: Spot, *, track_id: int, severity: str = "orange", rule: str = "abnormal_stop",
                rule_id: str = "hazmat-abnormal-stop", cls: str = "hazmat_tanker", age_s: float = 60.0):
    """A real alert through the alert service (stored, routed, published on the bus)."""
    now = time.time()
    camera = spot.cameras[0] if spot.cameras else None
    warning = WarningEvent(rule=rule, rule_id=rule_id, severity=severity, camera_id=camera,
                           cameras=list(spot.cameras), track_id=track_id, cls=cls, lon=spot.lon,
                           lat=spot.lat, first_ts=now - age_s, last_ts=now,
                           details={"stopped_s": round(age_s, 1)})
    alert = state.alerts.ingest(warning)
    assert alert is not None, "the alert service did not raise the alert"
    return alert
