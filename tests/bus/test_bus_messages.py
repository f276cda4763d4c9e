"""The bus's message types: one per topic, the registry, the one codec, refusal at the publisher."""

from __future__ import annotations

import json

import pytest

from tests.redis_support import wait_until
from zhizhi.alerts.incidents.record import Incident
from zhizhi.alerts.record import Alert
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import (
    TOPIC_TYPES,
    AlertEvent,
    CamerasChanged,
    CameraStatus,
    DroneState,
    EvidenceAttached,
    IncidentEvent,
    ModelPromoted,
    decode,
    encode,
)
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.bus.messages.incidents import INCIDENT_FIELDS, TimelineEntryWire
from zhizhi.bus.messages.telemetry import Fix, FixBatch
from zhizhi.bus.redis_bus import RedisBus

ALERT = AlertEvent(
    event="transition", id="k3v9q2m7xa1b", key="stop|CAM-1|7", rule="abnormal_stop", severity="orange",
    source="video", category="abnormal_stop", cameras=["CAM-1"], camera_id="CAM-1", track_id=7,
    cls="hazmat_tanker", lon=120.9, lat=32.0, grid="320612001001001", assignee_unit="320612001",
    evidence={"snapshot": "k3v9q2m7xa1b/snapshot.jpg"}, first_ts=1.8e9, last_ts=1.8e9 + 40,
    status="acknowledged", details={"stopped_s": 99, "名": "危化品"}, created_ts=1.8e9 + 41,
    updated_ts=1.8e9 + 50,
)
INCIDENT = IncidentEvent(
    event="opened", incident_type="fire", id="f1r3f1r3f1r3", title="厂区火灾", status="active",
    area={"kind": "circle", "point": [120.9, 32.0], "radius_m": 800.0},
    geometry={"type": "Polygon", "coordinates": [[[120.9, 32.0], [120.91, 32.0], [120.9, 32.01], [120.9, 32.0]]]},
    owner_unit="320612001", codes=["320612001", "320612001001001"], impact={"population": 1200},
    created_ts=1.8e9, created_by="duty", updated_ts=1.8e9, version=0,
)
TIMELINE = IncidentEvent(
    event="timeline", id="f1r3f1r3f1r3", status="active", owner_unit="320612001", codes=["320612001"],
    entry=TimelineEntryWire(id=3, incident_id="f1r3f1r3f1r3", ts=1.8e9 + 5, kind="note", actor="duty",
                            text="evacuating the east bank"),
)

#: Samples of every registered type (more than one where a type has several shapes).
SAMPLES: dict[type, list] = {
    ObservationBatch: [
        ObservationBatch(
            "CAM-1",
            1.8e9,
            track_id=[1, 2],
            cls=["car", "hazmat_tanker"],
            conf=[0.9, 0.6],
            xyxy=[[10, 20, 110, 80], [200, 50, 220, 120]],
            lon=[120.9, float("nan")],
            lat=[32.0, float("nan")],
            speed_kmh=[42.5, float("nan")],
            heading_deg=[90.0, float("nan")],
        ),
        ObservationBatch.empty("CAM-1", 1.8e9 + 0.2),
    ],
    FixBatch: [
        FixBatch((Fix("苏F-1", 1.8e9, 120.86, 32.01, speed_kmh=40.0, heading=90.0), Fix("苏F-2", 1.8e9, 120.9, 32.0)))
    ],
    AlertEvent: [ALERT],
    CameraStatus: [
        CameraStatus(
            camera_id="CAM-1",
            state="reconnecting",
            fps=4.5,
            frames=10,
            reconnects=2,
            error="file not found",
            since=1.8e9,
        )
    ],
    DroneState: [
        DroneState(
            drone_id="UAV-01",
            ts=1.8e9,
            lon=120.86,
            lat=32.01,
            height_m=100,
            heading_deg=90,
            gimbal_yaw_deg=270,
            battery_pct=66,
        )
    ],
    EvidenceAttached: [EvidenceAttached(alert_id="k3v9q2m7xa1b", clip="k3v9q2m7xa1b/clip.webm")],
    IncidentEvent: [INCIDENT, TIMELINE],
    ModelPromoted: [ModelPromoted(kind="warning", name="default", version=2, content="rules: []\n", action="rollback")],
    CamerasChanged: [CamerasChanged(action="updated", ids=("CAM-1",), revision=2),
                     CamerasChanged(action="imported", ids=("CAM-1", "34020000001320000001"))],
}


