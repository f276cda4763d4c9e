"""One alert per physical event: id switches, other cameras and BeiDou join the open alert; the
board's bulk actions; verdicts become labels; false-alarm rates. Real SQLite, a fake clock."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests import db_support
from tests.alerts_support import T0, Recorder, grids_of, open_service, small_district, warning
from tests.db_support import upgrade_with_rows
from zhizhi.alerts.labels import LabelStore
from zhizhi.alerts.lifecycle import IllegalTransition, NoteRequired
from zhizhi.alerts.policy import AlertPolicy, Grouping
from zhizhi.alerts.record import AlertStatus, Verdict
from zhizhi.alerts.service import AlertConflict, AlertNotFound, AlertService, InvalidReport
from zhizhi.alerts.store import AlertStore, keys_table
from zhizhi.console.state import locator
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers import make_engine
from zhizhi.models.warning.record import WarningEvent

GRID = grids_of(0)[0]
TOWN = GRID[:9]
OTHER_GRID = grids_of(1)[0]
REGISTRY = {"plate": "苏F·A1234", "company": "南通危运", "un_number": "UN1203", "hazard_class": "3"}


def shifted(grid: str, east_m: float, north_m: float = 0.0) -> tuple[float, float]:
    """A point ``east_m``/``north_m`` metres from the grid's anchor."""
    lon, lat = small_district().get(grid).anchor
    frame = MetricFrame.around(lon, lat)
    x, y = frame.to_metric(lon, lat)
    back = frame.to_lonlat(x + east_m, y + north_m)
    return float(back[0]), float(back[1])


def beidou_stop(grid: str, vehicle: str = "苏F-A1234", *, first: float = T0 - 90, last: float = T0,
                active: bool = True, east_m: float = 8.0) -> WarningEvent:
    """The trajectory model's abnormal stop of a registered vehicle, as it sends it."""
    lon, lat = shifted(grid, east_m)
    return WarningEvent(
        rule="abnormal_stop", rule_id="hazmat-abnormal-stop", severity="orange", source="telemetry",
        lon=lon, lat=lat, first_ts=first, last_ts=last, active=active,
        details={"vehicle_id": vehicle, **REGISTRY, "stopped_s": last - first},
    )


def video_stop(grid: str, *, track: int, camera: str = "CAM-1", east_m: float = 0.0, **kw) -> WarningEvent:
    return warning(grid, track=track, camera=camera, rule_id="hazmat-abnormal-stop",
                   lonlat=shifted(grid, east_m), **kw)


# --- one alert per event ----------------------------------------------------------------------


def test_a_tracker_id_switch_on_a_stopped_tanker_is_one_alert(service, clock, bus):
    seen = Recorder(bus)
    first = service.ingest(video_stop(GRID, track=7, first=T0 - 60, last=T0))
    clock.advance(20)
    # the tracker lost the parked tanker behind a passing bus and gave it a new id
    switched = service.ingest(video_stop(GRID, track=31, first=T0 + 15, last=T0 + 45, east_m=2.0))
    ended = service.ingest(video_stop(GRID, track=7, first=T0 - 60, last=T0 + 10, active=False))
    assert switched.id == first.id == ended.id and len(service.list()) == 1
    alert = service.get(first.id)
    assert alert.track_ids == [7, 31] and [m.track_id for m in alert.members] == [7, 31]
    assert alert.active, "track 31 still sees the tanker stopped"
    assert alert.last_ts == T0 + 45 and alert.first_ts == T0 - 60
    later = service.ingest(video_stop(GRID, track=31, first=T0 + 15, last=T0 + 80))  # 31 by its own key
    assert later.id == first.id and later.last_ts == T0 + 80
    done = service.ingest(video_stop(GRID, track=31, first=T0 + 15, last=T0 + 90, active=False))
    assert not done.active, "ends when every member has ended"
    assert [m.event for m in seen.messages].count("new") == 1
    trail = [h.note for h in service.history(first.id)]
    assert any("joined by track 31 of CAM-1" in note for note in trail)


