"""Standard operating procedures: versions kept, an alert keeps its version, ticks with who and
when, and resolving gated by the required steps (a note, and an entry for the unit above).

Real SQLite files, the real alert service over the small district, a fake clock.
"""

from __future__ import annotations

import pytest

from tests.alerts_support import Recorder, grids_of, warning
from zhizhi.alerts.lifecycle import NoteRequired
from zhizhi.alerts.procedure_defaults import DEFAULT_PROCEDURES
from zhizhi.alerts.procedures import (
    NoProcedure,
    ProcedureDraft,
    ProcedureStore,
    Step,
    StepNotFound,
    open_procedures,
)
from zhizhi.alerts.record import ActionKind, AlertStatus
from zhizhi.alerts.service import AlertConflict, AlertNotFound, unit_above
from zhizhi.layers import make_engine


@pytest.fixture
def procedures(service):
    return open_procedures(service, service.store.engine)


def _draft(*steps: tuple[str, bool], title: str = "超速处置") -> ProcedureDraft:
    return ProcedureDraft(title=title, steps=[Step(text=t, required=r) for t, r in steps], note="试行")


def test_every_save_is_a_new_version_and_old_ones_are_kept(tmp_path):
    store = ProcedureStore(make_engine(f"sqlite:///{tmp_path / 'sop.db'}"))
    first = store.save("speeding", _draft(("核实车速", True)), "admin", ts=100.0)
    second = store.save("speeding", _draft(("核实车速", True), ("提醒驾驶员", False)), "chief", ts=200.0)
    store.save("fatigue", _draft(("核实驾驶时长", True), title="疲劳驾驶"), "admin", ts=150.0)
    assert (first.version, second.version) == (1, 2)
    versions = store.versions("speeding")
    assert [v.version for v in versions] == [2, 1]
    assert versions[1].steps == [Step(text="核实车速", required=True)] and versions[1].author == "admin"
    assert versions[0].note == "试行" and versions[0].author == "chief" and versions[0].ts == 200.0
    assert [(p.category, p.version) for p in store.current()] == [("fatigue", 1), ("speeding", 2)]
    assert store.versions("wrong_way") == []
    # an alert follows the version in force when it was created; older alerts the first one
    assert store.for_alert("speeding", 199.0).version == 1
    assert store.for_alert("speeding", 200.0).version == 2
    assert store.for_alert("speeding", 50.0).version == 1
    assert store.for_alert("wrong_way", 300.0) is None


def test_the_shipped_procedures_are_seeded_once_and_never_over_an_edit(tmp_path):
    store = ProcedureStore(make_engine(f"sqlite:///{tmp_path / 'sop.db'}"))
    assert store.seed(DEFAULT_PROCEDURES, ts=10.0) == len(DEFAULT_PROCEDURES)
    store.save("abnormal_stop", _draft(("只剩一步", True)), "admin", ts=20.0)
    assert store.seed(DEFAULT_PROCEDURES, ts=30.0) == 0
    current = {p.category: p for p in store.current()}
    assert current["abnormal_stop"].version == 2 and current["speeding"].author == "system"
    for kind in ("abnormal_stop", "zone_entry", "prohibited_hours", "speeding", "wrong_way", "crowd",
                 "route_deviation", "fatigue", "signal_loss"):
        assert kind in current, kind
        assert any(s.required for s in current[kind].steps)
        assert all(not s.text.isascii() for s in current[kind].steps)  # Chinese, for the duty officer


def test_an_alert_keeps_the_version_it_started_with(service, procedures, clock):
    grid = grids_of(0)[0]
    old = service.ingest(warning(grid, severity="orange", track=1))
    clock.advance(60)
    procedures.store.save("abnormal_stop", _draft(("新规程第一步", True), title="新规程"), "admin", ts=clock())
    clock.advance(60)
    new = service.ingest(warning(grids_of(1)[0], severity="orange", track=2, camera="CAM-9"))
    assert procedures.checklist(old.id).version == 1
    assert procedures.checklist(old.id).title == DEFAULT_PROCEDURES["abnormal_stop"][0]
    assert [s.text for s in procedures.checklist(new.id).steps] == ["新规程第一步"]
    assert procedures.checklist(new.id).version == 2


