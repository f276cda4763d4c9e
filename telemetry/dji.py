"""DJI Cloud API OSD messages to :class:`~telemetry.record.DroneState`.

A dock relays its aircraft's OSD on MQTT topic ``thing/product/{device_sn}/osd`` (a prefix
before ``thing/`` is allowed); the payload is JSON::

    {"tid": "...", "bid": "...", "timestamp": 1795996800000, "gateway": "<dock sn>",
     "data": {"latitude": 32.01, "longitude": 120.86, "elevation": 80.2, "height": 102.5,
              "attitude_head": -90.0, "horizontal_speed": 8.5,
              "battery": {"capacity_percent": 76},
              "39-0-7": {"gimbal_pitch": -45.0, "gimbal_yaw": -90.0, ...}}}

Fields read: ``timestamp`` (ms since epoch), ``data.latitude``/``data.longitude`` (WGS-84),
``data.elevation`` (metres above the take-off point; only when it is missing ``data.height``
is used, which is *ellipsoidal* height and so overstates height above ground by the local
ellipsoid-ground separation), ``data.attitude_head`` ([-180, 180], wrapped to [0, 360)),
``data.horizontal_speed`` (m/s), ``data.battery.capacity_percent``, and the gimbal of the
payload entry ``"<type>-<subtype>-<index>"`` with the lowest index: ``gimbal_pitch`` and
``gimbal_yaw`` (read as azimuth from north, wrapped to [0, 360)). Without a payload entry the
camera is taken to look straight down along the aircraft heading. A height a little below the
take-off point (landing on lower ground) is clamped to 0. An aircraft on its dock reports
0, 0: refused as ``no_position``.

>>> msg = (b'{"timestamp": 1795996800000, "data": {"latitude": 32.01, "longitude": 120.86,'
...        b' "elevation": 80, "attitude_head": -90, "39-0-7": {"gimbal_pitch": -45, "gimbal_yaw": -100}}}')
>>> s = parse_osd("thing/product/1581F5BKD225D00BCHYA/osd", msg)
>>> s.drone_id, s.ts, s.heading_deg, s.gimbal_yaw_deg, s.gimbal_pitch_deg
('1581F5BKD225D00BCHYA', 1795996800.0, 270.0, 260.0, -45.0)
>>> parse_osd("thing/product/SN1/osd", b'{"timestamp": 1795996800000, "data": {"latitude": 0,'
...           b' "longitude": 0, "elevation": 0, "attitude_head": 0}}')
Traceback (most recent call last):
...
zhizhi.telemetry.errors.TelemetryError: no_position: aircraft reports 0, 0 (on its dock, no fix)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import ValidationError

from zhizhi.telemetry.errors import Reason, TelemetryError
from zhizhi.telemetry.record import DroneState, wrap_deg

#: A payload (camera/gimbal) entry's key in ``data``: ``"<type>-<subtype>-<index>"``.
PAYLOAD_KEY = re.compile(r"^(\d+)-(\d+)-(\d+)$")
#: Heights down to this far below the take-off point are read as on the ground (0).
MIN_HEIGHT_M = -50.0


def _azimuth(angle: float) -> float:
    """[0, 360), also for -1e-20 (whose float remainder rounds to 360.0)."""
    wrapped = wrap_deg(angle)
    return 0.0 if wrapped >= 360.0 else wrapped


def _invalid(detail: str) -> TelemetryError:
    return TelemetryError(Reason.INVALID, detail)


def drone_id_from_topic(topic: str) -> str:
    """The ``device_sn`` of ``[prefix/]thing/product/{device_sn}/osd``.

    >>> drone_id_from_topic("site7/thing/product/1581F5BKD/osd")
    '1581F5BKD'
    """
    parts = topic.split("/")
    if len(parts) < 4 or parts[-1] != "osd" or parts[-4:-2] != ["thing", "product"] or not parts[-2]:
        raise _invalid(f"topic {topic!r} is not thing/product/{{device_sn}}/osd")
    return parts[-2]


def _number(data: dict[str, Any], key: str, *, required: bool = True) -> float | None:
    """A finite number from ``data[key]`` (bools are not numbers)."""
    value = data.get(key)
    if value is None:
        if required:
            raise _invalid(f"missing data.{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"data.{key} is not a finite number: {value!r}")
    return float(value)


def _gimbal(data: dict[str, Any]) -> tuple[float, float] | None:
    """(pitch, yaw) of the payload entry with the lowest index, if any."""
    entries = []
    for key, value in data.items():
        match = PAYLOAD_KEY.match(key)
        if match and isinstance(value, dict):
            entries.append((int(match[3]), key, value))
    if not entries:
        return None
    _, key, entry = min(entries, key=lambda e: (e[0], e[1]))
    pitch, yaw = _number(entry, "gimbal_pitch"), _number(entry, "gimbal_yaw")
    return pitch, _azimuth(yaw)


def _height(data: dict[str, Any]) -> float:
    """Height above take-off: ``elevation``; ``height`` (ellipsoidal) only as a fallback."""
    height = _number(data, "elevation", required=False)
    if height is None:
        height = _number(data, "height", required=False)
    if height is None:
        raise _invalid("missing data.elevation (and data.height)")
    if MIN_HEIGHT_M <= height < 0:
        return 0.0
    return height


def _decode(payload: bytes) -> tuple[float, dict[str, Any]]:
    """``timestamp`` in seconds and the ``data`` object of an OSD message."""
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, nested too deeply
        raise _invalid(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        raise _invalid("not an object with a data object")
    stamp = _number(message, "timestamp")
    return stamp / 1000.0, message["data"]


def parse_osd(topic: str, payload: bytes) -> DroneState:
    """One OSD message of an aircraft as a :class:`DroneState`; :class:`TelemetryError` if not."""
    drone_id = drone_id_from_topic(topic)
    ts, data = _decode(payload)
    lat, lon = _number(data, "latitude"), _number(data, "longitude")
    if lat == 0 and lon == 0:
        raise TelemetryError(Reason.NO_POSITION, "aircraft reports 0, 0 (on its dock, no fix)")
    heading = _azimuth(_number(data, "attitude_head"))
    pitch, yaw = _gimbal(data) or (-90.0, heading)
    battery = data.get("battery")
    battery_pct = _number(battery, "capacity_percent", required=False) if isinstance(battery, dict) else None
    try:
        return DroneState(
            drone_id=drone_id, ts=ts, lon=lon, lat=lat, height_m=_height(data), heading_deg=heading,
            gimbal_pitch_deg=pitch, gimbal_yaw_deg=yaw, battery_pct=battery_pct,
            speed_ms=_number(data, "horizontal_speed", required=False),
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _invalid(f"{where}: {first['msg']}") from None


__all__ = ["PAYLOAD_KEY", "drone_id_from_topic", "parse_osd"]
