"""MQTT ingest against the real Mosquitto broker on 127.0.0.1:1883: vehicle reports and DJI OSD
arrive through the gate; bad payloads are counted and never stop the loop; an unreachable broker
leaves the ingest retrying, and stopping it is prompt."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from pydantic import ValidationError

from zhizhi.bench.surge import free_port
from zhizhi.telemetry.gate import TelemetryGate
from zhizhi.telemetry.mqtt import IngestStatus, MqttIngest, MqttSettings
from zhizhi.telemetry.record import DroneState, Fix

BROKER = ("127.0.0.1", 1883)
NOW = time.time()
TIMEOUT_S = 5.0


def wait_for(condition: Callable[[], object], timeout: float = TIMEOUT_S) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


class Received:
    """What the ingest handed on, collected thread-safely."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.fixes: list[Fix] = []
        self.drones: list[DroneState] = []

    def on_fixes(self, fixes: list[Fix]) -> None:
        with self.lock:
            self.fixes.extend(fixes)

    def on_drone(self, state: DroneState) -> None:
        with self.lock:
            self.drones.append(state)


@pytest.fixture
def prefix() -> str:
    return f"zhizhi-test/{uuid.uuid4().hex}"


@pytest.fixture
def received() -> Received:
    return Received()


@pytest.fixture
def ingest(prefix, received) -> Iterator[MqttIngest]:
    settings = MqttSettings(
        client_id=f"zhizhi-test-{uuid.uuid4().hex[:12]}",
        vehicle_topic=f"{prefix}/vehicles/+",
        drone_topic=f"{prefix}/thing/product/+/osd",
    )
    ingest = MqttIngest(settings, gate=TelemetryGate(), on_fixes=received.on_fixes, on_drone=received.on_drone)
    ingest.start()
    wait_for(lambda: ingest.status == IngestStatus.ONLINE)
    yield ingest
    ingest.stop()


@pytest.fixture
def publish() -> Iterator[Callable[[str, bytes | str], None]]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"zhizhi-pub-{uuid.uuid4().hex[:12]}")
    client.connect(*BROKER)
    client.loop_start()

    def send(topic: str, payload: bytes | str) -> None:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(TIMEOUT_S)

    yield send
    client.disconnect()
    client.loop_stop()


def report(ts: float, **extra) -> dict:
    return {"ts": ts, "lon": 120.86, "lat": 32.01, **extra}


def osd(ts_s: float, lat: float = 32.01, lon: float = 120.86) -> bytes:
    return json.dumps({"tid": "t", "bid": "b", "timestamp": int(ts_s * 1000), "gateway": "DOCK1",
                       "data": {"latitude": lat, "longitude": lon, "elevation": 60.0, "attitude_head": 45.0,
                                "horizontal_speed": 5.0, "battery": {"capacity_percent": 80},
                                "39-0-7": {"gimbal_pitch": -60.0, "gimbal_yaw": -30.0}}}).encode()


# --- settings --------------------------------------------------------------------------------


def test_settings_defaults_and_topic_filters():
    s = MqttSettings()
    assert (s.host, s.port, s.client_id, s.qos, s.keepalive) == ("127.0.0.1", 1883, "zhizhi-console", 1, 30)
    assert (s.vehicle_topic, s.drone_topic, s.vehicle_id_level) == (
        "zhizhi/telemetry/vehicles/+", "thing/product/+/osd", 3)
    assert MqttSettings(password="secret").password.get_secret_value() == "secret"
    assert "secret" not in repr(MqttSettings(password="secret"))
    for bad in ({"vehicle_topic": "a/#/b"}, {"drone_topic": "a/b+/c"}, {"vehicle_topic": ""}, {"qos": 3},
                {"port": 0}, {"hots": "x"}):
        with pytest.raises(ValidationError):
            MqttSettings(**bad)


# --- vehicles --------------------------------------------------------------------------------


def test_vehicle_reports_arrive_with_the_id_from_the_topic(ingest, prefix, received, publish):
    publish(f"{prefix}/vehicles/苏F-12345", json.dumps(report(NOW - 30)))
    publish(f"{prefix}/vehicles/苏F-12345", json.dumps([report(NOW - 10), report(NOW - 20, vehicle_id="苏F-12345")]))
    wait_for(lambda: len(received.fixes) == 3)
    assert [(f.vehicle_id, f.ts) for f in received.fixes] == [
        ("苏F-12345", NOW - 30), ("苏F-12345", NOW - 20), ("苏F-12345", NOW - 10)]
    assert ingest.counts()["fixes"] == 3 and ingest.counts()["messages"] == 2


