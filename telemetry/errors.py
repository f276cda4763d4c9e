"""Why a report or a message is refused: the reasons the gate and the parsers share.

>>> err = TelemetryError(Reason.NO_POSITION, "drone on its dock reports 0, 0")
>>> err.reason, str(err)
(<Reason.NO_POSITION: 'no_position'>, 'no_position: drone on its dock reports 0, 0')
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a report is refused (the keys of rejection counters)."""

    #: Not an object, a missing field, NaN/inf, a value out of range, an unreadable ``ts``.
    INVALID = "invalid"
    #: ``ts`` further ahead of the console's clock than the gate allows.
    FUTURE = "future"
    #: ``ts`` older than the console's horizon (``max_age_s``): history, not a live position.
    TOO_OLD = "too_old"
    #: ``ts`` before the last accepted one of the same device: time going backwards.
    STALE = "stale"
    #: ``ts`` well before a report of the same vehicle sent earlier in the same batch: back-dated.
    LATE = "late"
    #: Same device and ``ts`` as a report already accepted.
    DUPLICATE = "duplicate"
    #: A vehicle id the console does not know.
    UNKNOWN_VEHICLE = "unknown_vehicle"
    #: Implied speed from the last accepted fix above the limit: a teleport.
    JUMP = "jump"
    #: A drone without a position fix (on its dock it reports 0, 0).
    NO_POSITION = "no_position"


class TelemetryError(ValueError):
    """A message that cannot become a record: ``reason`` and a short ``detail``."""

    def __init__(self, reason: Reason | str, detail: str) -> None:
        self.reason = Reason(reason)
        self.detail = detail
        super().__init__(f"{self.reason.value}: {detail}")


__all__ = ["Reason", "TelemetryError"]
