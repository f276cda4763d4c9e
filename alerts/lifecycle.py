"""The alert state machine: which status may follow which.

The main line is ``new -> acknowledged -> dispatched -> on_scene -> resolved -> closed``;
``reopened`` comes back from ``resolved`` or ``closed`` and rejoins the line. The shortcuts a
duty officer needs, and why:

* ``new -> dispatched``: a red warning on the wall is dispatched at once; acknowledging is
  implied.
* ``new | acknowledged -> closed``: a false alarm or a duplicate, closed after a look at the
  video. Needs a note saying why (:class:`NoteRequired` otherwise).
* ``new | acknowledged | dispatched -> resolved``: handled remotely — the driver moved on
  after a call, the loudspeaker did it, the grid worker fixed it by phone.
* ``acknowledged -> on_scene``: the unit's own grid worker is already there.
* ``reopened -> acknowledged | dispatched | on_scene | resolved``: back into the line.
  Reopening needs a note too.

Everything else — going backwards, skipping ``resolved`` after someone went on scene,
moving to the same status — is refused with :class:`IllegalTransition`, which names the
current status, the requested one and the allowed targets.

>>> allowed_targets(AlertStatus.ON_SCENE)
(<AlertStatus.RESOLVED: 'resolved'>,)
>>> check_transition(AlertStatus.CLOSED, AlertStatus.NEW, note="")
Traceback (most recent call last):
  ...
zhizhi.alerts.lifecycle.IllegalTransition: cannot move an alert from closed to new; allowed: reopened
"""

from __future__ import annotations

from zhizhi.alerts.record import AlertStatus

S = AlertStatus

TRANSITIONS: dict[AlertStatus, tuple[AlertStatus, ...]] = {
    S.NEW: (S.ACKNOWLEDGED, S.DISPATCHED, S.RESOLVED, S.CLOSED),
    S.ACKNOWLEDGED: (S.DISPATCHED, S.ON_SCENE, S.RESOLVED, S.CLOSED),
    S.DISPATCHED: (S.ON_SCENE, S.RESOLVED),
    S.ON_SCENE: (S.RESOLVED,),
    S.RESOLVED: (S.CLOSED, S.REOPENED),
    S.CLOSED: (S.REOPENED,),
    S.REOPENED: (S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SCENE, S.RESOLVED),
}

# Moves that must say why in their note.
NOTE_REQUIRED: frozenset[tuple[AlertStatus, AlertStatus]] = frozenset(
    {(S.NEW, S.CLOSED), (S.ACKNOWLEDGED, S.CLOSED), (S.RESOLVED, S.REOPENED), (S.CLOSED, S.REOPENED)}
)


class IllegalTransition(ValueError):
    """A move the state machine does not allow; carries ``from_status``, ``to_status``, ``allowed``."""

    def __init__(self, from_status: AlertStatus, to_status: str, allowed: tuple[AlertStatus, ...]):
        self.from_status = from_status
        self.to_status = to_status
        self.allowed = allowed
        targets = ", ".join(allowed) or "none"
        super().__init__(f"cannot move an alert from {from_status} to {to_status}; allowed: {targets}")


class NoteRequired(ValueError):
    """An allowed move that needs a reason in its note (false-alarm close, reopen)."""


def allowed_targets(status: AlertStatus) -> tuple[AlertStatus, ...]:
    """The statuses an alert in ``status`` may move to."""
    return TRANSITIONS[AlertStatus(status)]


def check_transition(from_status: AlertStatus, to_status: str, note: str) -> AlertStatus:
    """The target as a status, or :class:`IllegalTransition` / :class:`NoteRequired`."""
    allowed = allowed_targets(from_status)
    try:
        target = AlertStatus(to_status)
    except ValueError:
        raise IllegalTransition(from_status, str(to_status), allowed) from None
    if target not in allowed:
        raise IllegalTransition(from_status, target, allowed)
    if (AlertStatus(from_status), target) in NOTE_REQUIRED and not note.strip():
        raise NoteRequired(f"moving from {from_status} to {target} needs a note saying why")
    return target


__all__ = [
    "NOTE_REQUIRED",
    "TRANSITIONS",
    "IllegalTransition",
    "NoteRequired",
    "allowed_targets",
    "check_transition",
]
