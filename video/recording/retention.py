"""Retention of recordings: oldest first, past ``retention_days`` or over the disk budget.

In the events mode (:func:`prune_unmarked`) only the segments an alert marked are kept past a
short hold. The budget is ``max_disk_share`` of the recording volume's size (``shutil.disk_usage`` of the
folder, or ``volume_bytes`` where a test or a quota fixes it). :func:`enforce` runs before each
new segment and makes room for it too (``reserve``: about the size of the segment to come), so
the folder never grows past its budget and the disk never fills.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from zhizhi.video.recording.segments import Segment, SegmentStore

log = logging.getLogger(__name__)
DAY_S = 86_400.0


@dataclass(frozen=True)
class DiskBudget:
    """How much of its volume the recording folder may use."""

    share: float  # 0 < share <= 1
    volume_bytes: int | None = None  # default: the size of the volume holding the folder

    def bytes_for(self, root: Path) -> int:
        volume = self.volume_bytes
        if volume is None:
            probe = root
            while not probe.exists():
                probe = probe.parent
            volume = shutil.disk_usage(probe).total
        return int(volume * self.share)


def enforce(store: SegmentStore, *, retention_days: float, budget: DiskBudget, now: float,
            reserve: int = 0) -> list[Segment]:
    """Delete segments older than ``retention_days``, then the oldest until the folder's usage
    plus ``reserve`` fits the budget; the deleted segments, oldest first."""
    segments = sorted(store.all_segments(), key=lambda s: s.start)
    cutoff = now - retention_days * DAY_S
    deleted: list[Segment] = []
    limit = budget.bytes_for(store.root)
    usage = store.usage()
    for segment in segments:
        expired = segment.end < cutoff
        if not expired and usage + reserve <= limit:
            break
        size = segment.size
        store.delete(segment)
        usage -= size
        deleted.append(segment)
    if deleted:
        log.info("recordings: %d old segments deleted (usage %d of %d bytes)", len(deleted), usage, limit)
    return deleted


def prune_unmarked(store: SegmentStore, *, now: float, hold_s: float) -> list[Segment]:
    """Events mode: delete the segments no alert marked (:meth:`SegmentStore.keep`) that ended more
    than ``hold_s`` ago (an alert seen later may still want them as its lead-in until then)."""
    deleted = [s for s in store.all_segments() if s.end < now - hold_s and not store.is_kept(s)]
    for segment in deleted:
        store.delete(segment)
    return deleted
