"""A backtest dataset: a folder of clips, each with a camera config and ground-truth events.

Layout (``docs/backtest.md``)::

    DATASET/
      <clip>/camera.json       the camera (calibration, lanes, zones), as ``zhizhi analyze`` takes it
      <clip>/events.jsonl      ground-truth events, one JSON object a line
      <clip>/clip.mp4          the video (``camera.json``'s ``source.url``, else ``clip.*``) ...
      <clip>/observations.jsonl  ... or pre-computed tracks instead of (or beside) the video
      <clip>/truth.jsonl       the simulator's per-frame truth (used by ``--truth``)

A folder that itself holds ``camera.json`` is a one-clip dataset. Every problem is a
:class:`BacktestError` naming the file (and line).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from zhizhi.video.camera_config import CameraConfig, CameraConfigError, load_camera_configs
from zhizhi.video.simulator.events import TruthEvent

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".ts", ".flv", ".m4v")


class BacktestError(ValueError):
    """A dataset, model or sweep that cannot be used; the message names the file and line."""


class Clip(BaseModel):
    """One clip of a dataset and where its observations can come from."""

    name: str
    folder: Path
    camera: CameraConfig
    events: list[TruthEvent]
    video: Path | None = None
    observations: Path | None = None
    truth: Path | None = None


class Dataset(BaseModel):
    """The clips of a dataset folder, in name order."""

    root: Path
    clips: list[Clip]


def load_dataset(root: Path | str, *, truth: bool = False) -> Dataset:
    """Read and check a dataset; ``truth``: every clip needs ``truth.jsonl`` (or observations)."""
    root = Path(root)
    if not root.is_dir():
        raise BacktestError(f"dataset not found: {root}")
    if (root / "camera.json").exists() or (root / "events.jsonl").exists():
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir()
                         and ((p / "camera.json").exists() or (p / "events.jsonl").exists()))
    if not folders:
        raise BacktestError(f"{root}: no clips (folders with camera.json and events.jsonl)")
    clips = [_clip(folder, root, truth) for folder in folders]
    return Dataset(root=root, clips=clips)


def _clip(folder: Path, root: Path, truth: bool) -> Clip:
    for required in ("camera.json", "events.jsonl"):
        if not (folder / required).is_file():
            raise BacktestError(f"{folder / required}: missing")
    try:
        camera = load_camera_configs(folder / "camera.json")[0]
    except CameraConfigError as exc:
        raise BacktestError(str(exc)) from None
    clip = Clip(
        name=folder.name if folder != root else root.name,
        folder=folder,
        camera=camera,
        events=read_events(folder / "events.jsonl"),
        video=_video(folder, camera),
        observations=_file(folder / "observations.jsonl"),
        truth=_file(folder / "truth.jsonl"),
    )
    if truth and clip.truth is None and clip.observations is None:
        raise BacktestError(f"{folder}: --truth needs truth.jsonl (or observations.jsonl)")
    if not truth and clip.observations is None:
        if clip.video is None:
            raise BacktestError(f"{folder}: no video (camera.json source.url or clip.*) and no observations.jsonl")
        check_video(clip.video)
    return clip


def _file(path: Path) -> Path | None:
    return path if path.is_file() else None


def _video(folder: Path, camera: CameraConfig) -> Path | None:
    named = Path(camera.source.url)
    named = named if named.is_absolute() else folder / named
    if named.is_file():
        return named
    found = sorted(p for p in folder.glob("clip.*") if p.suffix.lower() in VIDEO_SUFFIXES)
    return found[0] if found else None


def check_video(path: Path) -> None:
    """Raise :class:`BacktestError` unless OpenCV can read a first frame of ``path``."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        ok = cap.isOpened() and cap.read()[0]
    finally:
        cap.release()
    if not ok:
        raise BacktestError(f"{path}: OpenCV cannot read this video")


def read_events(path: Path) -> list[TruthEvent]:
    """Ground-truth events of ``events.jsonl`` (blank lines skipped), every line checked."""
    events = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            events.append(parse_line(TruthEvent, line, path, number))
    return events


def parse_line(model: type[BaseModel], line: str, path: Path, number: int):
    """One JSON line validated as ``model``; a :class:`BacktestError` ``path:line: reason`` otherwise."""
    return validate(model, json_object(line, path, number), path, number)


def json_object(line: str, path: Path, number: int) -> dict:
    """One JSON line that must be an object."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BacktestError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise BacktestError(f"{path}:{number}: expected a JSON object")
    return data


def validate(model: type[BaseModel], data: dict, path: Path, number: int):
    """``data`` as ``model``; every field error reported as ``path:line: field: reason``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors())
        raise BacktestError(f"{path}:{number}: {reasons}") from None
