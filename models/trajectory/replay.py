"""Replay time-ordered fixes through an engine in batches, ticking as the clock passes.

>>> from zhizhi.models.trajectory.engine import TrajectoryEngine
>>> replay(TrajectoryEngine(), [])
[]
"""

from __future__ import annotations

from collections.abc import Sequence

from zhizhi.models.trajectory.engine import TrajectoryEngine
from zhizhi.models.warning.record import WarningEvent
from zhizhi.telemetry.record import Fix


def replay(
    engine: TrajectoryEngine,
    fixes: Sequence[Fix],
    batch_s: float = 10.0,
    tick_every_s: float = 30.0,
    flush: bool = False,
) -> list[WarningEvent]:
    """Feed ``fixes`` (sorted by time) in batches of ``batch_s`` seconds, ticking every ``tick_every_s``."""
    out: list[WarningEvent] = []
    if not fixes:
        return out
    start = fixes[0].ts
    batch: list[Fix] = []
    edge = start + batch_s
    next_tick = start + tick_every_s
    for fix in fixes:
        while fix.ts >= edge:
            out.extend(engine.feed(batch))
            batch = []
            while next_tick <= edge:
                out.extend(engine.tick(next_tick))
                next_tick += tick_every_s
            edge += batch_s
        batch.append(fix)
    out.extend(engine.feed(batch))
    out.extend(engine.tick(fixes[-1].ts))
    if flush:
        out.extend(engine.flush())
    return out


__all__ = ["replay"]
