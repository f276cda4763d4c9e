"""Alert storage on SQLite (a real file, WAL) and PostgreSQL (``db_url``): queries, one transaction
per change, restarts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from tests.alerts_support import T0, FakeClock, grids_of, small_district, warning
from zhizhi.alerts.record import ActionKind, Alert, AlertAction, AlertStatus, EventReport
from zhizhi.alerts.service import AlertService
from zhizhi.alerts.store import (
    AlertStore,
    DuplicateOpenKey,
    StaleAlert,
    actions_table,
    alerts_table,
)
from zhizhi.console.state import locator
from zhizhi.layers import Scope, make_engine

GRID_A = grids_of(0)[0]
GRID_B = grids_of(1)[0]


def _alert(i: int, **kw) -> Alert:
    fields = {
        "id": f"abcdefgh{i:04d}", "key": f"k|{i}", "severity": "yellow", "source": "video",
        "category": "abnormal_stop", "lon": 121.0, "lat": 32.0, "grid": GRID_A,
        "village": GRID_A[:12], "town": GRID_A[:9], "district": GRID_A[:6],
        "assignee_unit": GRID_A[:12], "first_ts": T0 + i, "last_ts": T0 + i,
        "created_ts": T0 + i, "updated_ts": T0 + i,
    }
    return Alert(**(fields | kw))


def _created(alert: Alert) -> AlertAction:
    return AlertAction(alert_id=alert.id, ts=alert.created_ts, actor="system", action=ActionKind.CREATE)


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def store(db_url):
    return AlertStore(make_engine(db_url))


def _open_service(db_url: str, clock: FakeClock) -> AlertService:
    """A service on ``db_url`` over the small district (as ``open_service`` on a file)."""
    j = small_district()
    return AlertService(
        AlertStore(make_engine(db_url)), locator(j), clock=clock, district=j.district_code
    )


def test_file_database_runs_in_wal_mode(store):
    """SQLite: WAL and foreign keys; PostgreSQL: the same tables, reached through psycopg 3."""
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":
            assert store.engine.dialect.driver == "psycopg"
            assert conn.execute(text("SELECT to_regclass('alerts') IS NOT NULL")).scalar_one()
            return
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_queries_filter_scope_and_order(store):
    town_a, town_b = GRID_A[:9], GRID_B[:9]
    rows = [
        _alert(0),
        _alert(1, severity="red", status="acknowledged"),
        _alert(2, grid=GRID_B, village=GRID_B[:12], town=town_b, assignee_unit=town_b),
        # In town A's grid but escalated to the district: still town A's, never town B's.
        _alert(3, assignee_unit=GRID_A[:6], status="resolved"),
        # Outside the district: only the district sees it.
        _alert(4, grid=None, village=None, town=None, assignee_unit=GRID_A[:6]),
    ]
    for row in rows:
        store.create(row, [_created(row)])

    def ids(alerts: list[Alert]) -> list[str]:
        return [a.id[-1] for a in alerts]

    assert ids(store.list()) == ["4", "3", "2", "1", "0"]  # newest last_ts first
    assert ids(store.list(scope=town_a)) == ["3", "1", "0"]
    assert ids(store.list(scope=Scope(code=town_b))) == ["2"]
    assert ids(store.list(scope=GRID_A[:6])) == ["4", "3", "2", "1", "0"]
    assert ids(store.list(scope=GRID_A)) == ["3", "1", "0"]
    assert ids(store.list(status=["new"])) == ["4", "2", "0"]
    assert ids(store.list(status=["acknowledged", "resolved"])) == ["3", "1"]
    assert ids(store.list(severity=["red"])) == ["1"]
    assert ids(store.list(since=T0 + 1, until=T0 + 3)) == ["3", "2", "1"]
    assert ids(store.list(limit=2, offset=1)) == ["3", "2"]
    assert store.get(rows[2].id, town_a) is None and store.get(rows[2].id, town_b) == rows[2]
    assert store.get(rows[4].id, town_a) is None
    with pytest.raises(ValueError):
        store.list(status=["archived"])


def test_a_failed_write_leaves_no_half_alert(store, monkeypatch):
    alert = _alert(0)

    def crash(conn, actions):
        raise OSError("disk gone mid-write")

    monkeypatch.setattr(store, "_add_actions", crash)
    with pytest.raises(OSError):
        store.create(alert, [_created(alert)])
    assert store.get(alert.id) is None and _count(store.engine, alerts_table) == 0
    monkeypatch.undo()
    store.create(alert, [_created(alert)])
    changed = alert.model_copy(update={"status": AlertStatus.ACKNOWLEDGED})
    monkeypatch.setattr(store, "_add_actions", crash)
    with pytest.raises(OSError):
        store.update(changed, [_created(alert)])
    assert store.get(alert.id) == alert and len(store.history(alert.id)) == 1


def test_stale_updates_are_refused(store):
    alert = store.create(_alert(0))
    first = store.update(alert.model_copy(update={"status": AlertStatus.ACKNOWLEDGED}))
    assert first.version == 1
    with pytest.raises(StaleAlert):
        store.update(alert.model_copy(update={"status": AlertStatus.CLOSED}))
    assert store.get(alert.id).status == AlertStatus.ACKNOWLEDGED


def test_one_open_alert_per_key_in_the_database(store):
    store.create(_alert(0, key="same"))
    with pytest.raises(DuplicateOpenKey):
        store.create(_alert(1, key="same"))
    store.create(_alert(2, key="same", status="closed", done_ts=T0))  # closed ones may repeat
    assert [a.id for a in store.list()] == [_alert(2).id, _alert(0).id]


def test_restart_loses_nothing_and_duplicates_nothing(db_url):
    clock = FakeClock()
    service = _open_service(db_url, clock)
    open_one = service.ingest(warning(GRID_A, track=1, details={"plate": "苏F12345"}))
    service.transition(open_one.id, "acknowledged", "320612", note="seen")
    done = service.ingest(warning(GRID_B, track=2))
    service.transition(done.id, "resolved", "320612")
    lon, lat = service.get(open_one.id).lon, service.get(open_one.id).lat
    event = service.report_event(
        EventReport(category="dispute", text="邻里纠纷", lon=lon, lat=lat, reporter="李四", channel="hotline"),
        actor="320612",
    )
    before = {a.id: (a, service.history(a.id)) for a in service.list()}
    service.store.engine.dispose()

    clock.advance(60)
    again = _open_service(db_url, clock)  # a restart: a new engine on the same database
    after = {a.id: (a, again.history(a.id)) for a in again.list()}
    assert after == before and len(after) == 3
    assert again.get(event.id).text == "邻里纠纷"
    # The open alert's key is found again: a further warning updates it.
    updated = again.ingest(warning(GRID_A, track=1, last=T0 + 60))
    assert updated.id == open_one.id and updated.last_ts == T0 + 60
    assert updated.status == AlertStatus.ACKNOWLEDGED and updated.details["plate"] == "苏F12345"
    # The resolved one's cooldown holds across the restart too.
    assert again.ingest(warning(GRID_B, track=2, last=T0 + 60)) is None
    assert len(again.list()) == 3
    # A bare last_ts update is not audited: the trail is exactly what it was.
    assert _count(again.store.engine, actions_table) == sum(len(h) for _, h in before.values())
