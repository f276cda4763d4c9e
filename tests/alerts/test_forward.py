"""Alert forwarding: signed webhooks to a real receiver on loopback, retries, dead letters, CAP 1.2.

The receiver is a threading ``http.server`` (tests/forward_support.py); the dead letters live in a
real SQLite database; CAP messages of a real alert service's alert (new, updated, resolved, closed)
are validated against the OASIS CAP 1.2 schema (tests/data/cap/CAP-v1.2.xsd) with lxml.
"""

from __future__ import annotations

import json
import socket
import time
from zoneinfo import ZoneInfo

import pytest
import shapely
from lxml import etree

from tests import forward_support
from tests.forward_support import CAP_NAMESPACES as NS
from tests.forward_support import CAP_SCHEMA as SCHEMA
from tests.forward_support import Receiver
from tests.redis_support import wait_until
from zhizhi.alerts.forward.cap import CapContext, build_cap, earlier_revisions, identifier
from zhizhi.alerts.forward.deliver import Forwarder, backoff_s, wants
from zhizhi.alerts.forward.settings import CapSettings, ForwardSettings, RetryPolicy, WebhookTarget
from zhizhi.alerts.forward.signing import verify
from zhizhi.alerts.forward.store import DeadLetterStore
from zhizhi.alerts.service import AlertService
from zhizhi.alerts.store import AlertStore
from zhizhi.bus import InProcessBus, Topic
from zhizhi.bus.messages import AlertEvent
from zhizhi.console.state import locator
from zhizhi.layers import make_engine
from zhizhi.models.warning.record import WarningEvent

receiver = forward_support.receiver  # the module's webhook receiver (a fixture)

SECRET = "s3cret-shared-with-the-receiver"
FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, jitter=0.5)


@pytest.fixture
def dead(tmp_path) -> DeadLetterStore:
    return DeadLetterStore(make_engine(f"sqlite:///{tmp_path / 'forward.db'}"))


def _target(receiver: Receiver, name: str, **kw) -> WebhookTarget:
    return WebhookTarget(name=name, url=f"{receiver.url}/{name}", secret=SECRET, timeout_s=2, **kw)


def _forwarder(dead, *targets, **kw) -> Forwarder:
    return Forwarder(ForwardSettings(webhooks=list(targets), retry=FAST, **kw), dead).start()


def _event(event="new", severity="orange", rule="abnormal_stop", grid="320612001001001", status="new", **kw):
    return AlertEvent(event=event, id=kw.pop("id", "k3v9q2m7xa1b"), key="k", rule=rule, severity=severity,
                      source=kw.pop("source", "video"), category=rule, lon=121.0, lat=32.0, grid=grid,
                      town=grid[:9] if grid else None, assignee_unit=grid[:9] if grid else "320612", first_ts=10.0,
                      last_ts=40.0, created_ts=41.0, updated_ts=41.0, status=status, **kw)


def test_deliveries_are_signed_and_filtered(receiver, dead):
    targets = [
        _target(receiver, "everything", events=[]),
        _target(receiver, "red-only", severities=["red"]),
        _target(receiver, "town-stops", rules=["abnormal_stop"], jurisdiction="320612001"),
    ]
    forwarder = _forwarder(dead, *targets)
    try:
        stop_a = _event(id="aaaaaaaaaaaa")
        stop_b = _event(id="bbbbbbbbbbbb", grid="320612002001001")
        red_speeding = _event(id="cccccccccccc", severity="red", rule="speeding")
        updated = _event("updated", id="dddddddddddd")
        for message in (stop_a, stop_b, red_speeding, updated):
            forwarder.on_alert(message)
        assert wait_until(lambda: len(receiver.at("/everything")) == 4 and len(receiver.at("/red-only")) == 1
                          and len(receiver.at("/town-stops")) == 1)
    finally:
        forwarder.stop()
    ids = {path: [json.loads(r.body)["alert"]["id"] for r in receiver.at(path)]
           for path in ("/everything", "/red-only", "/town-stops")}
    assert sorted(ids["/everything"]) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd"]
    assert ids["/red-only"] == ["cccccccccccc"] and ids["/town-stops"] == ["aaaaaaaaaaaa"]
    first = receiver.at("/town-stops")[0]
    headers = {k.lower(): v for k, v in first.headers.items()}
    assert verify(SECRET.encode(), first.body, headers["x-zhizhi-signature"])
    assert not verify(b"another-secret", first.body, headers["x-zhizhi-signature"])
    assert not verify(SECRET.encode(), first.body + b" ", headers["x-zhizhi-signature"])
    assert headers["x-zhizhi-event"] == "alert.new" and headers["content-type"].startswith("application/json")
    body = json.loads(first.body)
    assert headers["x-zhizhi-delivery"] == body["delivery"] and body["event"] == "new"
    assert body["alert"]["severity"] == "orange" and body["target"] == "town-stops"
    # the default events leave out "updated"; a close is "closed", also for a target of "transition"
    assert not wants(targets[1], _event("updated", severity="red"))
    closed = _event("transition", status="closed")
    assert wants(_target(receiver, "t", events=["transition"]), closed)
    assert wants(_target(receiver, "c", events=["closed"]), closed)
    assert not wants(_target(receiver, "n", events=["new"]), closed)
    assert dead.list() == []


