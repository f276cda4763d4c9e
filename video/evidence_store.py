"""Evidence files of alerts: a snapshot (JPEG), a short clip (WebM, VP8) and the camera's
observations around it (``observations.jsonl``) per alert, kept a while.

Written by the workers' recorder (:mod:`video.evidence`), served by the console, purged by
:mod:`alerts.watch`.

Files live under ``root/<alert id>/``; paths handed out are relative to ``root`` so that the
folder can move. Alert ids are checked against their strict form before any path is built,
so no id can reach outside ``root``. The observations file is a backtest clip's
``observations.jsonl`` (``zhizhi analyze --jsonl`` lines, ``docs/backtest.md``), so that a
closed alert can be replayed against a changed rule (:mod:`models.backtest.labels`). Writes
go to a temporary file first and are renamed into place: a crash never leaves half a file
under the final name.

>>> import tempfile
>>> store = EvidenceStore(tempfile.mkdtemp(), retention_days=30)
>>> store.save_snapshot("k3v9q2m7xa1b", b"\\xff\\xd8\\xff\\xe0 jpeg")
'k3v9q2m7xa1b/snapshot.jpg'
>>> store.save_snapshot("../etc", b"\\xff\\xd8")
Traceback (most recent call last):
  ...
zhizhi.video.evidence_store.EvidenceError: invalid alert id '../etc'
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from zhizhi.layers.ids import is_alert_id

Kind = Literal["snapshot", "clip", "track"]
#: Clips are VP8 WebM: OpenCV writes it everywhere and browsers play it in a <video> tag
#: (MPEG-4 Part 2, the codec OpenCV writes into .mp4, plays in none of them).
FILENAMES: dict[str, str] = {"snapshot": "snapshot.jpg", "clip": "clip.webm", "track": "observations.jsonl"}
MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024
MAX_CLIP_FRAMES = 30 * 60  # a minute at 30 fps


class EvidenceError(ValueError):
    """Evidence that cannot be stored (bad id, not a JPEG, bad frames)."""


class EvidenceStore:
    """Snapshots, clips and observation files under ``root``, removed ``retention_days`` after they were written."""

    def __init__(self, root: str | Path, retention_days: float) -> None:
        if retention_days <= 0:
            raise ValueError(f"retention_days must be positive, got {retention_days}")
        self.root = Path(root).resolve()
        self.retention_days = retention_days

    def path_of(self, alert_id: str, kind: Kind) -> Path:
        """Absolute path of an alert's ``snapshot`` or ``clip`` (whether or not it exists)."""
        if not is_alert_id(alert_id):
            raise EvidenceError(f"invalid alert id {alert_id!r}")
        if kind not in FILENAMES:
            raise EvidenceError(f"unknown evidence kind {kind!r}: snapshot, clip or track")
        return self.root / alert_id / FILENAMES[kind]

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def save_snapshot(self, alert_id: str, jpeg: bytes) -> str:
        """Store a JPEG; returns its path relative to ``root``."""
        path = self.path_of(alert_id, "snapshot")
        if not jpeg.startswith(b"\xff\xd8"):
            raise EvidenceError("snapshot is not a JPEG (no FF D8 start marker)")
        if len(jpeg) > MAX_SNAPSHOT_BYTES:
            raise EvidenceError(f"snapshot of {len(jpeg)} bytes exceeds {MAX_SNAPSHOT_BYTES}")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".snapshot-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(jpeg)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.relative(path)

    def save_clip(self, alert_id: str, frames: Sequence[np.ndarray], fps: float) -> str:
        """Encode BGR ``frames`` (all the same size) as a WebM (VP8) clip; returns its relative path."""
        path = self.path_of(alert_id, "clip")
        if not 0 < fps <= 120:
            raise EvidenceError(f"fps must be in (0, 120], got {fps}")
        if not 0 < len(frames) <= MAX_CLIP_FRAMES:
            raise EvidenceError(f"a clip needs 1..{MAX_CLIP_FRAMES} frames, got {len(frames)}")
        shape = frames[0].shape
        for i, frame in enumerate(frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.shape != shape:
                raise EvidenceError(
                    f"frame {i}: expected uint8 BGR of shape {shape}, got {frame.dtype} {frame.shape}"
                )
        height, width = shape[:2]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".clip-{os.getpid()}-{id(frames)}.webm")
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"VP80"), float(fps), (width, height))
        try:
            if not writer.isOpened():
                raise EvidenceError(f"OpenCV cannot write WebM (VP8) at {tmp}")
            for frame in frames:
                writer.write(frame)
            writer.release()
            os.replace(tmp, path)
        finally:
            writer.release()
            tmp.unlink(missing_ok=True)
        return self.relative(path)

    def save_track(self, alert_id: str, rows: Iterable[dict]) -> str:
        """Store observation records (``ObservationBatch.rows()``) as ``observations.jsonl``, one
        ``{"type": "observation", ...}`` line each; returns its relative path."""
        path = self.path_of(alert_id, "track")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".observations-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps({"type": "observation", **row}, ensure_ascii=False, allow_nan=False))
                    out.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.relative(path)

    def purge(self, now: float, keep: Collection[str] = ()) -> list[str]:
        """Remove evidence written more than ``retention_days`` before ``now``, except the files
        ``keep`` names (relative paths: the tracks of labelled alerts); the paths removed."""
        if not self.root.is_dir():
            return []
        cutoff = now - self.retention_days * 86400
        kept = set(keep)
        removed: list[str] = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and is_alert_id(p.name)):
            for file in sorted(folder.iterdir()):
                if file.is_file() and file.stat().st_mtime < cutoff and self.relative(file) not in kept:
                    removed.append(self.relative(file))
                    file.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()
        return removed


__all__ = ["FILENAMES", "EvidenceError", "EvidenceStore"]
