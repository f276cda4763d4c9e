"""The Redis bus against real redis-server processes (tests/redis_support.py) that the tests
kill (-9) and start again; the contract tests also run against the in-process bus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.redis_support import RedisServer, free_port, wait_until
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import AlertEvent, CameraStatus
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.bus.messages.telemetry import Fix, FixBatch
from zhizhi.bus.redis_bus import RedisBus

CLAIM_IDLE_S = 0.4


@pytest.fixture
def make_bus():
    """``make_bus(url, node, **options)``: a RedisBus stopped at the end of the test."""
    buses: list[RedisBus] = []

    def make(url: str, node: str, **options) -> RedisBus:
        options.setdefault("claim_idle_s", CLAIM_IDLE_S)
        options.setdefault("poll_s", 0.1)
        bus = RedisBus(url, node=node, **options)
        buses.append(bus)
        return bus

    yield make
    for bus in buses:
        bus.stop(drain_timeout=0.5)


@pytest.fixture(params=["inprocess", "redis"])
def consoles(request, make_bus):
    """Two "consoles" on one bus: two RedisBus instances on one redis-server, or the same
    in-process bus twice."""
    if request.param == "inprocess":
        bus = InProcessBus()
        yield bus, bus
        bus.stop()
        return
    server = request.getfixturevalue("redis_server")
    yield make_bus(server.url, "console-a"), make_bus(server.url, "console-b")


def _numbers(messages: list) -> list[int]:
    return [_number(m) for m in messages]


def _number(message) -> int:
    """The ``n`` a test message carries: an alert's last_ts, a camera status's frames, a frame's
    time, a telemetry batch's first fix time, a dict's ``n``."""
    if isinstance(message, AlertEvent):
        return int(message.last_ts)
    if isinstance(message, CameraStatus):
        return message.frames
    if isinstance(message, ObservationBatch):
        return int(message.ts)
    if isinstance(message, FixBatch):
        return int(message.fixes[0].ts)
    return message["n"]


def alert(n: int, grid: str = "网格-1") -> AlertEvent:
    """An alert message numbered ``n`` (its ``last_ts``)."""
    return AlertEvent(event="new", id=f"a{n:011d}", key=f"test|{n}", severity="blue", source="test",
                      category="test", lon=120.0, lat=32.0, grid=grid, assignee_unit="320612",
                      first_ts=0.0, last_ts=float(n), created_ts=0.0, updated_ts=0.0)


def status(n: int) -> CameraStatus:
    """A camera-status message numbered ``n`` (its ``frames``)."""
    return CameraStatus(camera_id="cam-001", state="online", frames=n, since=0.0)


def frame(n: int) -> ObservationBatch:
    """A frame message numbered ``n`` (its time)."""
    return ObservationBatch.empty("cam-001", float(n))


def fixes(n: int) -> FixBatch:
    """A telemetry message numbered ``n`` (its fix's time)."""
    return FixBatch((Fix("V-1", float(n), 120.0, 32.0),))


# ---------------------------------------------------------------------- contract (both buses)


def test_every_subscriber_of_every_console_gets_every_message_in_order(consoles):
    a, b = consoles
    got_a, got_b = [], []
    a.subscribe(Topic.ALERTS, got_a.append)
    b.subscribe(Topic.ALERTS, got_b.append)
    for n in range(300):
        (a if n % 2 else b).publish(Topic.ALERTS, alert(n))
    assert wait_until(lambda: len(got_a) == 300 and len(got_b) == 300)
    assert _numbers(got_a) == _numbers(got_b)  # one order for everybody
    assert sorted(_numbers(got_a)) == list(range(300))
    for parity in (0, 1):  # each publisher's messages in the order it published them
        assert [n for n in _numbers(got_a) if n % 2 == parity] == list(range(parity, 300, 2))
    assert got_a[0].grid == "网格-1" and got_a[0] == alert(_number(got_a[0]))


def test_consumer_group_shares_the_work_each_entry_once(consoles):
    a, b = consoles
    got_a, got_b, broadcast = [], [], []
    a.consume(Topic.FRAMES, "rule-models", got_a.append)
    b.consume(Topic.FRAMES, "rule-models", got_b.append)
    b.subscribe(Topic.FRAMES, broadcast.append)  # a subscriber still sees everything
    for n in range(400):
        a.publish(Topic.FRAMES, frame(n))
    assert wait_until(lambda: len(got_a) + len(got_b) >= 400 and len(broadcast) == 400)
    time.sleep(0.2)  # nothing more arrives
    counts = Counter(_numbers(got_a) + _numbers(got_b))
    assert sorted(counts) == list(range(400))
    assert set(counts.values()) == {1}
    assert got_a and got_b, "both consumers got work"
    # each consumer sees its share in publishing order
    assert _numbers(got_a) == sorted(_numbers(got_a))


def test_a_raising_handler_is_logged_and_the_others_still_run(consoles, caplog):
    a, b = consoles
    good, consumed = [], []

    def bad(message):
        raise RuntimeError("boom")

    def picky(message):
        if _number(message) == 3:
            raise ValueError("cannot handle 3")
        consumed.append(message)

    a.subscribe(Topic.ALERTS, bad)
    a.subscribe(Topic.ALERTS, good.append)
    b.consume(Topic.CAMERA_STATUS, "status", picky)
    for n in range(10):
        b.publish(Topic.ALERTS, alert(n))
        b.publish(Topic.CAMERA_STATUS, status(n))
    assert wait_until(lambda: len(good) == 10 and len(consumed) == 9)
    assert _numbers(consumed) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert "boom" in caplog.text


def test_cancel_stops_delivery(consoles):
    a, b = consoles
    got, shared = [], []
    sub = b.subscribe(Topic.CAMERA_STATUS, got.append)
    member = b.consume(Topic.TELEMETRY, "fleet", shared.append)
    a.publish(Topic.CAMERA_STATUS, status(1))
    a.publish(Topic.TELEMETRY, fixes(1))
    assert wait_until(lambda: got and shared)
    sub.cancel()
    member.cancel()
    a.publish(Topic.CAMERA_STATUS, status(2))
    a.publish(Topic.TELEMETRY, fixes(2))
    time.sleep(0.3)
    assert _numbers(got) == [1] and _numbers(shared) == [1]


# ---------------------------------------------------------------------- Redis only


def test_keys_and_wire_format(redis_server, make_bus):
    bus = make_bus(redis_server.url, "n1", prefix="zz")
    bus.publish(Topic.ALERTS, alert(1, grid="危化品"))
    assert bus.flush()
    raw = redis_server.client()
    [(entry_id, fields)] = raw.xrange("zz:stream:alerts")
    assert json.loads(fields[b"data"]) == alert(1, grid="危化品").to_wire()  # the type's wire form
    assert "危化品".encode() in fields[b"data"]  # ensure_ascii=False
    assert entry_id.startswith(str(int(time.time()))[:8].encode())


def test_entries_of_a_dead_consumer_are_claimed(redis_server, make_bus):
    """A consumer took entries (XREADGROUP) and died before acknowledging them."""
    raw = redis_server.client()
    stream = "zhizhi:stream:alerts"
    raw.xgroup_create(stream, "intake", id="$", mkstream=True)
    for n in range(5):
        raw.xadd(stream, {"data": json.dumps(alert(n).to_wire())})
    taken = raw.xreadgroup("intake", "ghost", {stream: ">"}, count=100)
    taken_at = time.monotonic()
    assert len(taken[0][1]) == 5
    assert raw.xpending(stream, "intake")["consumers"] == [{"name": b"ghost", "pending": 5}]

    bus = make_bus(redis_server.url, "survivor")
    got = []
    bus.consume(Topic.ALERTS, "intake", got.append)
    assert wait_until(lambda: len(got) == 5, timeout=5)
    assert time.monotonic() - taken_at >= CLAIM_IDLE_S
    assert sorted(_numbers(got)) == list(range(5))
    assert bus.stats()["claimed"] == 5
    assert wait_until(lambda: raw.xpending(stream, "intake")["pending"] == 0)


def test_a_consumer_stuck_in_its_handler_loses_nothing(redis_server, make_bus):
    """Its entries are claimed by the other consumer of the group after claim_idle_s."""
    stuck_bus = make_bus(redis_server.url, "stuck")
    other_bus = make_bus(redis_server.url, "other")
    release = threading.Event()
    stuck_got, other_got = [], []

    def stuck(message):
        stuck_got.append(message)
        release.wait(10)

    publisher = make_bus(redis_server.url, "pub")
    for n in range(10):
        publisher.publish(Topic.FRAMES, frame(n))
    assert publisher.flush()
    stuck_bus.consume(Topic.FRAMES, "rules", stuck, batch=10, start="0")  # takes all 10
    assert wait_until(lambda: stuck_got)  # and hangs on the first
    started = time.monotonic()
    other_bus.consume(Topic.FRAMES, "rules", other_got.append)
    assert wait_until(lambda: len(other_got) >= 10, timeout=5)
    assert time.monotonic() - started >= CLAIM_IDLE_S * 0.5
    assert sorted(_numbers(other_got)) == list(range(10))
    assert other_bus.stats()["claimed"] == 10
    release.set()
    # Back from its handler, the stuck consumer sees the rest of its batch was claimed: it
    # does not handle those again.
    time.sleep(0.3)
    assert _numbers(stuck_got) == [0]


def test_redis_restart_mid_stream_loses_nothing(redis_server, make_bus):
    publisher = make_bus(redis_server.url, "worker")
    console = make_bus(redis_server.url, "console")
    got, consumed, reconnects = [], [], []
    console.subscribe(Topic.ALERTS, got.append)
    console.consume(Topic.ALERTS, "incidents", consumed.append)
    console.on_reconnect(lambda: reconnects.append(time.monotonic()))
    for n in range(50):
        publisher.publish(Topic.ALERTS, alert(n))
    assert wait_until(lambda: len(got) == 50 and len(consumed) == 50)

    redis_server.stop()  # kill -9
    assert wait_until(lambda: not console.connected)
    started = time.monotonic()
    for n in range(50, 150):
        publisher.publish(Topic.ALERTS, alert(n))  # never raises, never blocks
    assert time.monotonic() - started < 0.5
    assert publisher.stats()["outbox"] == 100
    assert wait_until(lambda: not publisher.connected)
    time.sleep(0.3)

    redis_server.start()
    assert wait_until(lambda: len(got) == 150 and len(consumed) == 150, timeout=10)
    assert _numbers(got) == list(range(150))
    assert sorted(_numbers(consumed)) == list(range(150))
    # on_reconnect runs after the catch-up delivered the missed messages: wait for it too
    assert wait_until(lambda: len(reconnects) == 1) and len(reconnects) == 1
    assert wait_until(lambda: console.connected and publisher.connected)
    groups = redis_server.client().xinfo_groups(console.stream_key(Topic.ALERTS))
    assert [g["name"] for g in groups] == [b"incidents"]  # recreated after the restart
    assert console.stats()["reconnects"] >= 1
    # and the bus keeps working
    publisher.publish(Topic.ALERTS, alert(150))
    assert wait_until(lambda: len(got) == 151 and len(consumed) == 151)


def test_redis_unreachable_at_start(make_bus):
    server = RedisServer(free_port())  # not started yet
    try:
        bus = make_bus(server.url, "early", connect_timeout_s=0.2)
        got = []
        started = time.monotonic()
        bus.subscribe(Topic.ALERTS, got.append)
        for n in range(20):
            bus.publish(Topic.ALERTS, alert(n))  # does not raise
        assert time.monotonic() - started < 3
        assert not bus.connected
        assert bus.stats()["outbox"] == 20
        server.start()
        assert wait_until(lambda: len(got) == 20, timeout=10)
        assert _numbers(got) == list(range(20))
        assert server.client().xlen(bus.stream_key(Topic.ALERTS)) == 20
        assert wait_until(lambda: bus.connected)
    finally:
        server.close()


def test_outbox_is_bounded_dropping_the_oldest(make_bus):
    server = RedisServer(free_port())
    try:
        bus = make_bus(server.url, "full", outbox_max=10, connect_timeout_s=0.2)
        for n in range(25):
            bus.publish(Topic.ALERTS, alert(n))
        stats = bus.stats()
        assert (stats["outbox"], stats["dropped"], stats["published"]) == (10, 15, 25)
        server.start()
        assert bus.flush(10)
        entries = server.client().xrange(bus.stream_key(Topic.ALERTS))
        assert [json.loads(f[b"data"])["last_ts"] for _, f in entries] == list(range(15, 25))
    finally:
        server.close()


def test_malformed_entries_are_skipped(redis_server, make_bus):
    bus = make_bus(redis_server.url, "n1")
    got, consumed = [], []
    bus.subscribe(Topic.ALERTS, got.append)
    bus.consume(Topic.ALERTS, "intake", consumed.append)
    raw = redis_server.client()
    stream, channel = bus.stream_key(Topic.ALERTS), bus.channel(Topic.ALERTS)
    raw.xadd(stream, {"data": b"{not json"})
    raw.xadd(stream, {"data": b"[1, 2]"})  # JSON, not an object
    raw.xadd(stream, {"other": b"x"})  # no data field
    raw.xadd(stream, {"data": b"\xff\xfe"})  # not UTF-8
    raw.xadd(stream, {"data": json.dumps({"type": "alert", "n": 1})})  # an object, not an AlertEvent
    raw.publish(channel, b"no-id-here")
    raw.publish(channel, f"{int(time.time() * 1000)}-0 {{broken".encode())
    raw.publish(channel, f"{int(time.time() * 1000)}-1 {json.dumps(status(1).to_wire())}".encode())  # not its type
    bus.publish(Topic.ALERTS, alert(1))
    assert wait_until(lambda: consumed and got)
    assert consumed == [alert(1)]
    assert wait_until(lambda: raw.xpending(stream, "intake")["pending"] == 0)
    assert raw.xlen(bus.dead_letter_key(Topic.ALERTS)) == 5
    assert bus.stats()["decode_errors"] == 8  # 5 stream entries (consumer), 3 channel messages
    assert got == [alert(1)]


def test_publish_throughput(redis_server, make_bus):
    bus = make_bus(redis_server.url, "bench")
    message = ObservationBatch(
        "cam-001", 1.0, track_id=[1, 2, 3], cls=["car"] * 3, conf=[0.9] * 3, xyxy=[[1, 2, 3, 4]] * 3
    )
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        bus.publish(Topic.FRAMES, message)
    accepted = time.perf_counter() - started
    assert bus.flush(30)
    total = time.perf_counter() - started
    rate = n / total
    print(f"\npublish: {n / accepted:,.0f} msg/s accepted, {rate:,.0f} msg/s into Redis")
    assert redis_server.client().xlen(bus.stream_key(Topic.FRAMES)) == n
    assert rate > 2_000


def test_stream_is_trimmed_approximately(redis_server, make_bus):
    bus = make_bus(redis_server.url, "trim", stream_maxlen=1000)
    for n in range(5000):
        bus.publish(Topic.CAMERA_STATUS, status(n))
    assert bus.flush(10)
    assert 1000 <= redis_server.client().xlen(bus.stream_key(Topic.CAMERA_STATUS)) < 2000


def test_stop_is_prompt_and_idempotent(redis_server):
    bus = RedisBus(redis_server.url, node="s", poll_s=0.1)
    bus.subscribe(Topic.ALERTS, lambda m: None)
    bus.consume(Topic.ALERTS, "g", lambda m: None)
    bus.publish(Topic.ALERTS, alert(1))
    started = time.monotonic()
    bus.stop()
    bus.stop()
    assert time.monotonic() - started < 2
    assert redis_server.client().xlen(bus.stream_key(Topic.ALERTS)) == 1  # drained on stop
    bus.publish(Topic.ALERTS, alert(2))  # after stop: ignored, no error


CONSUMER_PROCESS = """
import sys, threading
from zhizhi.bus.redis_bus import RedisBus
bus = RedisBus(sys.argv[1], node="doomed", claim_idle_s=60, poll_s=0.1)
def handler(message):
    print("took", int(message.ts), flush=True)
    threading.Event().wait()  # hangs until killed
bus.consume("frames", "rules", handler, batch=20, start="0")
threading.Event().wait()
"""


def test_a_consumer_process_killed_with_kill_9_loses_nothing(redis_server, make_bus):
    publisher = make_bus(redis_server.url, "pub")
    for n in range(20):
        publisher.publish(Topic.FRAMES, frame(n))
    assert publisher.flush()
    root = Path(__file__).resolve().parents[2]
    doomed = subprocess.Popen(
        [sys.executable, "-c", CONSUMER_PROCESS, redis_server.url],
        cwd=root, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert doomed.stdout.readline().strip() == "took 0"  # it holds all 20 and hangs
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(5)
        pending = redis_server.client().xpending("zhizhi:stream:frames", "rules")
        assert pending["pending"] == 20
        survivor_got = []
        survivor = make_bus(redis_server.url, "survivor")
        survivor.consume(Topic.FRAMES, "rules", survivor_got.append)
        assert wait_until(lambda: len(survivor_got) == 20, timeout=5)
        assert sorted(_numbers(survivor_got)) == list(range(20))
        assert survivor.stats()["claimed"] == 20
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(5)


def test_subscribing_from_a_handler_does_not_block(redis_server, make_bus):
    bus = make_bus(redis_server.url, "n1")
    later = []

    def first(message):
        bus.subscribe(Topic.CAMERA_STATUS, later.append)

    bus.subscribe(Topic.ALERTS, first)
    started = time.monotonic()
    bus.publish(Topic.ALERTS, alert(0))
    assert wait_until(lambda: bus.stats()["delivered"] == 1)
    time.sleep(0.2)
    bus.publish(Topic.CAMERA_STATUS, status(1))
    assert wait_until(lambda: later == [status(1)])
    assert time.monotonic() - started < 2
