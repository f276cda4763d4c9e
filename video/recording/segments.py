"""The segment files of a recording folder: ``<root>/<camera>/<start_ms>-<end_ms>.mp4``.

A segment is written as ``.<start_ms>.part.mp4`` and renamed to its final name only once it is
closed (its MP4 index written at the front: faststart), so a listed segment is always complete
and playable; a partial file left by a crash is never listed and is removed by
:meth:`SegmentStore.sweep_partial`. Times are epoch seconds (names in milliseconds).

>>> import tempfile, pathlib
>>> store = SegmentStore(pathlib.Path(tempfile.mkdtemp()))
>>> part = store.part_path("CAM-0001", 1000.0)
>>> _ = part.write_bytes(b"x")
>>> store.finish(part, "CAM-0001", 1000.0, 1010.5).name
'1000000-1010500.mp4'
>>> [(s.start, s.end) for s in store.list("CAM-0001", 1005, 1006)]
[(1000.0, 1010.5)]
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SEGMENT_NAME = re.compile(r"^(\d{1,15})-(\d{1,15})\.mp4$")
KEEP_SUFFIX = ".keep"  # beside a segment: it shows an alert (events mode)
CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FOLDER = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}|_[0-9a-f]{32})$")  # a camera id, or a hashed one


@dataclass(frozen=True)
class Segment:
    """One finished segment of a camera, ``start`` to ``end`` (epoch seconds)."""

    camera_id: str
    start: float
    end: float
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0


def segment_name(start: float, end: float) -> str:
    return f"{round(start * 1000)}-{round(end * 1000)}.mp4"


def parse_name(camera_id: str, path: Path) -> Segment | None:
    """The segment a file name stands for, or None (a partial or foreign file)."""
    match = SEGMENT_NAME.match(path.name)
    if match is None:
        return None
    start, end = int(match[1]) / 1000, int(match[2]) / 1000
    return Segment(camera_id, start, end, path) if end > start else None


def _segments_in(folder: Path, camera_id: str) -> list[Segment]:
    if not folder.is_dir():
        return []
    found = (parse_name(camera_id, p) for p in folder.iterdir())
    return sorted((s for s in found if s is not None), key=lambda s: (s.start, s.end))


class SegmentStore:
    """The recording folder ``root``: one sub-folder per camera (see the module)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def camera_dir(self, camera_id: str) -> Path:
        """The camera's folder: named by its id, or by a hash of an id that cannot name a folder."""
        if CAMERA_ID.match(camera_id):
            return self.root / camera_id
        return self.root / f"_{hashlib.sha256(camera_id.encode()).hexdigest()[:32]}"

    def part_path(self, camera_id: str, start: float) -> Path:
        """Where a segment starting at ``start`` is written until it is finished."""
        folder = self.camera_dir(camera_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f".{round(start * 1000)}.part.mp4"

    def finish(self, part: Path, camera_id: str, start: float, end: float) -> Path:
        """Give a closed segment its final name (atomically: listed from now on)."""
        final = part.with_name(segment_name(start, end))
        os.replace(part, final)
        return final

    def cameras(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and FOLDER.match(p.name))

    def segments(self, camera_id: str) -> list[Segment]:
        """Every finished segment of a camera, oldest first."""
        return _segments_in(self.camera_dir(camera_id), camera_id)

    def list(self, camera_id: str, start: float, end: float) -> list[Segment]:
        """The segments that overlap ``[start, end]``, oldest first."""
        return [s for s in self.segments(camera_id) if s.end > start and s.start <= end]

    def find(self, camera_id: str, name: str) -> Segment | None:
        """The finished segment of that file name (None: no such file, or not a segment name)."""
        segment = parse_name(camera_id, self.camera_dir(camera_id) / name)
        return segment if segment is not None and segment.path.is_file() else None

    def keep(self, segment: Segment) -> None:
        """Mark a segment as one to keep (it shows an alert: the events mode's retention spares it)."""
        segment.path.with_name(segment.name + KEEP_SUFFIX).touch()

    def is_kept(self, segment: Segment) -> bool:
        return segment.path.with_name(segment.name + KEEP_SUFFIX).exists()

    def delete(self, segment: Segment) -> None:
        """Remove a segment (and its keep mark)."""
        segment.path.unlink(missing_ok=True)
        segment.path.with_name(segment.name + KEEP_SUFFIX).unlink(missing_ok=True)

    def all_segments(self) -> Iterator[Segment]:
        """Every finished segment of every camera folder (``camera_id``: the folder's name)."""
        for name in self.cameras():
            yield from _segments_in(self.root / name, name)

    def usage(self) -> int:
        """Bytes of every file under the folder (partial segments included)."""
        if not self.root.is_dir():
            return 0
        total = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    pass
        return total

    def sweep_partial(self, camera_id: str) -> int:
        """Remove a camera's partial segments (left by a crash); how many."""
        folder = self.camera_dir(camera_id)
        removed = 0
        if folder.is_dir():
            for path in folder.glob(".*.part.mp4"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