def test_ticks_record_who_and_when_and_are_published_as_the_alerts_update(service, procedures, clock, bus):
    seen = Recorder(bus)
    alert = service.ingest(warning(grids_of(0)[0], severity="orange"))
    clock.advance(30)
    checklist = procedures.tick(alert.id, 2, True, "zhang", scope=alert.assignee_unit)
    step = checklist.steps[1]
    assert (step.done, step.actor, step.ts) == (True, "zhang", clock())
    assert not checklist.steps[0].done and [s.no for s in checklist.required_left] == [1, 3, 5]
    clock.advance(5)
    checklist = procedures.tick(alert.id, 2, False, "li")
    assert (checklist.steps[1].done, checklist.steps[1].actor) == (False, "li")
    assert seen.events[-2:] == ["updated", "updated"]
    ticks = [h for h in service.history(alert.id) if h.action == ActionKind.PROCEDURE]
    assert [h.actor for h in ticks] == ["zhang", "li"]
    assert "2. 联系驾驶员" in ticks[0].note and "完成" in ticks[0].note and "取消" in ticks[1].note


def test_ticking_is_refused_out_of_scope_on_a_done_alert_and_for_unknown_steps(service, procedures):
    alert = service.ingest(warning(grids_of(0)[0], severity="orange"))
    other_town = grids_of(1)[0][:9]
    with pytest.raises(AlertNotFound):
        procedures.tick(alert.id, 1, True, "stranger", scope=other_town)
    with pytest.raises(StepNotFound):
        procedures.tick(alert.id, 9, True, "zhang")
    report = service.ingest(warning(grids_of(1)[1], rule="no_such_rule", rule_id="x", camera="CAM-5"))
    with pytest.raises(NoProcedure):
        procedures.tick(report.id, 1, True, "zhang")
    for no in (1, 2, 3, 5):
        procedures.tick(alert.id, no, True, "zhang")
    service.transition(alert.id, "resolved", "zhang")
    with pytest.raises(AlertConflict):
        procedures.tick(alert.id, 4, True, "zhang")
    assert all(h.actor != "stranger" for h in service.history(alert.id))


def test_resolving_with_required_steps_unticked_needs_a_note_and_tells_the_unit_above(service, procedures):
    alert = service.ingest(warning(grids_of(0)[0], severity="orange"))
    procedures.tick(alert.id, 1, True, "zhang")
    with pytest.raises(NoteRequired, match="2, 3, 5"):
        service.transition(alert.id, "resolved", "zhang")
    assert service.get(alert.id).status == AlertStatus.NEW  # nothing stored
    resolved = service.transition(alert.id, "resolved", "zhang", "司机已驶离，电话未接通")
    assert resolved.status == AlertStatus.RESOLVED
    skipped = [h for h in service.history(alert.id) if h.action == ActionKind.SOP_SKIPPED]
    assert len(skipped) == 1
    entry = skipped[0]
    assert entry.from_unit == alert.assignee_unit and entry.unit == unit_above(alert.assignee_unit)
    assert entry.actor == "zhang" and "司机已驶离" in entry.note and "2. 联系驾驶员" in entry.note


def test_resolving_with_every_required_step_ticked_needs_no_note(service, procedures):
    alert = service.ingest(warning(grids_of(0)[0], severity="orange"))
    for no in (1, 2, 3, 5):  # 4 is optional
        procedures.tick(alert.id, no, True, "zhang")
    assert service.transition(alert.id, "resolved", "zhang").status == AlertStatus.RESOLVED
    assert not [h for h in service.history(alert.id) if h.action == ActionKind.SOP_SKIPPED]
    # closing (a false alarm, a duplicate) is not resolving: the checklist does not gate it
    other = service.ingest(warning(grids_of(1)[0], severity="orange", camera="CAM-3", track=3))
    assert service.transition(other.id, "closed", "zhang", "影子误报", verdict="false_alarm").status == "closed"
