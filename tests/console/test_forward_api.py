"""Alert forwarding in a running console: alerts reach a webhook receiver on loopback through the bus,
as JSON and as CAP 1.2; dead letters listed, re-sent and discarded over the API; the CAP message of
an alert over the API; several consoles on Redis deliver each alert once."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from prometheus_client.parser import text_string_to_metric_families

from tests import forward_support
from tests.auth_support import Logins, create_test_users
from tests.forward_support import CAP_NAMESPACES as NS
from tests.forward_support import CAP_SCHEMA as SCHEMA
from tests.redis_support import wait_until
from zhizhi.alerts.forward.cap import identifier
from zhizhi.alerts.forward.deliver import Forwarder
from zhizhi.alerts.forward.settings import ForwardSettings, RetryPolicy, WebhookTarget
from zhizhi.alerts.forward.signing import verify
from zhizhi.alerts.forward.store import DeadLetterStore
from zhizhi.bus import Topic
from zhizhi.console.app import create_app
from zhizhi.console.forwarding import FORWARD_GROUP
from zhizhi.console.runtime import Runtime
from zhizhi.console.settings import AlertSettings, DemoSettings, Settings
from zhizhi.layers import make_engine
from zhizhi.models.warning.record import WarningEvent

receiver = forward_support.receiver  # the module's webhook receiver (a fixture)

SECRET = "console-forwarding-secret"


@pytest.fixture(scope="module")
def console(tmp_path_factory, receiver):
    """A small console forwarding every alert to three targets: JSON, CAP, and one that is down."""
    forward = ForwardSettings(
        webhooks=[
            WebhookTarget(name="json-all", url=f"{receiver.url}/json", secret=SECRET, events=[]),
            WebhookTarget(name="cap-red-orange", url=f"{receiver.url}/cap", secret=SECRET, format="cap",
                          severities=["red", "orange"]),
            WebhookTarget(name="down", url=f"{receiver.url}/down", secret=SECRET),
        ],
        retry=RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.02),
    )
    settings = Settings(data_dir=tmp_path_factory.mktemp("forward-console"), forward=forward,
                        demo=DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=0),
                        alerts=AlertSettings(check_interval_s=60))
    receiver.fail("/down", 503)
    with Runtime(settings) as runtime:
        state = runtime.state
        users = create_test_users(state)
        with TestClient(create_app(settings, state=state)) as client:
            logins = Logins(client)
            client.headers.update(logins[users.district])  # the district's duty officer unless told
            yield state, client, users, logins


def _raise(state, town: str, severity: str = "orange"):
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    return state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id=f"fwd-{now}", severity=severity, camera_id="CAM-FWD", track_id=int(now),
        cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now - 30, last_ts=now))


def test_alerts_reach_the_receivers_and_the_cap_api(console, receiver):
    state, client, users, logins = console
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    alert = _raise(state, users.town_a)
    assert wait_until(lambda: any(json.loads(r.body)["alert"]["id"] == alert.id for r in receiver.at("/json")))
    assert wait_until(lambda: len(receiver.at("/cap")) >= 1)
    sent = next(r for r in receiver.at("/json") if json.loads(r.body)["alert"]["id"] == alert.id)
    assert verify(SECRET.encode(), sent.body, sent.headers["X-Zhizhi-Signature"])
    cap = etree.fromstring(receiver.at("/cap")[-1].body)
    assert schema.validate(cap), schema.error_log
    assert cap.findtext("cap:identifier", namespaces=NS) == identifier(alert.id, alert.updated_ts)
    assert cap.findtext("cap:status", namespaces=NS) == "Exercise"  # the synthetic demo district
    town_name = state.jurisdictions.get(users.town_a).name
    assert town_name in cap.findtext("cap:info/cap:area/cap:areaDesc", namespaces=NS)

    state.alerts.transition(alert.id, "acknowledged", "duty")
    mine = client.get(f"/api/alerts/{alert.id}/cap.xml", headers=logins[users.operator_a])
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("application/cap+xml")
    doc = etree.fromstring(mine.content)
    assert schema.validate(doc), schema.error_log
    assert doc.findtext("cap:msgType", namespaces=NS) == "Update"
    assert identifier(alert.id, alert.updated_ts) in doc.findtext("cap:references", namespaces=NS)
    assert client.get(f"/api/alerts/{alert.id}/cap.xml", headers=logins[users.operator_b]).status_code == 404

    targets = client.get("/api/forward/targets").json()  # the district's duty officer
    assert [t["name"] for t in targets] == ["json-all", "cap-red-orange", "down"]
    assert SECRET not in json.dumps(targets) and all("/" not in t["host"] for t in targets)


def test_dead_letters_listed_resent_and_discarded(console, receiver):
    state, client, users, logins = console
    first, second = _raise(state, users.town_a), _raise(state, users.town_b)

    def letters():
        return {d["alert_id"]: d for d in client.get("/api/forward/dead-letters", params={"target": "down"}).json()}

    assert wait_until(lambda: {first.id, second.id} <= set(letters()))
    letter = letters()[first.id]
    assert letter["attempts"] == 2 and letter["status_code"] == 503 and "body" not in letter
    assert client.get("/api/forward/dead-letters", headers=logins[users.operator_a]).status_code == 403
    url = f"/api/forward/dead-letters/{letter['id']}"
    assert client.post(f"{url}/retry", headers=logins[users.operator_a]).status_code == 403

    still_down = client.post(f"{url}/retry")
    assert still_down.status_code == 502 and still_down.json()["detail"].startswith("HTTP 503")
    receiver.recover("/down")
    try:
        resent = client.post(f"{url}/retry")
        assert resent.status_code == 200 and resent.json() == {"delivered": True, "id": letter["id"],
                                                                "delivery": letter["delivery"]}
    finally:
        receiver.fail("/down", 503)
    assert receiver.at("/down")[-1].headers["X-Zhizhi-Delivery"] == letter["delivery"]
    assert first.id not in letters()
    other = letters()[second.id]["id"]
    assert client.delete(f"/api/forward/dead-letters/{other}").status_code == 204
    assert second.id not in letters()
    assert client.post(f"/api/forward/dead-letters/{other}/retry").status_code == 404
    assert client.get("/api/forward/dead-letters", params={"target": "nul\x00"}).status_code == 422
    for bad in ("0", "99999999999", "abc"):  # not an id: a precise 422, nothing touched
        refused = client.delete(f"/api/forward/dead-letters/{bad}")
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["path", "letter_id"]


def test_the_metrics_count_deliveries_by_target_and_outcome(console, receiver):
    state, client, users, _ = console

    def scrape() -> dict[tuple[str, str], float]:
        text = client.get("/metrics").text
        return {(s.labels["target"], s.labels["outcome"]): s.value for family in text_string_to_metric_families(text)
                if family.name == "zhizhi_forward_deliveries" for s in family.samples}

    before = scrape()
    assert set(before) == {(t, o) for t in ("json-all", "cap-red-orange", "down")
                           for o in ("queued", "delivered", "retried", "dead", "resent")}
    _raise(state, users.town_a, severity="red")
    assert wait_until(lambda: scrape()[("down", "dead")] == before[("down", "dead")] + 1)
    after = scrape()
    for target in ("json-all", "cap-red-orange", "down"):
        assert after[(target, "queued")] == before[(target, "queued")] + 1
    assert after[("json-all", "delivered")] == before[("json-all", "delivered")] + 1
    assert after[("down", "retried")] == before[("down", "retried")] + 1  # 2 attempts: 1 retry
    assert "zhizhi_forward_pending" in client.get("/metrics").text


def test_consoles_on_redis_deliver_each_alert_once(redis_server, receiver, tmp_path):
    """Two consoles' forwarders in the ``forward`` consumer group of one Redis bus."""
    from zhizhi.bus.messages import AlertEvent
    from zhizhi.bus.redis_bus import RedisBus

    settings = ForwardSettings(webhooks=[WebhookTarget(name="once", url=f"{receiver.url}/once", secret=SECRET,
                                                       events=[])])
    store = DeadLetterStore(make_engine(f"sqlite:///{tmp_path / 'dead.db'}"))
    buses = [RedisBus(redis_server.url, node=f"console-{n}", prefix="fwd-test") for n in range(2)]
    forwarders = [Forwarder(settings, store).start() for _ in buses]
    subscriptions = [bus.consume(Topic.ALERTS, FORWARD_GROUP, f.on_alert) for bus, f in zip(buses, forwarders)]
    try:
        time.sleep(0.3)  # both group members reading
        ids = [f"once{n:08d}" for n in range(20)]
        for alert_id in ids:
            buses[0].publish(Topic.ALERTS, AlertEvent(
                event="new", id=alert_id, key=alert_id, severity="red", source="video", category="abnormal_stop",
                lon=121.0, lat=32.0, assignee_unit="320612", first_ts=1.0, last_ts=2.0, created_ts=2.0,
                updated_ts=2.0))
        assert wait_until(lambda: len(receiver.at("/once")) >= 20, timeout=10)
        time.sleep(0.3)  # a duplicate would arrive by now
        got = [json.loads(r.body)["alert"]["id"] for r in receiver.at("/once")]
        assert sorted(got) == ids  # each once
        assert all(f.counters["delivered"] > 0 for f in forwarders)  # shared between the consoles
    finally:
        for subscription in subscriptions:
            subscription.cancel()
        for forwarder in forwarders:
            forwarder.stop()
        for bus in buses:
            bus.stop()
