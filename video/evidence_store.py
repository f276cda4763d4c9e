"""Evidence files of alerts: a snapshot (JPEG), a short clip (WebM, VP8) and the camera's
observations around it (``observations.jsonl``) per alert, kept a while.

Written by the workers' recorder (:mod:`video.evidence`), served by the console, purged by
:mod:`alerts.watch`.

Files live under ``root/<alert id>/``; paths handed out are relative to ``root`` so that the
folder can move. Alert ids are checked against their strict form before any path is built,
so no id can reach outside ``root``. A camera that joined the alert later has its own files
beside the first camera's, named after it (``snapshot-<camera>.jpg``, ``clip-<camera>.webm``,
``observations-<camera>.jsonl``): :func:`camera_slug` keeps only the id's letters, digits, ``_``
and ``-`` and adds a hash of the whole id, so the name is safe, unique per camera and never
leaves the alert's folder, whatever the id holds. The observations file is a backtest clip's
``observations.jsonl`` (``zhizhi analyze --jsonl`` lines, ``docs/backtest.md``), so that a
closed alert can be replayed against a changed rule (:mod:`models.backtest.labels`). Writes
go to a temporary file first and are renamed into place: a crash never leaves half a file
under the final name.

>>> import tempfile
>>> store = EvidenceStore(tempfile.mkdtemp(), retention_days=30)
>>> store.save_snapshot("k3v9q2m7xa1b", b"\\xff\\xd8\\xff\\xe0 jpeg")
'k3v9q2m7xa1b/snapshot.jpg'
>>> store.save_snapshot("k3v9q2m7xa1b", b"\\xff\\xd8\\xff\\xe0 jpeg", camera_id="../CAM 2")
'k3v9q2m7xa1b/snapshot-___CAM_2-2002744816.jpg'
>>> store.save_snapshot("../etc", b"\\xff\\xd8")
Traceback (most recent call last):
  ...
zhizhi.video.evidence_store.EvidenceError: invalid alert id '../etc'
"""

from __future__ import annotations

import hashlib
import json
import os
import re
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
MAX_CAMERA_ID = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class EvidenceError(ValueError):
    """Evidence that cannot be stored (bad id, not a JPEG, bad frames)."""


def camera_slug(camera_id: str) -> str:
    """A camera id as a file-name part: its first 32 safe characters (others become ``_``) and
    10 hex digits of its SHA-256, so two ids never share a name and none holds a path.

    >>> camera_slug("CAM-2"), camera_slug("../x"), camera_slug("南门 1")
    ('CAM-2-468dfbfaa7', '___x-d6b96a97d1', '___1-5884c1cfd5')
    """
    if not isinstance(camera_id, str) or not 0 < len(camera_id) <= MAX_CAMERA_ID or "\x00" in camera_id:
        raise EvidenceError(f"invalid camera id {camera_id!r}")
    digest = hashlib.sha256(camera_id.encode("utf-8")).hexdigest()[:10]
    return f"{_UNSAFE.sub('_', camera_id)[:32]}-{digest}"


def filename(kind: str, camera_id: str | None = None) -> str:
    """The file name of an evidence ``kind``: the first camera's, or that of ``camera_id``'s view."""
    if kind not in FILENAMES:
        raise EvidenceError(f"unknown evidence kind {kind!r}: snapshot, clip or track")
    name = FILENAMES[kind]
    if camera_id is None:
        return name
    stem, dot, suffix = name.partition(".")
    return f"{stem}-{camera_slug(camera_id)}{dot}{suffix}"


class EvidenceStore:
    """Snapshots, clips and observation files under ``root``, removed ``retention_days`` after they were written."""

    def __init__(self, root: str | Path, retention_days: float) -> None:
        if retention_days <= 0:
            raise ValueError(f"retention_days must be positive, got {retention_days}")
        self.root = Path(root).resolve()
        self.retention_days = retention_days

    def path_of(self, alert_id: str, kind: Kind, camera_id: str | None = None) -> Path:
        """Absolute path of an alert's ``snapshot``, ``clip`` or ``track`` (whether or not it
        exists): its first camera's, or with ``camera_id`` that of a camera that joined it."""
        if not is_alert_id(alert_id):
            raise EvidenceError(f"invalid alert id {alert_id!r}")
        folder = self.root / alert_id
        path = folder / filename(kind, camera_id)
        if path.parent != folder:  # pragma: no cover - camera_slug() holds no separator
            raise EvidenceError(f"camera id {camera_id!r} leaves the alert's folder")
        return path

    def contains(self, relative: str, alert_id: str | None = None) -> bool:
        """Whether ``relative`` names a path inside ``root`` (inside the alert's folder, with
        ``alert_id``) once resolved: what a path read from a message or a record must pass."""
        base = self.root if alert_id is None else self.root / alert_id
        return (self.root / relative).resolve().is_relative_to(base)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def save_snapshot(self, alert_id: str, jpeg: bytes, camera_id: str | None = None) -> str:
        """Store a JPEG (of ``camera_id``, a camera that joined the alert, when given); returns
        its path relative to ``root``."""
        path = self.path_of(alert_id, "snapshot", camera_id)
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

    def save_clip(self, alert_id: str, frames: Sequence[np.ndarray], fps: float, camera_id: str | None = None) -> str:
        """Encode BGR ``frames`` (all the same size) as a WebM (VP8) clip (of ``camera_id``, a
        camera that joined the alert, when given); returns its relative path."""
        path = self.path_of(alert_id, "clip", camera_id)
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
        tmp = path.with_name(f".{path.stem}-{os.getpid()}-{id(frames)}.webm")
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

    def save_track(self, alert_id: str, rows: Iterable[dict], camera_id: str | None = None) -> str:
        """Store observation records (``ObservationBatch.rows()``) as ``observations.jsonl`` (of
        ``camera_id``, a camera that joined the alert, when given), one ``{"type":
        "observation", ...}`` line each; returns its relative path."""
        path = self.path_of(alert_id, "track", camera_id)
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


__all__ = ["FILENAMES", "EvidenceError", "EvidenceStore", "camera_slug", "filename"]