def test_a_report_naming_another_vehicle_is_refused(ingest, prefix, received, publish):
    publish(f"{prefix}/vehicles/苏F-1", json.dumps([report(NOW - 2, vehicle_id="苏F-2"), report(NOW - 1)]))
    wait_for(lambda: ingest.counts()["reports_rejected"] == 1)
    wait_for(lambda: len(received.fixes) == 1)
    assert received.fixes[0].vehicle_id == "苏F-1"
    assert ingest.gate.counts()["invalid"] == 1


def test_malformed_payloads_are_counted_logged_and_do_not_stop_ingest(ingest, prefix, received, publish, caplog):
    topic = f"{prefix}/vehicles/苏F-7"
    caplog.set_level(logging.WARNING, logger="zhizhi.telemetry.mqtt")
    for bad in (b"not json", b"\xff\xfe\x00", b"42", b'"text"', b"null",
                json.dumps(report(NOW - 5, lat=float("nan"))).encode(), json.dumps([1, {"ts": 1}]).encode()):
        publish(topic, bad)
    publish(topic, json.dumps(report(NOW - 1)))
    wait_for(lambda: len(received.fixes) == 1)
    counts = ingest.counts()
    assert counts["malformed"] == 5 and counts["reports_rejected"] == 3 and counts["handler_errors"] == 0
    assert ingest.status == IngestStatus.ONLINE
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 7 and all(topic in w for w in warnings)


def test_a_failing_consumer_does_not_stop_ingest(prefix, publish):
    calls: list[int] = []

    def explode(fixes: list[Fix]) -> None:
        calls.append(len(fixes))
        raise RuntimeError("consumer bug")

    settings = MqttSettings(client_id=f"zhizhi-test-{uuid.uuid4().hex[:12]}", vehicle_topic=f"{prefix}/v/+",
                            drone_topic=f"{prefix}/thing/product/+/osd")
    ingest = MqttIngest(settings, on_fixes=explode)
    ingest.start()
    try:
        wait_for(lambda: ingest.status == IngestStatus.ONLINE)
        publish(f"{prefix}/v/a", json.dumps(report(NOW - 2)))
        publish(f"{prefix}/v/a", json.dumps(report(NOW - 1)))
        # the handler records its call before it raises; the counter follows a moment later
        wait_for(lambda: len(calls) == 2 and ingest.counts()["handler_errors"] == 2)
        assert ingest.counts()["handler_errors"] == 2
    finally:
        ingest.stop()


# --- drones ----------------------------------------------------------------------------------


def test_drone_osd_arrives_and_bad_osd_does_not_stop_it(ingest, prefix, received, publish):
    topic = f"{prefix}/thing/product/1581F5BKD/osd"
    publish(topic, osd(NOW - 3))
    wait_for(lambda: len(received.drones) == 1)
    state = received.drones[0]
    assert (state.drone_id, state.heading_deg, state.gimbal_yaw_deg, state.gimbal_pitch_deg) == (
        "1581F5BKD", 45.0, 330.0, -60.0)
    publish(topic, b"{broken")
    publish(topic, osd(NOW - 2, lat=0.0, lon=0.0))  # on the dock
    publish(topic, osd(NOW - 3))  # the same pose again
    publish(topic, osd(NOW - 1))
    wait_for(lambda: len(received.drones) == 2)
    assert received.drones[1].ts == pytest.approx(NOW - 1, abs=1e-3)
    counts = ingest.counts()
    assert (counts["malformed"], counts["drone_no_position"], counts["drones_rejected"], counts["drones"]) == (
        1, 1, 1, 2)
    assert ingest.gate.counts()["drone_duplicate"] == 1


# --- connection ------------------------------------------------------------------------------


def test_unreachable_broker_keeps_retrying_and_stops_promptly():
    ingest = MqttIngest(MqttSettings(port=free_port(), client_id=f"zhizhi-test-{uuid.uuid4().hex[:12]}"))
    assert ingest.status == IngestStatus.STOPPED
    ingest.start()
    assert ingest.status in (IngestStatus.CONNECTING, IngestStatus.RECONNECTING)
    wait_for(lambda: ingest.status == IngestStatus.RECONNECTING)
    start = time.monotonic()
    ingest.stop()
    assert time.monotonic() - start < 2.0
    assert ingest.status == IngestStatus.STOPPED


def test_stop_and_start_again(ingest, prefix, received, publish):
    ingest.stop()
    assert ingest.status == IngestStatus.STOPPED
    ingest.stop()  # twice is fine
    ingest.start()
    wait_for(lambda: ingest.status == IngestStatus.ONLINE)
    publish(f"{prefix}/vehicles/苏F-9", json.dumps(report(NOW - 1)))
    wait_for(lambda: len(received.fixes) == 1)
