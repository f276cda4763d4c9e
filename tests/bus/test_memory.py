"""The in-process bus: broadcast, isolation of a failing handler, stop."""

from __future__ import annotations

from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages.evidence import EvidenceAttached


def test_bus_isolates_failing_handlers():
    bus = InProcessBus()
    got = []

    def broken(message):
        raise RuntimeError("consumer bug")

    first = EvidenceAttached(alert_id="k3v9q2m7xa1b", snapshot="k3v9q2m7xa1b/snapshot.jpg")
    bus.subscribe(Topic.EVIDENCE, broken)
    bus.subscribe(Topic.EVIDENCE, got.append)
    bus.publish(Topic.EVIDENCE, first)
    assert got == [first] and got[0] is first  # the object itself, not a copy
    bus.stop()
    bus.publish(Topic.EVIDENCE, EvidenceAttached(alert_id="k3v9q2m7xa1c"))
    assert got == [first]
