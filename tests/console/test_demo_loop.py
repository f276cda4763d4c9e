"""Twenty minutes of the demo's looping tanker scene give one abnormal-stop alert, not one per loop.

The demo plays its hazmat scene in a loop, each pass with new track ids (as a real tracker
would give after losing the parked tanker). The demo's own scene is rendered and analysed once
by the shipped detector; its observations are then played for 20 minutes of stream time, each
pass with new track ids, through the warning model and the alert service on a fresh SQLite
file — the chain the demo runs, less the repeated detection of identical frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from zhizhi.alerts.service import AlertService
from zhizhi.alerts.store import AlertStore
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.console.cli_video import build_detector
from zhizhi.console.demo_video import plan_scenes
from zhizhi.console.state import locator, read_zones
from zhizhi.layers import make_engine
from zhizhi.models.warning.config import load_model
from zhizhi.models.warning.engine import WarningEngine
from zhizhi.models.warning.scene import places_for
from zhizhi.video.offline import analyze_file

T0 = 1_780_000_000.0
DEMO_MINUTES = 20
TRACKS_PER_PASS = 100_000  # a new pass starts its track ids above the last pass's


@pytest.fixture(scope="module")
def demo_pass(console_state):
    """The demo's hazmat camera, and one pass of its scene as the shipped detector sees it."""
    scene = plan_scenes(console_state, 1, seed=7)[0]
    assert scene.scenario == "hazmat-stop"
    scene.render()
    detector = build_detector(console_state.settings)
    batches = list(analyze_file(scene.clip, scene.config, detector, start_ts=0.0))
    length = (len(batches) + 1) / scene.config.analysis_fps
    return scene.config, batches, length


def _loop(batches: list[ObservationBatch], length: float, minutes: float):
    """The scene played for ``minutes`` from T0, each pass with new track ids."""
    passes = int(np.ceil(minutes * 60 / length))
    for k in range(passes):
        for b in batches:
            yield ObservationBatch(
                camera_id=b.camera_id, ts=T0 + k * length + b.ts, track_id=b.track_id + k * TRACKS_PER_PASS,
                cls=b.cls, conf=b.conf, xyxy=b.xyxy, lon=b.lon, lat=b.lat, speed_kmh=b.speed_kmh,
                heading_deg=b.heading_deg,
            )


def _run(console_state, tmp_path, camera, batches, length, *, close_after_s: float | None = None):
    """Alerts of the demo's loop; ``close_after_s``: the duty officer resolves the first alert then."""
    clock_now = [T0]
    service = AlertService(AlertStore(make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")),
                           locator(console_state.jurisdictions), clock=lambda: clock_now[0],
                           district=console_state.jurisdictions.district_code)
    engine = WarningEngine(load_model(), places_for([camera], read_zones(console_state.registry)))
    closed = False
    for batch in _loop(batches, length, DEMO_MINUTES):
        clock_now[0] = batch.ts
        for warning in engine.process_frame(batch):
            service.ingest(warning)
        if close_after_s is not None and not closed and batch.ts - T0 >= close_after_s:
            first = service.list(status=["new"])[0]
            service.transition(first.id, "resolved", "duty", "driver called, moved on")
            closed = True
    for warning in engine.flush():
        service.ingest(warning)
    return service


def test_twenty_minutes_of_the_demo_loop_is_one_abnormal_stop_alert(console_state, tmp_path, demo_pass):
    camera, batches, length = demo_pass
    passes = int(np.ceil(DEMO_MINUTES * 60 / length))
    service = _run(console_state, tmp_path, camera, batches, length)
    stops = [a for a in service.list(limit=1000) if a.rule == "abnormal_stop"]
    assert len(stops) == 1, [(a.id, a.track_ids, a.first_ts - T0) for a in stops]
    alert = stops[0]
    assert alert.cls == "hazmat_tanker" and alert.camera_id == camera.id
    # every pass's tanker joined it: one track (at least) per pass, and it spans the 20 minutes
    passes_seen = {t // TRACKS_PER_PASS for t in alert.track_ids}
    assert len(passes_seen) >= passes - 1, (sorted(passes_seen), passes)
    assert alert.last_ts - alert.first_ts >= (DEMO_MINUTES - 2) * 60
    assert service.counters["created"] == len(service.list(limit=1000))


def test_after_the_alert_is_resolved_the_next_stop_is_a_new_alert(console_state, tmp_path, demo_pass):
    camera, batches, length = demo_pass
    service = _run(console_state, tmp_path, camera, batches, length, close_after_s=length * 2.5)
    stops = sorted((a for a in service.list(limit=1000) if a.rule == "abnormal_stop"), key=lambda a: a.first_ts)
    assert [a.status for a in stops] == ["resolved", "new"]
    assert stops[1].first_ts >= T0 + length * 2.5 - 60  # the stop after the closing
