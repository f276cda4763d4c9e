"""Site adaptation of a registry camera (``zhizhi adapt``, ``POST /api/cameras/{id}/adapt``): which
weights it starts from, where it writes, the run (:mod:`models.detector.site`) and its registration
as a draft detector version of that camera.

The run starts from the camera's own production detector when it has one (an earlier adaptation,
promoted), else from the console's configured weights (``detector.weights``). The weights go to
``data_dir/detectors/site-<camera>-<time>.pt`` with their reports beside them, the recording and
datasets to ``data_dir/adapt/<camera>/<time>/`` (kept: what was mined can be looked at; removed
when the run fails). The
version is registered as a draft scoped to the camera; promoting it (``zhizhi models promote``,
the models API) makes the workers run it for that camera.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

from zhizhi.console.settings import Settings
from zhizhi.layers.camera_registry import CameraRecord
from zhizhi.models.detector.site.adapt import (
    AdaptOptions,
    AdaptResult,
    Progress,
    adapt_camera,
    camera_slug,
    site_name,
    stamp,
    write_json,
)
from zhizhi.models.versions.content import DetectorManifest, check_weights
from zhizhi.models.versions.store import ModelStore


class AdaptRefused(ValueError):
    """A camera that cannot be adapted (the message says why; ``status`` is the HTTP answer)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def starting_weights(store: ModelStore | None, settings: Settings, camera_id: str) -> tuple[Path, str]:
    """The weights an adaptation of ``camera_id`` starts from and their label: the camera's own
    production detector, else the configured weights."""
    version = store.production("detector", scope=camera_id) if store is not None else None
    if version is not None:
        manifest = version.config()
        assert isinstance(manifest, DetectorManifest)
        return check_weights(manifest, store.base_dir, version.label), version.label
    weights = Path(settings.detector.weights)
    if not weights.is_file() or weights.suffix != ".pt":
        raise AdaptRefused(f"the configured detector weights {weights} are not a .pt file this console can fine-tune")
    return weights, weights.stem


def check_camera(record: CameraRecord | None, camera_id: str) -> CameraRecord:
    """The camera, if it can be adapted: known (404) and with a main stream (422)."""
    if record is None:
        raise AdaptRefused(f"no camera {camera_id!r}", 404)
    if not record.stream_main:
        raise AdaptRefused(f"camera {camera_id!r} has no main stream to record")
    if record.kind == "drone":
        raise AdaptRefused(f"camera {camera_id!r} is a drone's: it moves, there is no site to adapt to")
    return record


def run_site_adaptation(
    settings: Settings,
    store: ModelStore | None,
    camera: CameraRecord,
    options: AdaptOptions,
    *,
    author: str,
    reason: str | None = None,
    register: bool = True,
    workdir: Path | None = None,
    weights_out: Path | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> AdaptResult:
    """Adapt ``camera``'s detector (see the module); the result, with its registered version."""
    start, label = starting_weights(store, settings, camera.id)
    when = stamp()
    own_workdir = workdir is None  # made here: removed again when the run fails
    workdir = Path(workdir) if workdir else settings.data_dir / "adapt" / camera_slug(camera.id) / when
    if weights_out is None:
        weights_out = settings.data_dir / "detectors" / f"{site_name(camera.id)}-{when}.pt"
    d = settings.detector
    options = options.model_copy(update={"detect_imgsz": d.imgsz, "conf": d.conf, "tracker": d.tracker})
    try:
        result = adapt_camera(camera.id, camera.stream_main or "", start, started_from=label, workdir=workdir,
                              weights_out=weights_out, options=options, progress=progress, stop=stop)
    except Exception:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    if register and store is not None:
        from zhizhi.models.detector.register import register_weights

        before, after = result.before.on_background, result.after.on_background
        why = reason or (f"site adaptation of camera {camera.id}: {result.recording['seconds'] / 60:.1f} min "
                         f"recorded; false boxes on the held-out slice {before} -> {after}")
        stored = register_weights(store, Path(result.weights), None, author, why, camera_id=camera.id)
        result = result.model_copy(update={"version": version_info(stored)})
        write_json(Path(result.report_json), result.model_dump(mode="json"))
    return result


def version_info(version: Any) -> dict[str, Any]:
    return {"kind": version.kind, "name": version.name, "version": version.version, "label": version.label,
            "status": version.status, "camera_id": version.scope}
