"""The events mode: every camera recorded, only what alerts show kept (an alert on the bus marks
its cameras' segments from event_pre_s before to event_post_s after; the rest go after a hold)."""

from __future__ import annotations

import time

from tests.recording_support import SyntheticCamera, decoded_frames
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.video.recording.recorder import Recorder


class OneCameraWorker:
    """What the recorder reads of a worker: its cameras' runners and configs."""

    def __init__(self, camera: SyntheticCamera) -> None:
        self.runners = {camera.camera_id: camera}

    def config_of(self, camera_id: str):
        return None  # no source to copy: recorded from its frames


def alert(camera_id: str, first_ts: float, last_ts: float) -> AlertEvent:
    return AlertEvent(event="new", id="k3v9q2m7xa1b", key=f"stop|{camera_id}|1", severity="red", source="video",
                      category="abnormal_stop", cameras=[camera_id], camera_id=camera_id, lon=121.0, lat=32.0,
                      assignee_unit="320612001", first_ts=first_ts, last_ts=last_ts, created_ts=last_ts,
                      updated_ts=last_ts)


def test_only_what_alerts_show_is_kept(tmp_path):
    bus = InProcessBus()
    camera = SyntheticCamera("CAM-EV", fps=10).start()
    recorder = Recorder(tmp_path / "rec", mode="events", segment_s=0.5, fps=10, poll_s=0.1,
                        event_pre_s=0.5, event_post_s=0.5, event_hold_s=1.5).listen(bus.subscribe)
    recorder.follow(lambda: [OneCameraWorker(camera)])
    try:
        time.sleep(3.0)
        seen = time.time() - 1.2  # an alert whose object was first seen 1.2 s ago, last now
        bus.publish(Topic.ALERTS, alert("CAM-EV", seen, seen + 1.0))
        time.sleep(4.0)  # recording goes on: what the alert does not show is pruned after the hold
    finally:
        recorder.stop()
        camera.stop()
        bus.stop()
    store = recorder.store
    segments = store.segments("CAM-EV")
    kept = [s for s in segments if store.is_kept(s)]
    assert kept, "the alert kept nothing"
    lo, hi = seen - 0.5, seen + 1.0 + 0.5
    assert kept[0].start <= lo + 0.6 and kept[-1].end >= hi - 0.6  # the alert's window is covered
    assert all(s.end > lo and s.start <= hi for s in kept)  # and nothing else is marked
    pruned_before = max(s.end for s in segments) - 1.5 - 0.6  # older than the hold, when the last one began
    leftovers = [s for s in segments if not store.is_kept(s) and s.end < pruned_before]
    assert not leftovers, f"{len(leftovers)} unmarked segments outlived the hold"
    for segment in kept:
        assert decoded_frames(segment.path)[0] == "h264"


def test_other_modes_ignore_alerts(tmp_path):
    bus = InProcessBus()
    recorder = Recorder(tmp_path / "rec", mode="all").listen(bus.subscribe)
    bus.publish(Topic.ALERTS, alert("CAM-EV", 100.0, 110.0))
    assert recorder.windows == {}
    bus.stop()
