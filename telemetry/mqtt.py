"""MQTT ingest of vehicle reports and DJI drone OSD, through the telemetry gate.

Two subscriptions (:class:`MqttSettings`):

- ``vehicle_topic`` (``zhizhi/telemetry/vehicles/+``): one :class:`~telemetry.record.VehicleReport`
  as a JSON object, or a JSON list of them. The ``+`` level is the vehicle id: it fills a
  report without ``vehicle_id``; a report naming another vehicle is refused (``invalid``).
  Reports pass :class:`~telemetry.gate.TelemetryGate`; accepted fixes go to ``on_fixes``.
- ``drone_topic`` (``thing/product/+/osd``): DJI Cloud API OSD, read by
  :func:`telemetry.dji.parse_osd`; poses the gate accepts go to ``on_drone``.

The paho-mqtt client runs in its own thread (``loop_start``) and reconnects by itself with
exponential backoff. Nothing a publisher sends can raise out of a callback or stop the loop:
a bad payload is counted and logged at WARNING with its topic. Callbacks run in the MQTT
thread, so ``on_fixes``/``on_drone`` must be quick (publish to the bus, enqueue).

>>> MqttSettings(vehicle_topic="site7/vehicles/+").vehicle_id_level
2
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from zhizhi.telemetry.dji import parse_osd
from zhizhi.telemetry.errors import Reason, TelemetryError
from zhizhi.telemetry.gate import TelemetryGate
from zhizhi.telemetry.record import DroneState, Fix

log = logging.getLogger(__name__)


class MqttSettings(BaseModel):
    """Where the broker is and what to subscribe to."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    client_id: str = Field("zhizhi-console", min_length=1, max_length=128, description="Client id given to the broker.")
    username: str | None = Field(None, min_length=1, max_length=256, description="User name at the broker, if it asks.")
    password: SecretStr | None = Field(None, description="Password at the broker (never printed).")
    vehicle_topic: str = Field("zhizhi/telemetry/vehicles/+", description="Vehicle reports; + is the vehicle id.")
    drone_topic: str = Field("thing/product/+/osd", description="DJI Cloud API OSD; + is the device SN.")
    qos: int = Field(1, ge=0, le=2, description="MQTT quality of service of the subscriptions (0, 1 or 2).")
    keepalive: int = Field(30, ge=5, le=3600, description="Seconds between pings.")
    reconnect_min_s: int = Field(1, ge=1, description="First reconnect delay; doubles per failure.")
    reconnect_max_s: int = Field(30, ge=1, description="Longest reconnect delay.")

    @field_validator("vehicle_topic", "drone_topic")
    @classmethod
    def _topic_filter(cls, value: str) -> str:
        levels = value.split("/")
        for i, level in enumerate(levels):
            misplaced = level == "#" and i != len(levels) - 1
            if misplaced or (level not in ("+", "#") and ("+" in level or "#" in level)):
                raise ValueError(f"{value!r} is not an MQTT topic filter")
        if not value:
            raise ValueError("a topic filter cannot be empty")
        return value

    @property
    def vehicle_id_level(self) -> int | None:
        """Which level of a vehicle topic is the vehicle id (the first ``+``)."""
        levels = self.vehicle_topic.split("/")
        return levels.index("+") if "+" in levels else None


class IngestStatus(StrEnum):
    """Connection state of :class:`MqttIngest`."""

    CONNECTING = "connecting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


def _ignore(_: Any) -> None:
    return None


def _vehicle_items(payload: bytes) -> list[object]:
    """The reports of a vehicle message: one JSON object or a list."""
    try:
        decoded = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deeply
        raise TelemetryError(Reason.INVALID, f"not JSON: {exc}") from None
    if isinstance(decoded, dict):
        return [decoded]
    if isinstance(decoded, list):
        return decoded
    raise TelemetryError(Reason.INVALID, f"not an object or a list (got {type(decoded).__name__})")


