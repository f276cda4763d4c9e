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
    assert state.alerts.attached == [("A1", {"snapshot": "A1/snapshot.jpg", "clip": None, "track": None}),
                                     ("A1", {"snapshot": None, "clip": None, "track": "A1/observations.jsonl"})]


@pytest.mark.parametrize("message", [
    EvidenceAttached(alert_id="A1", snapshot="../../etc/passwd"),
    EvidenceAttached(alert_id="A1", clip="/etc/passwd"),
    EvidenceAttached(alert_id="A1", track="../zhizhi.db"),
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
