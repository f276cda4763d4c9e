"""The alert state machine: every move allowed or refused, each recorded with actor, time and note."""

from __future__ import annotations

import itertools

import pytest

from tests.alerts_support import FakeClock, grids_of, open_service, warning
from zhizhi.alerts.lifecycle import TRANSITIONS, IllegalTransition, NoteRequired, check_transition
from zhizhi.alerts.record import ActionKind, AlertStatus

S = AlertStatus
ALL_PAIRS = list(itertools.product(AlertStatus, AlertStatus))
ILLEGAL = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]


def test_main_line_and_reopen_are_allowed():
    line = [S.NEW, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SCENE, S.RESOLVED, S.CLOSED, S.REOPENED]
    for a, b in itertools.pairwise(line):
        assert b in TRANSITIONS[a], (a, b)
    assert S.REOPENED in TRANSITIONS[S.RESOLVED]
    assert set(TRANSITIONS[S.REOPENED]) == {S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SCENE, S.RESOLVED}


@pytest.mark.parametrize("from_status, to_status", ILLEGAL, ids=lambda s: str(s))
def test_every_illegal_transition_is_refused(from_status, to_status):
    with pytest.raises(IllegalTransition) as info:
        check_transition(from_status, to_status, note="because")
    exc = info.value
    assert exc.from_status == from_status and exc.to_status == to_status
    assert exc.allowed == TRANSITIONS[from_status]
    assert f"from {from_status} to {to_status}" in str(exc)
    assert all(str(t) in str(exc) for t in exc.allowed)


def test_shortcuts_a_duty_officer_needs():
    assert check_transition(S.NEW, "dispatched", "") == S.DISPATCHED
    assert check_transition(S.NEW, "resolved", "") == S.RESOLVED
    assert check_transition(S.ACKNOWLEDGED, "on_scene", "") == S.ON_SCENE
    assert check_transition(S.DISPATCHED, "resolved", "") == S.RESOLVED
    assert check_transition(S.NEW, "closed", "false alarm: shadow of a tree") == S.CLOSED


@pytest.mark.parametrize(
    "from_status, to_status",
    [(S.NEW, S.CLOSED), (S.ACKNOWLEDGED, S.CLOSED), (S.RESOLVED, S.REOPENED), (S.CLOSED, S.REOPENED)],
)
def test_false_alarm_close_and_reopen_need_a_note(from_status, to_status):
    with pytest.raises(NoteRequired, match="needs a note"):
        check_transition(from_status, to_status, note="  ")
    assert check_transition(from_status, to_status, note="why") == to_status


def test_unknown_status_is_an_illegal_transition():
    with pytest.raises(IllegalTransition, match="from new to archived"):
        check_transition(S.NEW, "archived", "")


def test_every_transition_is_audited(tmp_path):
    clock = FakeClock()
    service = open_service(tmp_path / "a.db", clock)
    alert = service.ingest(warning(grids_of(0)[0]))
    path = [
        (S.ACKNOWLEDGED, "seen on CAM-1"),
        (S.DISPATCHED, "traffic police squad 3"),
        (S.ON_SCENE, "arrived"),
        (S.RESOLVED, "vehicle moved to the parking"),
        (S.CLOSED, "reviewed"),
        (S.REOPENED, "driver stopped again"),
        (S.RESOLVED, "escorted out of the town"),
    ]
    for i, (status, note) in enumerate(path):
        clock.advance(60)
        alert = service.transition(alert.id, status, actor=f"officer-{i}", note=note)
        assert alert.status == status and alert.updated_ts == clock.now
    history = service.history(alert.id)
    assert history[0].action == ActionKind.CREATE and history[0].actor == "system"
    moves = history[1:]
    assert [(h.from_status, h.to_status) for h in moves] == list(
        zip([S.NEW] + [s for s, _ in path[:-1]], [s for s, _ in path])
    )
    assert [h.note for h in moves] == [n for _, n in path]
    assert [h.actor for h in moves] == [f"officer-{i}" for i in range(len(path))]
    assert [h.ts for h in moves] == [history[0].ts + 60 * (i + 1) for i in range(len(path))]
    assert all(h.action == ActionKind.TRANSITION for h in moves)
    assert alert.done_ts == clock.now


def test_illegal_transition_changes_nothing(tmp_path):
    service = open_service(tmp_path / "a.db", FakeClock())
    alert = service.ingest(warning(grids_of(0)[0]))
    service.transition(alert.id, S.DISPATCHED, "officer")
    before = service.get(alert.id)
    for target in (S.NEW, S.ACKNOWLEDGED, S.CLOSED, S.REOPENED, S.DISPATCHED):
        with pytest.raises(IllegalTransition) as info:
            service.transition(alert.id, target, "officer", note="try")
        assert info.value.allowed == (S.ON_SCENE, S.RESOLVED)
    assert service.get(alert.id) == before
    assert len(service.history(alert.id)) == 2


def test_reopen_restarts_the_deadline(tmp_path):
    clock = FakeClock()
    service = open_service(tmp_path / "a.db", clock)
    alert = service.ingest(warning(grids_of(0)[0]))
    clock.advance(3 * 3600)
    service.check_deadlines()
    service.check_deadlines(clock.advance(3600))
    service.transition(alert.id, S.RESOLVED, "officer")
    reopened = service.transition(alert.id, S.REOPENED, "officer", note="it came back")
    assert reopened.done_ts is None and reopened.reminded_ts is None and reopened.supervised_ts is None
    assert reopened.deadline_ts == clock.now + service.policy.time_limit("abnormal_stop")