def test_a_tanker_seen_by_two_cameras_and_by_beidou_is_one_alert(service):
    from_cam1 = service.ingest(video_stop(GRID, track=7, camera="CAM-1"))
    from_cam2 = service.ingest(video_stop(GRID, track=3, camera="CAM-2", east_m=12.0))
    from_beidou = service.ingest(beidou_stop(GRID))
    assert from_cam1.id == from_cam2.id == from_beidou.id and len(service.list()) == 1
    alert = service.get(from_cam1.id)
    assert alert.sources == ["video", "telemetry"] and alert.cameras == ["CAM-1", "CAM-2"]
    assert alert.track_ids == [7, 3]
    assert [(m.source, m.camera_id, m.vehicle_id) for m in alert.members] == [
        ("video", "CAM-1", None), ("video", "CAM-2", None), ("telemetry", None, "苏F-A1234"),
    ]
    # plate and cargo from the registry, through the BeiDou member
    assert alert.details["plate"] == "苏F·A1234" and alert.details["un_number"] == "UN1203"
    assert service.ingest(beidou_stop(GRID, last=T0 + 30)).id == alert.id  # its updates stay


def test_two_registered_tankers_side_by_side_are_two_alerts(service):
    one = service.ingest(beidou_stop(GRID, "苏F-A1234"))
    two = service.ingest(beidou_stop(GRID, "苏F-B5678", east_m=12.0))
    assert one.id != two.id and len(service.list()) == 2


def test_what_is_not_the_same_event_stays_apart(service, clock):
    base = service.ingest(video_stop(GRID, track=1))
    far = service.ingest(video_stop(GRID, track=2, east_m=80.0))  # beyond 50 m
    other_rule = service.ingest(warning(GRID, track=3, rule_id="car-stop"))  # another instance, same source
    other_kind = service.ingest(warning(GRID, track=4, rule="zone_entry", rule_id="school"))
    ids = {base.id, far.id, other_rule.id, other_kind.id}
    assert len(ids) == 4
    # an hour later the first alert is still open but its event long over: a new stop is new
    clock.advance(3600)
    late = service.ingest(video_stop(GRID, track=9, first=T0 + 3600, last=T0 + 3660))
    assert late.id not in ids


def test_after_a_close_a_new_stop_is_a_new_alert(service, clock):
    first = service.ingest(video_stop(GRID, track=7))
    service.transition(first.id, "resolved", "duty")
    clock.advance(60)
    again = service.ingest(video_stop(GRID, track=8, first=T0 + 50, last=T0 + 80))
    assert again.id != first.id and again.status == AlertStatus.NEW


def test_grouping_is_configured_per_rule(tmp_path, clock):
    policy = AlertPolicy(grouping={"hazmat-abnormal-stop": Grouping(radius_m=0)})
    service = open_service(tmp_path / "a.db", clock, policy)
    one = service.ingest(video_stop(GRID, track=7))
    two = service.ingest(video_stop(GRID, track=8))
    assert one.id != two.id
    wide = AlertPolicy(default_grouping=Grouping(radius_m=200, window_s=60))
    service = open_service(tmp_path / "b.db", clock, wide)
    one = service.ingest(video_stop(GRID, track=7))
    assert service.ingest(video_stop(GRID, track=8, east_m=150.0)).id == one.id


def test_a_late_end_of_a_closed_alerts_track_joins_nothing(service):
    first = service.ingest(video_stop(GRID, track=7))
    service.transition(first.id, "resolved", "duty")
    other = service.ingest(video_stop(GRID, track=8))
    assert other.id != first.id
    assert service.ingest(video_stop(GRID, track=7, active=False)) is None
    assert service.get(other.id).track_ids == [8]


def test_every_joined_key_is_stored(service, tmp_path):
    first = service.ingest(video_stop(GRID, track=7))
    service.ingest(video_stop(GRID, track=8))
    with service.store.engine.connect() as conn:
        keys = sorted(conn.execute(select(keys_table.c.key).where(keys_table.c.alert_id == first.id)).scalars())
    assert keys == ["hazmat-abnormal-stop|CAM-1|7", "hazmat-abnormal-stop|CAM-1|8"]


# --- bulk actions ---------------------------------------------------------------------------


def _three_apart(service) -> list[str]:
    """Three alerts of the same rule in one grid, far enough apart to stay separate."""
    return [service.ingest(video_stop(GRID, track=t, east_m=e)).id for t, e in ((1, 0), (2, 70), (3, 140))]


