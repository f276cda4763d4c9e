"""Helpers of the labels-dataset tests: a simulated hazmat stop run through the shipped warning
engine and a real evidence recorder, so that its alert has the track file a label points to.

A stop of 35 s fires the shipped 20-s rule (and a 30-s one) but not a 60-s one: closed as a
false alarm, it is what a longer threshold would have prevented. A stop of 120 s fires all of
them: resolved (confirmed), it is the true event a changed rule must still catch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from zhizhi.bus.messages.alerts import AlertEvent
from zhizhi.layers.ids import new_alert_id
from zhizhi.models.warning.config import load_model, parse_model
from zhizhi.models.warning.engine import WarningEngine
from zhizhi.models.warning.record import WarningEvent
from zhizhi.models.warning.scene import places_for
from zhizhi.video.camera_config import load_camera_configs
from zhizhi.video.evidence import EvidenceRecorder
from zhizhi.video.evidence_store import EvidenceStore
from zhizhi.video.simulator import simulate
from zhizhi.video.simulator.truth import read_truth_frames

RULE = "hazmat-abnormal-stop"
FALSE_STOP_S = 35.0
TRUE_STOP_S = 120.0
#: Seconds added to the simulator's clock: live frame times are seconds since the epoch.
EPOCH = 1_790_000_000.0


def stop_model(min_duration_s: float):
    """The shipped warning model with another abnormal-stop duration."""
    data = load_model().model_dump(mode="json")
    for rule in data["rules"]:
        if rule["id"] == RULE:
            rule["min_duration_s"] = min_duration_s
    return parse_model(data)


def _jpeg() -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((36, 64, 3), 80, np.uint8))
    assert ok
    return data.tobytes()


@dataclass
class RecordedAlert:
    """An alert the engine raised over a simulated stop, with the evidence the recorder wrote."""

    alert_id: str
    first: WarningEvent
    last: WarningEvent
    camera: dict
    files: dict[str, str]

    def label(self, verdict: str, ts: float, **extra) -> dict:
        """The alert's label as the alert service stores it (``AlertLabel``'s fields)."""
        return {
            "alert_id": self.alert_id, "verdict": verdict, "note": f"{verdict} in a test", "actor": "duty-1",
            "ts": ts, "category": self.first.rule, "rule": self.first.rule, "rule_id": self.first.rule_id,
            "model": self.first.model, "source": "video", "camera_id": self.first.camera_id,
            "cameras": [self.first.camera_id], "track_ids": [self.first.track_id], "lon": self.first.lon,
            "lat": self.first.lat, "grid": None, "town": None, "assignee_unit": "320612",
            "first_ts": self.first.first_ts, "last_ts": self.last.last_ts,
            "evidence": {"snapshot": self.files.get("snapshot"), "clip": self.files.get("clip"),
                         "track": self.files.get("track")},
            "params": {"id": RULE, "kind": "abnormal_stop", "min_duration_s": 20.0}, "camera": self.camera,
        } | extra


def _message(event: str, alert_id: str, w: WarningEvent, status: str = "new") -> AlertEvent:
    return AlertEvent(
        event=event, id=alert_id, key=w.key, rule=w.rule, rule_id=w.rule_id, model=w.model, severity=w.severity,
        source="video", category=w.rule, camera_id=w.camera_id, track_id=w.track_id, cls=w.cls, lon=w.lon,
        lat=w.lat, assignee_unit="320612", first_ts=w.first_ts, last_ts=w.last_ts, active=w.active,
        status=status, created_ts=w.last_ts, updated_ts=w.last_ts,
    )


def _raise(service, recorder: EvidenceRecorder, event: str, alert_id: str, w: WarningEvent) -> str:
    """A warning to the alert service (whose bus tells the recorder), or as its message to the
    recorder itself; the alert's id."""
    if service is None:
        recorder.on_alert(_message(event, alert_id, w))
        return alert_id
    alert = service.ingest(w)
    assert alert is not None, w
    return alert.id


def record_stop(base: Path, evidence_root: Path, stop_s: float, seed: int, service=None) -> RecordedAlert:
    """Simulate a hazmat stop of ``stop_s`` (1 fps, tiny frames), run the shipped model over its
    truth frame by frame as the worker and the alert service would, feeding a real evidence
    recorder frames, observation batches and the alert's messages; return the alert and its files.

    With ``service`` (an ``AlertService`` with a bus) the warnings go to it, the recorder listens
    to its bus and attaches its files to the alert, as in the console."""
    scene = simulate("hazmat-stop", seed, base / f"stop-{int(stop_s)}s", fps=1.0, width=160, height=90,
                     params={"stop_s": stop_s, "mean_gap_m": 2000.0})
    camera = json.loads((scene.out_dir / "camera.json").read_text(encoding="utf-8"))
    config = load_camera_configs(scene.out_dir / "camera.json")[0]
    engine = WarningEngine(load_model(), places_for([config]))
    files: dict[str, str] = {}

    def on_evidence(alert_id: str, **kw) -> None:
        files.update({k: v for k, v in kw.items() if v})
        if service is not None:
            service.attach_evidence(alert_id, **kw)

    recorder = EvidenceRecorder(EvidenceStore(evidence_root, 30), on_evidence, pre_s=5.0, post_s=5.0)
    if service is not None:
        recorder.attach(service.bus)
    alert_id = new_alert_id()
    first = last = None
    jpeg = _jpeg()
    try:
        for batch in read_truth_frames(scene.truth, config.id):
            batch = type(batch)(batch.camera_id, batch.ts + EPOCH, batch.track_id, batch.cls, batch.conf, batch.xyxy,
                                batch.lon, batch.lat, batch.speed_kmh, batch.heading_deg)
            recorder.add(batch.camera_id, batch.ts, jpeg, batch)
            for w in engine.process_frame(batch):
                if w.rule_id != RULE:
                    continue
                alert_id = _raise(service, recorder, "new" if first is None else "updated", alert_id, w)
                first, last = first or w, w
        for w in engine.flush():
            if w.rule_id == RULE:
                alert_id = _raise(service, recorder, "updated", alert_id, w)
                last = w
    finally:
        assert recorder.stop()
    assert first is not None and last is not None, f"the shipped rule did not fire on a {stop_s}-s stop"
    assert "track" in files, files
    return RecordedAlert(alert_id, first, last, camera, files)