def test_retried_until_delivered_and_retry_after_honoured(receiver, dead):
    receiver.script("/flaky", [503, (429, {"Retry-After": "0"})])
    forwarder = _forwarder(dead, _target(receiver, "flaky"))
    try:
        forwarder.on_alert(_event())
        assert wait_until(lambda: forwarder.counters["delivered"] == 1)
    finally:
        forwarder.stop()
    tries = receiver.at("/flaky")
    assert len(tries) == 3 and len({r.headers["X-Zhizhi-Delivery"] for r in tries}) == 1  # one delivery id
    assert len({r.body for r in tries}) == 1 and dead.list() == []
    assert backoff_s(FAST, 1, retry_after_s=30) == FAST.max_backoff_s  # a long Retry-After is capped
    assert all(0.5 * 0.04 <= backoff_s(FAST, 3) <= 0.04 for _ in range(20))  # jitter shortens, never lengthens


def test_failing_receiver_is_dead_lettered_then_resent(receiver, dead):
    receiver.fail("/down", 500)
    forwarder = _forwarder(dead, _target(receiver, "down"))
    try:
        forwarder.on_alert(_event())
        assert wait_until(lambda: dead.count() == 1)
    finally:
        forwarder.stop()
    letter = dead.list()[0]
    assert letter.attempts == FAST.attempts == len(receiver.at("/down"))
    assert letter.status_code == 500 and letter.reason.startswith("HTTP 500") and letter.target == "down"
    assert not forwarder.resend(letter.id)[0]  # still down: kept, one more attempt
    assert dead.get(letter.id).attempts == FAST.attempts + 1
    receiver.recover("/down")
    delivered, _ = forwarder.resend(letter.id)
    assert delivered and dead.list() == []
    last = receiver.at("/down")[-1]
    assert last.headers["X-Zhizhi-Delivery"] == letter.delivery and last.body == letter.body
    assert verify(SECRET.encode(), last.body, last.headers["X-Zhizhi-Signature"])


def test_refused_at_once_and_unreachable_retried(receiver, dead):
    receiver.fail("/refuses", 400)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = WebhookTarget(name="nowhere", url=f"http://127.0.0.1:{closed_port}/x", secret=SECRET, timeout_s=1)
    forwarder = _forwarder(dead, _target(receiver, "refuses"), unreachable)
    try:
        forwarder.on_alert(_event())
        assert wait_until(lambda: dead.count() == 2)
    finally:
        forwarder.stop()
    letters = {d.target: d for d in dead.list()}
    assert letters["refuses"].attempts == 1 == len(receiver.at("/refuses")) and letters["refuses"].status_code == 400
    assert letters["nowhere"].attempts == FAST.attempts and letters["nowhere"].status_code is None
    assert "ConnectError" in letters["nowhere"].reason


def test_a_slow_receiver_never_blocks_alert_intake(receiver, dead):
    receiver.slow_s = 0.5
    try:
        forwarder = _forwarder(dead, _target(receiver, "slow"), queue_size=3)
        started = time.perf_counter()
        for n in range(40):
            forwarder.on_alert(_event(id=f"slow{n:08d}"))
        took = time.perf_counter() - started
        forwarder.stop(timeout_s=5)
    finally:
        receiver.slow_s = 0.0
    assert took < 1.0, took  # 40 alerts while a delivery takes 0.5 s: intake waits on nothing
    # the overflow is dead-lettered as it arrives, what is still queued at stop too: nothing lost
    full = [d for d in dead.list(limit=1000) if d.reason.startswith("queue full")]
    assert len(full) >= 40 - 3 - 1 and all(json.loads(d.body)["alert"]["id"].startswith("slow") for d in full)
    handled = forwarder.counters["delivered"] + dead.count()
    assert handled == 40, (forwarder.counters, dead.count())
    assert {d.reason for d in dead.list(limit=1000)} <= {"queue full (3 waiting)",
                                                         "the console stopped before it was delivered"}


@pytest.mark.parametrize(("target", "says"), [
    ({"url": "ftp://192.0.2.1/x"}, "URL scheme should be 'http' or 'https'"),
    ({"secret": "short"}, "at least 16 characters"),
    ({"name": "Town A"}, "should match pattern"),
    ({"severities": ["purple"]}, "'red', 'orange', 'yellow' or 'blue'"),
    ({"events": ["deleted"]}, "'new', 'updated'"),
    ({"jurisdiction": "../etc"}, "../etc"),
])
def test_a_bad_target_is_refused_saying_why(target, says):
    good = {"name": "ok", "url": "http://192.0.2.1/hook", "secret": SECRET}
    with pytest.raises(ValueError) as refused:
        ForwardSettings(webhooks=[good | target])
    assert says in str(refused.value), str(refused.value)
    assert SECRET not in str(refused.value)  # errors never echo a secret
    with pytest.raises(ValueError, match="webhook names must be unique: ok"):
        ForwardSettings(webhooks=[good, good])