def test_acknowledge_all(service):
    ids = _three_apart(service)
    done, failed = service.bulk(ids, "acknowledge", "duty")
    assert failed == [] and {a.status for a in done} == {AlertStatus.ACKNOWLEDGED}
    done, failed = service.bulk(ids, "acknowledge", "duty")  # already acknowledged
    assert done == [] and len(failed) == 3 and all(isinstance(e, IllegalTransition) for _, e in failed)


def test_close_as_duplicate_hands_the_tracks_to_the_kept_alert(service):
    keep, *others = _three_apart(service)
    done, failed = service.bulk([keep, *others], "close_duplicate", "duty", duplicate_of=keep)
    assert failed == [] and [a.id for a in done] == others
    assert all(a.status == AlertStatus.CLOSED and a.verdict == Verdict.DUPLICATE and a.duplicate_of == keep
               for a in done)
    kept = service.get(keep)
    assert kept.is_open and kept.track_ids == [1, 2, 3]
    # a later sighting by a duplicate's track joins the kept alert
    assert service.ingest(video_stop(GRID, track=2, east_m=70, last=T0 + 30)).id == keep
    with pytest.raises(InvalidReport, match="duplicate_of"):
        service.bulk(others, "close_duplicate", "duty")
    with pytest.raises(AlertConflict, match="keep an open alert"):
        service.transition(keep, "closed", "duty", "dup", verdict="duplicate", duplicate_of=others[0])


def test_close_as_false_alarm_needs_a_note(service):
    ids = _three_apart(service)
    with pytest.raises(NoteRequired):
        service.bulk(ids, "close_false_alarm", "duty", note="  ")
    with pytest.raises(NoteRequired):
        service.transition(ids[0], "closed", "duty", verdict="false_alarm")
    done, failed = service.bulk(ids, "close_false_alarm", "duty", note="shadow of the overpass")
    assert failed == [] and {a.verdict for a in done} == {Verdict.FALSE_ALARM}
    assert "[false_alarm] shadow of the overpass" in service.history(ids[0])[-1].note


def test_bulk_respects_jurisdiction(service):
    ids = _three_apart(service)
    elsewhere = service.ingest(video_stop(OTHER_GRID, track=5)).id
    done, failed = service.bulk([*ids, elsewhere], "acknowledge", "town", scope=TOWN)
    assert len(done) == 3 and [(i, type(e)) for i, e in failed] == [(elsewhere, AlertNotFound)]
    assert service.get(elsewhere).status == AlertStatus.NEW


# --- labels and rates -------------------------------------------------------------------------


def test_verdicts_become_labels_with_the_rule_and_camera(service):
    service.describe = lambda alert: ({"id": alert.rule_id, "min_duration_s": 30}, {"id": alert.camera_id})
    false, true = _three_apart(service)[:2]
    service.transition(false, "closed", "duty", "a worker's van", verdict="false_alarm")
    service.transition(true, "resolved", "duty", "driver moved on")
    labels = LabelStore(service.store.engine).list()
    assert [(lb.alert_id, lb.verdict, lb.note) for lb in labels] == [
        (false, Verdict.FALSE_ALARM, "a worker's van"), (true, Verdict.CONFIRMED, "driver moved on"),
    ]
    label = labels[0]
    assert label.params == {"id": "hazmat-abnormal-stop", "min_duration_s": 30}
    assert label.camera == {"id": "CAM-1"} and label.track_ids == [1] and label.grid == GRID
    assert label.evidence == {"snapshot": None, "clip": None, "track": None}
    assert LabelStore(service.store.engine).list(verdicts=["false_alarm"], scope=OTHER_GRID[:9]) == []
    # a reopen clears the verdict; the label stays as history
    reopened = service.transition(false, "reopened", "duty", "it was a tanker after all")
    assert reopened.verdict is None and len(LabelStore(service.store.engine).list()) == 2


def test_false_alarm_rates_per_rule_and_camera(service, clock):
    ids = _three_apart(service)
    cam2 = service.ingest(video_stop(GRID, track=9, camera="CAM-2", east_m=300)).id
    service.bulk(ids[:2], "close_false_alarm", "duty", note="glare")
    rates = service.false_alarm_rates(since=T0 - 1)
    assert rates == [
        {"rule": "abnormal_stop", "rule_id": "hazmat-abnormal-stop", "camera_id": "CAM-1", "alerts": 3,
         "false_alarms": 2, "rate": 0.6667},
        {"rule": "abnormal_stop", "rule_id": "hazmat-abnormal-stop", "camera_id": "CAM-2", "alerts": 1,
         "false_alarms": 0, "rate": 0.0},
    ]
    assert cam2
    assert service.false_alarm_rates(OTHER_GRID[:9], since=T0 - 1) == []
    assert service.false_alarm_rates(since=clock.now + 1) == []


