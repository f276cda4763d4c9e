"""The console's scale-out wiring that needs no servers: evidence messages from worker processes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import EvidenceAttached, decode
from zhizhi.console.scaleout import attach_evidence, is_shared
from zhizhi.video.evidence_store import EvidenceStore


class Alerts:
    def __init__(self) -> None:
        self.attached: list[tuple[str, dict]] = []

    def attach_evidence(self, alert_id: str, **files) -> None:
        self.attached.append((alert_id, files))


@pytest.fixture
def state(tmp_path):
    return SimpleNamespace(evidence=EvidenceStore(tmp_path / "evidence", 30), alerts=Alerts())


def test_an_evidence_message_is_attached_to_its_alert(state):
    attach_evidence(state, EvidenceAttached(alert_id="A1", snapshot="A1/snapshot.jpg"))
    attach_evidence(state, EvidenceAttached(alert_id="A1", track="A1/observations.jsonl"))
    assert state.alerts.attached == [
        ("A1", {"snapshot": "A1/snapshot.jpg", "clip": None, "track": None, "camera_id": None}),
        ("A1", {"snapshot": None, "clip": None, "track": "A1/observations.jsonl", "camera_id": None}),
    ]


def test_the_evidence_of_a_joining_camera_is_attached_as_its_view(state):
    """A worker's files of a camera that joined the alert travel with the camera (one of the
    alert's views); the message's wire form names it, and says nothing of it otherwise."""
    view = EvidenceAttached(alert_id="A1", clip="A1/clip-CAM-2-468dfbfaa7.webm", camera_id="CAM-2")
    attach_evidence(state, decode(Topic.EVIDENCE, view.to_wire()))
    assert state.alerts.attached == [
        ("A1", {"snapshot": None, "clip": "A1/clip-CAM-2-468dfbfaa7.webm", "track": None, "camera_id": "CAM-2"}),
    ]
    assert "camera_id" not in EvidenceAttached(alert_id="A1", clip="A1/clip.webm").to_wire()


@pytest.mark.parametrize("message", [
    EvidenceAttached(alert_id="A1", snapshot="../../etc/passwd"),
    EvidenceAttached(alert_id="A1", clip="/etc/passwd"),
    EvidenceAttached(alert_id="A1", track="../zhizhi.db"),
    EvidenceAttached(alert_id="A1", snapshot="../../etc/passwd", camera_id="CAM-2"),
    EvidenceAttached(alert_id="A1", clip="A1/../../x.webm", camera_id="../x"),
])
def test_an_evidence_message_outside_the_folder_is_refused(state, message):
    """Refused with a clear error (the bus logs it and keeps it as a dead letter); nothing attached."""
    with pytest.raises(ValueError):
        attach_evidence(state, message)
    assert state.alerts.attached == []


@pytest.mark.parametrize("wire", [
    {"type": "evidence", "alert_id": "A1", "snapshot": 7},
    {"type": "evidence", "alert_id": None, "snapshot": "A1/snapshot.jpg"},
    {"type": "frame", "alert_id": "A1"},
])
def test_a_malformed_evidence_message_never_reaches_the_console(wire):
    """The Redis bus decodes with the topic's type: what does not fit is a decode error there."""
    with pytest.raises(ValueError):
        decode(Topic.EVIDENCE, wire)


def test_only_a_redis_bus_is_shared():
    assert not is_shared(InProcessBus())
