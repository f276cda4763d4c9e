"""The supervisor told: an alert resolved with required steps of its procedure unticked.

The alert service stores the resolution with a ``sop_skipped`` audit entry naming the unit
above the assignee (:meth:`alerts.procedures.Procedures.gate`); :func:`announce_skip` then
puts an ``alert`` message with ``event: "sop_skipped"`` and ``sop`` (the steps left, the note,
who, when) on the live hub for that unit — its screens and those of the units above it; the
assignee's own screens get the resolution as usual.
"""

from __future__ import annotations

from typing import Any

from zhizhi.alerts.record import ActionKind, Alert
from zhizhi.console.state import ConsoleState


def announce_skip(state: ConsoleState, alert: Alert) -> dict[str, Any] | None:
    """The message sent when ``alert`` was just resolved with required steps unticked, or None
    when it was not (or the console has no live hub)."""
    if state.hub is None or state.procedures is None:
        return None
    entry = next((h for h in reversed(state.alerts.store.history(alert.id))
                  if h.action == ActionKind.SOP_SKIPPED and h.ts == alert.updated_ts), None)
    if entry is None or entry.unit is None:
        return None
    checklist = state.procedures.checklist_of(alert)
    message = alert.to_message("sop_skipped") | {"sop": {
        "unit": entry.unit, "from_unit": entry.from_unit, "by": entry.actor, "ts": entry.ts,
        "note": entry.note, "title": checklist.title, "version": checklist.version,
        "steps": [s.model_dump(mode="json") for s in checklist.required_left],
    }}
    state.hub.publish(message, audience=[entry.unit])
    return message


__all__ = ["announce_skip"]