def test_evidence_that_arrives_after_the_verdict_reaches_its_label(service):
    alert_id = _three_apart(service)[0]
    service.transition(alert_id, "closed", "duty", "a parked crane", verdict="false_alarm")
    # the recorder ends an alert's track when it is closed: the file comes after the label
    service.attach_evidence(alert_id, track=f"{alert_id}/observations.jsonl")
    (label,) = LabelStore(service.store.engine).list()
    assert label.evidence["track"] == f"{alert_id}/observations.jsonl"


def test_the_purge_keeps_the_tracks_of_labelled_alerts(service, tmp_path):
    import os
    from types import SimpleNamespace

    from zhizhi.console.alert_labels import purge_evidence
    from zhizhi.console.settings import AlertSettings
    from zhizhi.video.evidence_store import EvidenceStore

    labelled, other = _three_apart(service)[:2]
    service.transition(labelled, "closed", "duty", "glare", verdict="false_alarm")
    evidence = EvidenceStore(tmp_path / "evidence", retention_days=30)
    rows = [{"camera_id": "CAM-1", "ts": T0, "track_id": 1}]
    files = [evidence.save_track(a, rows) for a in (labelled, other)] + [evidence.save_snapshot(labelled, b"\xff\xd8x")]
    joined = evidence.save_track(labelled, rows, camera_id="CAM-2")  # a camera that joined the alert
    service.attach_evidence(labelled, track=joined, camera_id="CAM-2")
    for relative in [*files, joined]:  # written 40 days ago
        os.utime(evidence.root / relative, (T0 - 40 * 86400, T0 - 40 * 86400))
    state = SimpleNamespace(settings=SimpleNamespace(alerts=AlertSettings()), engine=service.store.engine,
                            evidence=evidence)
    removed = purge_evidence(state, T0)
    assert sorted(removed) == sorted(files[1:])
    assert (evidence.root / files[0]).is_file() and (evidence.root / joined).is_file()


# --- migration 0009 ----------------------------------------------------------------------------

empty_db_url = db_support.empty_db_url  # a fresh, never migrated database per backend


def test_an_alert_stored_before_grouping_is_found_by_its_key_and_grows(empty_db_url, clock):
    """An open alert written at migration 0008 (no members, no key rows) keeps absorbing its
    warnings after 0009, and a warning at its place joins it as a second member."""
    lon, lat = small_district().get(GRID).anchor
    engine = make_engine(empty_db_url)
    try:
        upgrade_with_rows(engine, "0008", (
            "INSERT INTO alerts (id, key, rule, rule_id, model, severity, source, category, cameras, camera_id,"
            " track_id, cls, lon, lat, grid, village, town, district, evidence, first_ts, last_ts, active, status,"
            f" assignee_unit, details, created_ts, updated_ts, version) VALUES ('old0alert001',"
            " 'hazmat-abnormal-stop|CAM-1|7', 'abnormal_stop', 'hazmat-abnormal-stop', '', 'yellow', 'video',"
            f" 'abnormal_stop', '[\"CAM-1\"]', 'CAM-1', 7, 'hazmat_tanker', {lon}, {lat}, '{GRID}', '{GRID[:12]}',"
            f" '{GRID[:9]}', '{GRID[:6]}', '{{}}', {T0 - 60}, {T0}, true, 'new', '{GRID[:12]}', '{{}}', {T0}, {T0}, 0)"
        ))
        service = AlertService(AlertStore(engine), locator(small_district()), clock=clock,
                               district=small_district().district_code)
        old = service.get("old0alert001")
        assert old.members == [] and old.track_ids == [] and old.verdict is None
        again = service.ingest(video_stop(GRID, track=7, last=T0 + 10))
        assert again.id == "old0alert001" and again.last_ts == T0 + 10
        joined = service.ingest(video_stop(GRID, track=8, last=T0 + 12))
        assert joined.id == "old0alert001"
        assert [m.track_id for m in joined.members] == [7, 8] and joined.track_ids == [7, 8]
    finally:
        engine.dispose()