class MqttIngest:
    """Subscribes to vehicle and drone topics and feeds the gate; ``start()``/``stop()``.

    ``status`` is one of :class:`IngestStatus`; ``counts()`` what arrived and what was refused.
    """

    def __init__(
        self,
        settings: MqttSettings | None = None,
        *,
        gate: TelemetryGate | None = None,
        on_fixes: Callable[[list[Fix]], None] = _ignore,
        on_drone: Callable[[DroneState], None] = _ignore,
    ) -> None:
        self.settings = settings or MqttSettings()
        self.gate = gate or TelemetryGate()
        self.on_fixes = on_fixes
        self.on_drone = on_drone
        self.status = IngestStatus.STOPPED
        self._client: mqtt.Client | None = None
        self._stopping = False
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ["messages", "malformed", "fixes", "reports_rejected", "drones", "drones_rejected",
             "drone_no_position", "handler_errors", "connects", "disconnects"], 0)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (never raises for an unreachable broker)."""
        if self._client is not None:
            return
        s = self.settings
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        if s.username is not None:
            client.username_pw_set(s.username, s.password.get_secret_value() if s.password else None)
        client.reconnect_delay_set(s.reconnect_min_s, max(s.reconnect_min_s, s.reconnect_max_s))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.message_callback_add(s.vehicle_topic, self._on_vehicle_message)
        client.message_callback_add(s.drone_topic, self._on_drone_message)
        self._stopping = False
        self.status = IngestStatus.CONNECTING
        self._client = client
        client.connect_async(s.host, s.port, keepalive=s.keepalive)
        client.loop_start()
        log.info("MQTT ingest connecting to %s:%d", s.host, s.port)

    def stop(self) -> None:
        """Disconnect and end the MQTT thread (returns within about a second)."""
        client, self._client = self._client, None
        self._stopping = True
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self.status = IngestStatus.STOPPED

    def counts(self) -> dict[str, int]:
        """Cumulative counters of this ingest (the gate keeps its own, per reason)."""
        with self._lock:
            return dict(self._counts)

    def _bump(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # --- connection callbacks (MQTT thread) -----------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self.status = IngestStatus.RECONNECTING
            log.warning("MQTT broker refused the connection: %s", reason)
            return
        self._bump("connects")
        s = self.settings
        client.subscribe([(s.vehicle_topic, s.qos), (s.drone_topic, s.qos)])

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: list[Any], _props: Any) -> None:
        """Online once the broker has acknowledged the subscriptions (a clean session each time)."""
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.warning("MQTT broker refused subscriptions %s: %s", self._filters(), refused)
        self.status = IngestStatus.ONLINE
        log.info("MQTT ingest online: %s", self._filters())

    def _filters(self) -> str:
        return f"{self.settings.vehicle_topic}, {self.settings.drone_topic}"

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        if self._stopping:
            return
        first = self.status is not IngestStatus.RECONNECTING
        self.status = IngestStatus.RECONNECTING
        level = logging.WARNING if first else logging.DEBUG
        log.log(level, "MQTT broker %s:%d unreachable; retrying", self.settings.host, self.settings.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if self._stopping:
            return
        self._bump("disconnects")
        self.status = IngestStatus.RECONNECTING
        log.warning("MQTT connection lost (%s); reconnecting", reason)

    # --- messages (MQTT thread) -----------------------------------------------------------

    def _on_vehicle_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._vehicle_message(msg.topic, msg.payload)
        except Exception:  # never out of the callback: it would end paho's loop
            self._bump("handler_errors")
            log.exception("vehicle message on %s failed", msg.topic)

    def _on_drone_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self._drone_message(msg.topic, msg.payload)
        except Exception:  # never out of the callback: it would end paho's loop
            self._bump("handler_errors")
            log.exception("drone message on %s failed", msg.topic)

    def _topic_vehicle(self, topic: str) -> str | None:
        level = self.settings.vehicle_id_level
        levels = topic.split("/")
        if level is None or level >= len(levels):
            return None
        return levels[level].strip() or None

    def _vehicle_message(self, topic: str, payload: bytes) -> None:
        self._bump("messages")
        try:
            items = _vehicle_items(payload)
        except TelemetryError as exc:
            self._bump("malformed")
            log.warning("bad vehicle message on %s: %s", topic, exc.detail)
            return
        result = self.gate.check(items, vehicle_id=self._topic_vehicle(topic))
        report = result.report
        if report.errors:
            self._bump("reports_rejected", report.received - report.accepted)
            first = report.errors[0]
            log.warning("%d of %d reports on %s refused %s; first #%d %s: %s", report.received - report.accepted,
                        report.received, topic, report.rejected, first.index, first.reason, first.detail)
        if result.fixes:
            self._bump("fixes", len(result.fixes))
            self._deliver(self.on_fixes, result.fixes)

    def _drone_message(self, topic: str, payload: bytes) -> None:
        self._bump("messages")
        try:
            state = parse_osd(topic, payload)
        except TelemetryError as exc:
            if exc.reason is Reason.NO_POSITION:  # a docked aircraft, every few seconds: not news
                self._bump("drone_no_position")
                log.debug("drone on %s has no position", topic)
            else:
                self._bump("malformed")
                log.warning("bad drone message on %s: %s", topic, exc.detail)
            return
        rejection = self.gate.accept_drone(state)
        if rejection is not None:
            self._bump("drones_rejected")
            level = logging.DEBUG if rejection.reason is Reason.DUPLICATE else logging.WARNING
            log.log(level, "drone pose on %s refused: %s: %s", topic, rejection.reason, rejection.detail)
            return
        self._bump("drones")
        self._deliver(self.on_drone, state)

    def _deliver(self, handler: Callable[[Any], None], value: Any) -> None:
        try:
            handler(value)
        except Exception:  # a consumer's bug never stops ingest
            self._bump("handler_errors")
            log.exception("telemetry handler %r failed", handler)


__all__ = ["IngestStatus", "MqttIngest", "MqttSettings"]
