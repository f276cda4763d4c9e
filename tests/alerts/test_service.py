"""The alert service on a real SQLite file: dedup, severity, cooldown, suppression, routing,
escalation and hand-down, deadlines, people's reports and bus messages; a fake clock throughout."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.alerts_support import (
    T0,
    Recorder,
    grids_of,
    open_service,
    small_district,
    warning,
)
from zhizhi.alerts.policy import AlertPolicy, SuppressionWindow
from zhizhi.alerts.record import ActionKind, AlertStatus, EventReport
from zhizhi.alerts.service import (
    AlertConflict,
    AlertNotFound,
    InvalidReport,
    NotResponsible,
    OutsideDistrict,
    OutsideJurisdiction,
    RoutingError,
    unit_above,
)
from zhizhi.bus import InProcessBus
from zhizhi.gis.codes import Level
from zhizhi.gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from zhizhi.models.warning.record import Severity

GRID = grids_of(0)[0]
VILLAGE, TOWN, DISTRICT = GRID[:12], GRID[:9], GRID[:6]
OTHER_GRID = grids_of(1)[0]


# --- intake and dedup -----------------------------------------------------------------------


def test_new_alert_is_located_routed_and_timed(service, clock):
    alert = service.ingest(warning(GRID, severity="yellow"))
    assert (alert.grid, alert.village, alert.town, alert.district) == (GRID, VILLAGE, TOWN, DISTRICT)
    assert alert.status == AlertStatus.NEW and alert.assignee_unit == VILLAGE
    assert alert.category == "abnormal_stop" and alert.source == "video"
    assert alert.cameras == ["CAM-1"] and alert.key == "hazmat-stop|CAM-1|7"
    assert alert.deadline_ts == clock.now + 1800
    assert alert.created_ts == alert.updated_ts == clock.now


def test_many_updates_make_one_alert(service, clock, bus):
    seen = Recorder(bus)
    first = service.ingest(warning(GRID, last=T0))
    for i in range(1, 40):
        clock.advance(1)
        camera = "CAM-2" if i == 20 else "CAM-1"
        service.ingest(warning(GRID, last=T0 + i, cameras=[camera], details={"stopped_s": 60 + i}))
    late = service.ingest(warning(GRID, first=T0 - 600, last=T0 + 5))  # out of order: last_ts kept
    alerts = service.list()
    assert len(alerts) == 1 and alerts[0].id == first.id == late.id
    alert = alerts[0]
    assert alert.last_ts == T0 + 39 and alert.first_ts == T0 - 600
    assert alert.cameras == ["CAM-1", "CAM-2"] and alert.details["stopped_s"] == 99
    assert seen.events == ["new"] + ["updated"] * 40
    assert {m.id for m in seen.messages} == {first.id}
    # Only meaningful changes reach the audit trail: creation and the second camera.
    history = service.history(first.id)
    assert [h.action for h in history] == [ActionKind.CREATE, ActionKind.UPDATE]
    assert "CAM-2" in history[1].note
    # An identical repeat changes nothing and publishes nothing.
    before = len(seen.messages)
    assert service.ingest(warning(GRID, first=T0 - 600, last=T0 + 39, cameras=["CAM-2"],
                                  details={"stopped_s": 99})).version == alert.version
    assert len(seen.messages) == before


def test_severity_only_upgrades_and_moves_the_assignee_up(service, bus):
    seen = Recorder(bus)
    alert = service.ingest(warning(GRID, severity="blue"))
    assert alert.assignee_unit == VILLAGE
    alert = service.ingest(warning(GRID, severity="orange", last=T0 + 1))
    assert alert.severity == Severity.ORANGE and alert.assignee_unit == TOWN
    alert = service.ingest(warning(GRID, severity="yellow", last=T0 + 2))
    assert alert.severity == Severity.ORANGE and alert.assignee_unit == TOWN
    alert = service.ingest(warning(GRID, severity="red", last=T0 + 3))
    assert alert.severity == Severity.RED and alert.assignee_unit == DISTRICT
    alert = service.ingest(warning(GRID, severity="blue", last=T0 + 4))
    assert alert.severity == Severity.RED and alert.assignee_unit == DISTRICT
    escalations = [h for h in service.history(alert.id) if h.action == ActionKind.ESCALATE]
    assert [(h.from_unit, h.unit) for h in escalations] == [(VILLAGE, TOWN), (TOWN, DISTRICT)]
    assert seen.events.count("escalated") == 2


def test_severity_upgrade_never_pulls_a_higher_assignee_down(service):
    alert = service.ingest(warning(GRID, severity="blue"))
    service.escalate(alert.id, "320612")
    service.escalate(alert.id, "320612")
    alert = service.ingest(warning(GRID, severity="orange", last=T0 + 1))
    assert alert.severity == Severity.ORANGE and alert.assignee_unit == DISTRICT


def test_the_end_of_a_condition_is_recorded(service):
    alert = service.ingest(warning(GRID))
    ended = service.ingest(warning(GRID, last=T0 + 30, active=False))
    assert ended.id == alert.id and ended.active is False and ended.status == AlertStatus.NEW
    assert service.history(alert.id)[-1].note == "condition ended"


def test_a_warning_that_already_ended_opens_nothing(service):
    assert service.ingest(warning(GRID, active=False)) is None
    assert service.counters["ended"] == 1 and service.list() == []


def test_warning_outside_the_district_is_kept_for_the_district(service):
    alert = service.ingest(warning(lonlat=(100.0, 30.0)))
    assert alert is not None and service.counters["unlocated"] == 1
    assert (alert.grid, alert.village, alert.town) == (None, None, None)
    assert alert.district == DISTRICT and alert.assignee_unit == DISTRICT
    assert service.get(alert.id, DISTRICT) == alert
    with pytest.raises(AlertNotFound):
        service.get(alert.id, TOWN)


@pytest.mark.parametrize(
    "severity, level",
    [("blue", Level.VILLAGE), ("yellow", Level.VILLAGE), ("orange", Level.TOWN), ("red", Level.DISTRICT)],
)
def test_default_routing_by_severity(service, severity, level):
    alert = service.ingest(warning(GRID, severity=severity))
    assert alert.assignee_unit == {Level.VILLAGE: VILLAGE, Level.TOWN: TOWN, Level.DISTRICT: DISTRICT}[level]


def test_routing_and_time_limits_are_configurable(tmp_path, clock):
    policy = AlertPolicy(
        routing={"blue": "grid", "yellow": "town", "orange": "town", "red": "town"},
        time_limits_s={"speeding": 120},
        default_time_limit_s=999,
    )
    service = open_service(tmp_path / "a.db", clock, policy)
    blue = service.ingest(warning(GRID, severity="blue", rule="speeding", track=1))
    red = service.ingest(warning(GRID, severity="red", rule="crowd", track=2))
    assert blue.assignee_unit == GRID and blue.deadline_ts == clock.now + 120
    assert red.assignee_unit == TOWN and red.deadline_ts == clock.now + 999


def test_policy_refuses_incomplete_routing_and_bad_limits():
    with pytest.raises(ValidationError, match="missing"):
        AlertPolicy(routing={"red": "district"})
    with pytest.raises(ValidationError, match="time limit"):
        AlertPolicy(time_limits_s={"fire": 0})
    with pytest.raises(ValidationError, match="village or town"):
        AlertPolicy(event_levels={"fire": "district"})
    with pytest.raises(ValidationError, match="cooldown_s"):
        AlertPolicy(cooldown_s=-1)


# --- cooldown -------------------------------------------------------------------------------


@pytest.mark.parametrize("final", [AlertStatus.RESOLVED, AlertStatus.CLOSED])
def test_cooldown_after_resolve_or_close(service, clock, final):
    alert = service.ingest(warning(GRID))
    service.transition(alert.id, AlertStatus.RESOLVED, "officer")
    if final == AlertStatus.CLOSED:
        service.transition(alert.id, AlertStatus.CLOSED, "officer")
    clock.advance(599)
    assert service.ingest(warning(GRID, last=clock.now)) is None
    assert service.counters["cooldown"] == 1 and len(service.list()) == 1
    clock.advance(2)
    again = service.ingest(warning(GRID, last=clock.now))
    assert again is not None and again.id != alert.id and again.status == AlertStatus.NEW
    assert len(service.list()) == 2


def test_reopening_while_a_newer_alert_of_the_key_is_open_is_refused(service, clock):
    alert = service.ingest(warning(GRID))
    service.transition(alert.id, AlertStatus.RESOLVED, "officer")
    clock.advance(3600)
    newer = service.ingest(warning(GRID, last=clock.now))
    with pytest.raises(AlertConflict, match=newer.id):
        service.transition(alert.id, AlertStatus.REOPENED, "officer", note="again")
    assert service.get(alert.id).status == AlertStatus.RESOLVED


# --- suppression ----------------------------------------------------------------------------


def _suppressing(tmp_path, clock, *windows):
    return open_service(tmp_path / "s.db", clock, AlertPolicy(suppression=list(windows)))


def test_suppression_by_local_hours(tmp_path, clock):
    # T0 is 23:06 in Beijing time: inside 22:00-06:00.
    service = _suppressing(
        tmp_path, clock, SuppressionWindow(name="night works", rule="abnormal_stop", hours="22:00-06:00")
    )
    assert service.ingest(warning(GRID)) is None
    assert service.ingest(warning(GRID, track=8)) is None
    assert service.counters["suppressed"] == 2 and service.suppressed["night works"] == 2
    assert service.ingest(warning(GRID, rule="speeding", rule_id="speed-60", track=9)) is not None
    day = T0 + 10 * 3600  # 09:06 next morning
    assert service.ingest(warning(GRID, track=10, last=day)) is not None


def test_suppression_by_rule_id_jurisdiction_and_absolute_range(tmp_path, clock):
    service = _suppressing(
        tmp_path, clock,
        SuppressionWindow(rule="hazmat-stop", jurisdiction=TOWN, start_ts=T0 - 10, end_ts=T0 + 10),
    )
    assert service.ingest(warning(GRID)) is None  # in the town, in the range
    assert service.ingest(warning(OTHER_GRID, track=2)) is not None  # another town
    assert service.ingest(warning(GRID, track=3, last=T0 + 10)) is not None  # range ended


def test_suppression_by_category_leaves_open_alerts_alone(tmp_path, clock):
    window = SuppressionWindow(category="abnormal_stop", start_ts=T0 + 100, end_ts=T0 + 200)
    service = _suppressing(tmp_path, clock, window)
    alert = service.ingest(warning(GRID))
    updated = service.ingest(warning(GRID, last=T0 + 150))
    assert updated.id == alert.id and updated.last_ts == T0 + 150
    joined = service.ingest(warning(GRID, track=99, last=T0 + 150))  # same place: the open alert's
    assert joined.id == alert.id and joined.track_ids == [7, 99]
    assert service.ingest(warning(OTHER_GRID, track=98, last=T0 + 150)) is None  # elsewhere: suppressed


@pytest.mark.parametrize(
    "window, fragment",
    [
        ({"hours": "22:00-06:00"}, "rule or a category"),
        ({"rule": "x"}, "exactly one"),
        ({"rule": "x", "hours": "25:00-06:00"}, "HH:MM"),
        ({"rule": "x", "start_ts": 10}, "both start_ts and end_ts"),
        ({"rule": "x", "start_ts": 10, "end_ts": 5}, "after start_ts"),
        ({"rule": "x", "hours": "22:00-06:00", "jurisdiction": "3206"}, "jurisdiction code"),
    ],
)
def test_bad_suppression_windows_say_why(window, fragment):
    with pytest.raises(ValidationError, match=fragment):
        SuppressionWindow(**window)


def test_people_reports_are_never_suppressed(tmp_path, clock):
    service = _suppressing(tmp_path, clock, SuppressionWindow(category="fire", hours="00:00-24:00"))
    lon, lat = small_district().get(GRID).anchor
    report = EventReport(category="fire", text="smoke", lon=lon, lat=lat, reporter="a", channel="hotline")
    assert service.report_event(report, actor=DISTRICT).category == "fire"


# --- escalate and hand down -----------------------------------------------------------------


def test_unit_above():
    assert unit_above(GRID) == TOWN and unit_above(VILLAGE) == TOWN
    assert unit_above(TOWN) == DISTRICT and unit_above(DISTRICT) is None


def test_escalate_up_to_the_top_then_refuse(service, bus):
    seen = Recorder(bus)
    alert = service.ingest(warning(GRID, severity="blue"))
    alert = service.escalate(alert.id, actor=VILLAGE, note="needs the town's enforcement team")
    assert alert.assignee_unit == TOWN
    alert = service.escalate(alert.id, actor=TOWN, note="chemical leak")
    assert alert.assignee_unit == DISTRICT
    with pytest.raises(AlertConflict, match="already with the district"):
        service.escalate(alert.id, actor=DISTRICT)
    entries = [h for h in service.history(alert.id) if h.action == ActionKind.ESCALATE]
    assert [(h.from_unit, h.unit, h.actor) for h in entries] == [(VILLAGE, TOWN, VILLAGE), (TOWN, DISTRICT, TOWN)]
    assert entries[0].note == "needs the town's enforcement team"
    assert seen.events == ["new", "escalated", "escalated"]


def test_only_the_holder_or_above_may_escalate_or_hand_down(service):
    alert = service.ingest(warning(GRID, severity="orange"))  # held by the town
    with pytest.raises(NotResponsible, match="assigned to"):
        service.escalate(alert.id, actor=VILLAGE, scope=VILLAGE)
    with pytest.raises(NotResponsible):
        service.hand_down(alert.id, GRID, actor=VILLAGE, scope=VILLAGE)
    assert service.escalate(alert.id, actor=DISTRICT, scope=DISTRICT).assignee_unit == DISTRICT


def test_closed_alerts_are_not_escalated(service):
    alert = service.ingest(warning(GRID))
    service.transition(alert.id, AlertStatus.RESOLVED, "officer")
    with pytest.raises(AlertConflict, match="reopen"):
        service.escalate(alert.id, actor=DISTRICT)


def test_hand_down_rules(service, bus):
    seen = Recorder(bus)
    alert = service.ingest(warning(GRID, severity="red"))
    assert alert.assignee_unit == DISTRICT
    sibling_village = next(g for g in grids_of(0) if g[:12] != VILLAGE)[:12]
    refused = {
        DISTRICT: "not below",
        "320699001": "not below",  # another district's town
        OTHER_GRID[:9]: "does not contain",  # another town
        sibling_village: "does not contain",
        "12": "invalid jurisdiction code",
    }
    for unit, fragment in refused.items():
        with pytest.raises(RoutingError, match=fragment):
            service.hand_down(alert.id, unit, actor=DISTRICT)
    alert = service.hand_down(alert.id, TOWN, actor=DISTRICT, note="town's hazmat team")
    assert alert.assignee_unit == TOWN
    with pytest.raises(RoutingError, match="not below"):
        service.hand_down(alert.id, TOWN, actor=DISTRICT)
    alert = service.hand_down(alert.id, GRID, actor=TOWN)
    assert alert.assignee_unit == GRID
    entries = [h for h in service.history(alert.id) if h.action == ActionKind.HAND_DOWN]
    assert [(h.from_unit, h.unit) for h in entries] == [(DISTRICT, TOWN), (TOWN, GRID)]
    assert seen.events == ["new", "handed_down", "handed_down"]
    # From a grid, escalation goes to the town (the village's tier is skipped with the grid's).
    assert service.escalate(alert.id, actor=TOWN).assignee_unit == TOWN


def test_unlocated_alerts_cannot_be_handed_down(service):
    alert = service.ingest(warning(lonlat=(100.0, 30.0)))
    with pytest.raises(RoutingError, match="no grid"):
        service.hand_down(alert.id, TOWN, actor=DISTRICT)


def test_unknown_and_out_of_scope_ids(service):
    alert = service.ingest(warning(GRID))
    for call in (
        lambda: service.get("nope"),
        lambda: service.transition("zzzzzzzzzzzz", "acknowledged", "x"),
        lambda: service.get(alert.id, OTHER_GRID[:9]),
        lambda: service.transition(alert.id, "acknowledged", "x", scope=OTHER_GRID[:9]),
        lambda: service.escalate(alert.id, "x", scope=OTHER_GRID[:9]),
        lambda: service.hand_down(alert.id, GRID, "x", scope=OTHER_GRID[:9]),
        lambda: service.history(alert.id, OTHER_GRID[:9]),
    ):
        with pytest.raises(AlertNotFound):
            call()


# --- deadlines --------------------------------------------------------------------------------


def test_reminder_then_supervision_with_escalation(service, clock, bus):
    seen = Recorder(bus)
    alert = service.ingest(warning(GRID, severity="yellow"))  # village, 30 min
    assert service.check_deadlines(clock.now + 1799) == []
    clock.advance(1800)
    reminders = service.check_deadlines()
    assert [(a.action, a.alert_id, a.unit) for a in reminders] == [(ActionKind.REMINDER, alert.id, VILLAGE)]
    assert "提醒单" in reminders[0].note
    for _ in range(3):  # idempotent
        assert service.check_deadlines() == []
        assert service.check_deadlines(clock.now + 1799) == []
    clock.advance(1800)
    orders = service.check_deadlines()
    assert [(a.action, a.from_unit, a.unit) for a in orders] == [
        (ActionKind.SUPERVISION, VILLAGE, TOWN),
        (ActionKind.ESCALATE, VILLAGE, TOWN),
    ]
    assert "督办单" in orders[0].note
    assert service.check_deadlines(clock.advance(86400)) == []
    stored = service.get(alert.id)
    assert stored.assignee_unit == TOWN and stored.reminded_ts == clock.now - 86400 - 1800
    assert [h.action for h in service.history(alert.id)] == [
        ActionKind.CREATE, ActionKind.REMINDER, ActionKind.SUPERVISION, ActionKind.ESCALATE
    ]
    assert seen.events == ["new", "reminder", "supervision", "escalated"]


def test_late_check_sends_one_stage_at_a_time(service, clock):
    service.ingest(warning(GRID))
    clock.advance(10 * 86400)
    assert [a.action for a in service.check_deadlines()] == [ActionKind.REMINDER]
    assert service.check_deadlines(clock.now + 1799) == []
    assert ActionKind.SUPERVISION in [a.action for a in service.check_deadlines(clock.now + 1800)]


def test_supervision_without_escalation_and_at_the_top(tmp_path, clock):
    policy = AlertPolicy(escalate_on_supervision=False, reminder_after_s=60, supervision_after_s=600)
    service = open_service(tmp_path / "a.db", clock, policy)
    village = service.ingest(warning(GRID, severity="blue", track=1))
    top = service.ingest(warning(GRID, severity="red", track=2, rule_id="red-stop"))  # its own rule: its own alert
    assert service.check_deadlines(clock.now + 1800 + 59) == []
    assert len(service.check_deadlines(clock.now + 1800 + 60)) == 2
    actions = service.check_deadlines(clock.now + 1800 + 60 + 600)
    assert {(a.alert_id, a.action, a.unit) for a in actions} == {
        (village.id, ActionKind.SUPERVISION, TOWN),
        (top.id, ActionKind.SUPERVISION, DISTRICT),  # the district supervises itself
    }
    assert service.get(village.id).assignee_unit == VILLAGE


def test_handled_alerts_get_no_reminders(service, clock):
    alert = service.ingest(warning(GRID))
    service.transition(alert.id, AlertStatus.RESOLVED, "officer")
    other = service.ingest(warning(GRID, track=2))
    service.transition(other.id, AlertStatus.DISPATCHED, "officer")
    actions = service.check_deadlines(clock.now + 86400)
    assert [a.alert_id for a in actions] == [other.id]


# --- people's reports -------------------------------------------------------------------------


def _report(lon, lat, **kw):
    fields = {"category": "road_damage", "text": "路面塌陷 pothole", "lon": lon, "lat": lat,
              "reporter": "张三", "channel": "grid_worker"}
    return EventReport(**(fields | kw))


def test_report_is_located_routed_and_audited(service, clock, bus):
    seen = Recorder(bus)
    lon, lat = small_district().get(GRID).anchor
    alert = service.report_event(_report(lon, lat, occurred_at=T0 - 3600), actor=TOWN, scope=TOWN)
    assert alert.grid == GRID and alert.assignee_unit == VILLAGE
    assert alert.source == alert.channel == "grid_worker" and alert.reporter == "张三"
    assert alert.severity == Severity.BLUE and alert.key == f"event|{alert.id}"
    assert alert.first_ts == alert.last_ts == T0 - 3600 and alert.deadline_ts == clock.now + 86400
    assert service.history(alert.id)[0].actor == TOWN
    fire = service.report_event(_report(lon, lat, category="fire", channel="hotline"), actor=DISTRICT)
    assert fire.assignee_unit == TOWN and fire.severity == Severity.ORANGE and fire.source == "hotline"
    assert seen.events == ["new", "new"]


@pytest.mark.parametrize("crs, to_crs", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_report_in_chinese_map_coordinates_is_converted(service, crs, to_crs):
    lon, lat = small_district().get(GRID).anchor
    c_lon, c_lat = (float(v) for v in to_crs(lon, lat))
    alert = service.report_event(_report(c_lon, c_lat, crs=crs), actor=DISTRICT)
    assert alert.grid == GRID
    assert abs(alert.lon - lon) < 1e-6 and abs(alert.lat - lat) < 1e-6
    assert alert.details["reported"] == {"crs": crs, "lon": c_lon, "lat": c_lat}


def test_report_refusals(service, clock):
    lon, lat = small_district().get(GRID).anchor
    with pytest.raises(OutsideDistrict, match="outside district"):
        service.report_event(_report(100.0, 30.0), actor=DISTRICT)
    with pytest.raises(OutsideJurisdiction, match="outside jurisdiction"):
        service.report_event(_report(lon, lat), actor=OTHER_GRID[:9], scope=OTHER_GRID[:9])
    with pytest.raises(InvalidReport, match="future"):
        service.report_event(_report(lon, lat, occurred_at=clock.now + 3600), actor=DISTRICT)
    assert service.list() == []


def test_a_broken_bus_never_undoes_a_stored_change(tmp_path, clock):
    class Broken(InProcessBus):
        def publish(self, topic, message):
            raise ConnectionError("redis down")

    service = open_service(tmp_path / "a.db", clock, bus=Broken())
    alert = service.ingest(warning(GRID))
    assert service.transition(alert.id, "acknowledged", "officer").status == AlertStatus.ACKNOWLEDGED


def test_bus_messages_carry_the_alert(service, bus):
    seen = Recorder(bus)
    alert = service.ingest(warning(GRID))
    service.transition(alert.id, "acknowledged", "officer")
    new, moved = seen.messages
    assert (new.event, new.status, moved.event, moved.status) == ("new", "new", "transition", "acknowledged")
    assert new.grid == GRID and new.assignee_unit == VILLAGE and new.evidence.snapshot is None
    # the wire form (Redis, the browsers) is the API's form of the alert, with its event
    wire = new.to_wire()
    assert wire["type"] == "alert" and wire["evidence"] == {"snapshot": None, "clip": None, "track": None}
    assert wire == alert.to_message("new") and list(wire)[:3] == ["type", "event", "id"]


def test_deadline_watch_keeps_running_through_errors():
    import threading

    from zhizhi.alerts.watch import DeadlineWatch

    calls = {"check": 0, "purge": 0}
    enough = threading.Event()

    def check():
        calls["check"] += 1
        if calls["check"] >= 3:
            enough.set()
        raise RuntimeError("database busy")

    watch = DeadlineWatch(check=check, purge=lambda: calls.__setitem__("purge", calls["purge"] + 1),
                          interval_s=0.01, purge_every_s=3600)
    watch.start()
    try:
        assert enough.wait(5)
    finally:
        watch.stop()
    assert calls["check"] >= 3 and calls["purge"] == 1  # purge: once an hour, from the start
    with pytest.raises(ValueError):
        DeadlineWatch(check=check, purge=check, interval_s=0)
