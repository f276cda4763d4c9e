"""DJI Cloud API OSD messages to drone poses, and every way such a message can be bad."""

from __future__ import annotations

import copy
import json

import pytest

from zhizhi.telemetry.dji import drone_id_from_topic, parse_osd
from zhizhi.telemetry.errors import Reason, TelemetryError

TOPIC = "thing/product/1581F5BKD225D00BCHYA/osd"
TS_MS = 1_795_996_800_123


def osd(**data_overrides) -> dict:
    """A realistic aircraft OSD message (M30T over Tongzhou), with ``data`` fields overridden."""
    data = {
        "latitude": 32.0123, "longitude": 120.8645, "elevation": 85.4, "height": 112.9,
        "attitude_head": -135.5, "attitude_pitch": -2.1, "attitude_roll": 0.3,
        "horizontal_speed": 7.2, "vertical_speed": 0.0, "mode_code": 5,
        "battery": {"capacity_percent": 76, "remain_flight_time": 1320},
        "52-0-0": {"gimbal_pitch": -30.0, "gimbal_roll": 0.0, "gimbal_yaw": -120.0,
                   "payload_index": "52-0-0", "zoom_factor": 2.0},
    }
    data.update(data_overrides)
    return {"tid": "6a7bfe89-c386-4043-b600-b518e10096cc", "bid": "42a19f36-5117-4520-bd13-fd61d818d52e",
            "timestamp": TS_MS, "gateway": "4TADKAQ000002J", "data": data}


def payload(message: object) -> bytes:
    return json.dumps(message).encode()


def parse(message: object, topic: str = TOPIC):
    return parse_osd(topic, payload(message))


def test_full_message():
    s = parse(osd())
    assert s.drone_id == "1581F5BKD225D00BCHYA"
    assert s.ts == pytest.approx(1_795_996_800.123)
    assert (s.lat, s.lon, s.height_m) == (32.0123, 120.8645, 85.4)
    assert s.heading_deg == pytest.approx(224.5)
    assert (s.gimbal_pitch_deg, s.gimbal_yaw_deg) == (-30.0, 240.0)
    assert (s.battery_pct, s.speed_ms) == (76, 7.2)


def test_height_is_elevation_and_ellipsoidal_height_only_as_fallback():
    assert parse(osd(height=500)).height_m == 85.4
    message = osd()
    del message["data"]["elevation"]
    assert parse(message).height_m == 112.9
    del message["data"]["height"]
    with pytest.raises(TelemetryError, match="elevation") as err:
        parse(message)
    assert err.value.reason is Reason.INVALID


def test_slightly_below_take_off_is_on_the_ground_far_below_is_invalid():
    assert parse(osd(elevation=-0.4)).height_m == 0.0
    with pytest.raises(TelemetryError, match="height_m"):
        parse(osd(elevation=-120))


def test_without_a_payload_entry_the_camera_looks_down_along_the_heading():
    message = osd()
    del message["data"]["52-0-0"]
    s = parse(message)
    assert (s.gimbal_pitch_deg, s.gimbal_yaw_deg) == (-90.0, s.heading_deg)


def test_the_payload_with_the_lowest_index_is_the_camera():
    s = parse(osd(**{"39-0-7": {"gimbal_pitch": -10, "gimbal_yaw": 10},
                     "53-0-1": {"gimbal_pitch": -80, "gimbal_yaw": 180}}))
    assert (s.gimbal_pitch_deg, s.gimbal_yaw_deg) == (-30.0, 240.0)  # 52-0-0


def test_headings_wrap_into_0_360():
    assert parse(osd(attitude_head=180)).heading_deg == 180.0
    assert parse(osd(attitude_head=-180)).heading_deg == 180.0
    assert parse(osd(attitude_head=-1e-20)).heading_deg == 0.0
    assert parse(osd(**{"52-0-0": {"gimbal_pitch": -90, "gimbal_yaw": -0.5}})).gimbal_yaw_deg == 359.5


def test_optional_fields_may_be_missing():
    message = osd()
    for key in ("battery", "horizontal_speed"):
        del message["data"][key]
    s = parse(message)
    assert (s.battery_pct, s.speed_ms) == (None, None)


def test_a_docked_aircraft_has_no_position():
    with pytest.raises(TelemetryError) as err:
        parse(osd(latitude=0, longitude=0.0))
    assert err.value.reason is Reason.NO_POSITION


def test_prefixed_topic_and_bad_topics():
    assert drone_id_from_topic("site7/thing/product/SN9/osd") == "SN9"
    for topic in ("thing/product/SN9/state", "thing/product//osd", "SN9/osd", "thing/device/SN9/osd"):
        with pytest.raises(TelemetryError, match="topic"):
            parse(osd(), topic)


def _without(*path: str) -> dict:
    message = osd()
    target = message
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return message


BAD = {
    "not JSON": b"{latitude: 32",
    "not UTF-8": b"\xff\xfe{}",
    "empty": b"",
    "a list": payload([osd()]),
    "a number": b"42",
    "no data": payload({"timestamp": TS_MS}),
    "data not an object": payload({**osd(), "data": [1, 2]}),
    "no timestamp": payload(_without("timestamp")),
    "timestamp a string": payload({**osd(), "timestamp": "now"}),
    "timestamp in seconds of 1970": payload({**osd(), "timestamp": 1_700_000}),
    "no latitude": payload(_without("data", "latitude")),
    "no longitude": payload(_without("data", "longitude")),
    "no heading": payload(_without("data", "attitude_head")),
    "latitude out of range": payload(osd(latitude=91.0)),
    "longitude out of range": payload(osd(longitude=-181.0)),
    "latitude NaN": json.dumps(osd(latitude=float("nan"))).encode(),
    "height infinite": json.dumps(osd(elevation=float("inf"))).encode(),
    "latitude a bool": payload(osd(latitude=True)),
    "heading a string": payload(osd(attitude_head="north")),
    "speed out of range": payload(osd(horizontal_speed=99.0)),
    "battery over 100": payload(osd(battery={"capacity_percent": 130})),
    "gimbal pitch missing": payload(osd(**{"52-0-0": {"gimbal_yaw": 3}})),
    "gimbal pitch out of range": payload(osd(**{"52-0-0": {"gimbal_pitch": 60, "gimbal_yaw": 3}})),
    "too high": payload(osd(elevation=5000)),
}


@pytest.mark.parametrize("raw", BAD.values(), ids=BAD.keys())
def test_bad_message_is_invalid(raw):
    with pytest.raises(TelemetryError) as err:
        parse_osd(TOPIC, raw)
    assert err.value.reason is Reason.INVALID
    assert 0 < len(err.value.detail) < 200


def test_parsing_does_not_touch_the_message():
    message = osd()
    before = copy.deepcopy(message)
    parse(message)
    assert message == before