def _samples() -> list[tuple[Topic, object]]:
    return [(topic, sample) for topic, kind in TOPIC_TYPES.items() for sample in SAMPLES.get(kind, [None])]


def test_every_topic_has_a_registered_type():
    assert set(TOPIC_TYPES) == set(Topic)
    assert len(set(TOPIC_TYPES.values())) == len(TOPIC_TYPES)  # one type per topic, one topic per type


@pytest.mark.parametrize(("topic", "message"), _samples(), ids=lambda v: getattr(v, "value", type(v).__name__))
def test_the_codec_round_trip_gives_an_equal_object(topic, message):
    assert message is not None, f"no sample of {TOPIC_TYPES[topic].__name__} in SAMPLES"
    wire = json.loads(json.dumps(encode(topic, message), ensure_ascii=False))
    back = decode(topic, wire)
    assert type(back) is type(message) and back == message


def test_wrong_payloads_are_refused_at_the_publisher():
    bus = InProcessBus()
    got = []
    bus.subscribe(Topic.ALERTS, got.append)
    for wrong in (ALERT.to_wire(), SAMPLES[CameraStatus][0], None, "alert"):
        with pytest.raises(TypeError):
            bus.publish(Topic.ALERTS, wrong)
    with pytest.raises(TypeError, match="not a bus topic"):
        bus.publish("alarms", ALERT)
    assert got == []
    bus.publish(Topic.ALERTS, ALERT)
    assert got[0] is ALERT  # the in-process bus hands the (frozen) object itself


def test_the_redis_bus_refuses_them_too_and_carries_every_type(redis_server):
    a = RedisBus(redis_server.url, node="a", poll_s=0.1)
    b = RedisBus(redis_server.url, node="b", poll_s=0.1)
    try:
        with pytest.raises(TypeError):
            a.publish(Topic.ALERTS, ALERT.to_wire())
        assert a.stats()["published"] == 0
        got: dict[Topic, list] = {topic: [] for topic in TOPIC_TYPES}
        for topic in TOPIC_TYPES:
            b.subscribe(topic, got[topic].append)
        samples = [(t, m) for t, m in _samples() if m is not None]
        for topic, message in samples:
            a.publish(topic, message)
        assert wait_until(lambda: sum(map(len, got.values())) == len(samples))
        for topic, message in samples:
            assert message in got[topic]
        assert b.stats()["decode_errors"] == 0
    finally:
        a.stop()
        b.stop()


def test_message_frozen():
    with pytest.raises(ValueError):
        ALERT.status = "closed"


def test_an_alert_event_of_a_record_is_its_json_form_and_validated():
    alert = Alert.model_validate({**ALERT.to_wire(), "version": 3})
    event = alert.to_event("transition")
    assert event == ALERT and event.to_wire() == alert.to_message("transition")
    assert event.to_wire() is event.to_wire()  # computed once, shared by the bridge and the codec
    with pytest.raises(ValueError):  # the contract is checked even so
        AlertEvent.of_record("escalated", {**alert.model_dump(mode="json", exclude={"version"}), "severity": "purple"})


def test_an_alert_event_has_the_alert_fields():
    """The wire contract and the domain record keep the same fields (all but the version)."""
    assert set(AlertEvent.model_fields) == set(Alert.model_fields) - {"version"} | {"event"}


def test_an_incident_event_has_the_incident_fields():
    fields = set(Incident.model_fields) - {"type"} | {"incident_type"}
    assert fields <= set(IncidentEvent.model_fields)
    assert set(INCIDENT_FIELDS) <= fields


@pytest.mark.parametrize("wire", [
    {"type": "incident", "event": "timeline", "id": "x", "status": "active", "owner_unit": "320612"},
    {"type": "incident", "event": "opened", "id": "x", "status": "active", "owner_unit": "320612"},
    {"type": "alert", "event": "new"},
])
def test_incomplete_wire_forms_do_not_decode(wire):
    with pytest.raises(ValueError):
        decode(Topic.INCIDENTS if wire["type"] == "incident" else Topic.ALERTS, wire)