# --- CAP 1.2 ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def test_cap_messages_of_an_alerts_lifecycle_validate(jurisdictions, schema, tmp_path):
    bus = InProcessBus()
    events: list[AlertEvent] = []
    bus.subscribe(Topic.ALERTS, events.append)
    now = [1_765_000_000.0]
    store = AlertStore(make_engine(f"sqlite:///{tmp_path / 'alerts.db'}"))
    service = AlertService(store, locator(jurisdictions), bus=bus, clock=lambda: now[0],
                           district=jurisdictions.district_code)
    grid = jurisdictions.get(jurisdictions.grid_codes[0])
    lon, lat = grid.anchor
    alert = service.ingest(WarningEvent(rule="abnormal_stop", rule_id="stop-1", severity="orange", camera_id="CAM-1",
                                        track_id=7, cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now[0] - 60,
                                        last_ts=now[0]))
    for status in ("acknowledged", "resolved", "closed"):
        now[0] += 90
        service.transition(alert.id, status, "duty")
    context = CapContext(CapSettings(sender="cmd@320612.example"), "Exercise", ZoneInfo("Asia/Shanghai"),
                         lambda c: jurisdictions.get(c).name if c in jurisdictions else None,
                         lambda c: jurisdictions.get(c).geometry if c in jurisdictions else None)
    history = [h.ts for h in store.history(alert.id)]
    docs = []
    for message in events:
        xml = build_cap(message, earlier_revisions(message, history), context)
        doc = etree.fromstring(xml)
        assert schema.validate(doc), schema.error_log
        docs.append(doc)

    def text(doc, path):
        return doc.findtext(path, namespaces=NS)

    assert [text(d, "cap:msgType") for d in docs] == ["Alert", "Update", "Cancel", "Cancel"]
    assert text(docs[0], "cap:sent") == "2025-12-06T13:46:40+08:00"
    ids = [text(d, "cap:identifier") for d in docs]
    assert ids[0] == identifier(alert.id, alert.created_ts) and len(set(ids)) == 4
    for n, doc in enumerate(docs):  # each references every earlier message, oldest first
        refs = (text(doc, "cap:references") or "").split()
        assert [r.split(",")[1] for r in refs] == ids[:n]
        assert all(r.split(",")[0] == "cmd@320612.example" for r in refs)
    info = docs[0].find("cap:info", NS)
    assert text(info, "cap:event") == "危化品异常停车" and text(info, "cap:language") == "zh-CN"
    assert text(info, "cap:severity") == "Severe" and text(info, "cap:urgency") == "Immediate"
    assert text(info, "cap:category") == "Transport" and "橙色预警" in text(info, "cap:headline")
    assert text(docs[-1].find("cap:info", NS), "cap:urgency") == "Past"
    area = info.find("cap:area", NS)
    assert jurisdictions.get(alert.town).name in text(area, "cap:areaDesc")
    pairs = [tuple(map(float, p.split(","))) for p in text(area, "cap:polygon").split()]
    assert pairs[0] == pairs[-1] and len(pairs) >= 4
    outline = shapely.Polygon([(lo, la) for la, lo in pairs])  # lat,lon in CAP: swap back
    assert outline.buffer(1e-6).contains(shapely.Point(lon, lat))
    center, radius = text(area, "cap:circle").split()
    assert tuple(map(float, center.split(","))) == pytest.approx((lat, lon), abs=1e-6) and float(radius) > 0


def test_cap_webhook_body_is_the_cap_message(receiver, dead, schema):
    rendered = []

    def cap(message: AlertEvent) -> bytes:
        context = CapContext(CapSettings(scope="Public"), "Actual", ZoneInfo("UTC"), lambda c: "某镇", lambda c: None)
        rendered.append(build_cap(message, [], context))
        return rendered[-1]

    forwarder = Forwarder(ForwardSettings(webhooks=[_target(receiver, "cap-feed", format="cap")], retry=FAST),
                          dead, cap=cap).start()
    try:  # a reported event whose text holds what XML cannot carry
        forwarder.on_alert(_event(source="hotline", channel="hotline", text="仓库\x01冒烟\ud800 <&>"))
        assert wait_until(lambda: len(receiver.at("/cap-feed")) == 1)
    finally:
        forwarder.stop()
    got = receiver.at("/cap-feed")[0]
    assert got.headers["Content-Type"].startswith("application/cap+xml") and got.body == rendered[0]
    doc = etree.fromstring(got.body)
    assert schema.validate(doc), schema.error_log
    assert doc.findtext("cap:sent", namespaces=NS).endswith("+00:00")
    assert doc.find("cap:restriction", NS) is None and doc.findtext("cap:scope", namespaces=NS) == "Public"
    assert "报告内容：仓库冒烟 <&>" in doc.findtext("cap:info/cap:description", namespaces=NS)
    assert doc.findtext("cap:info/cap:certainty", namespaces=NS) == "Observed"  # people saw it
