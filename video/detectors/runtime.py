"""The inference runtime of detector weights: PyTorch, or an OpenVINO / ONNX Runtime export of them.

:func:`runtime_weights` gives the path an :class:`~video.detectors.UltralyticsDetector` loads:
``.pt`` weights are exported by ultralytics (dynamic batch and input size, so a call may pass
another ``imgsz`` and any number of frames) once, offline, into a cache keyed by the weights'
content, the format, ``imgsz``, INT8 and the library versions. Several processes starting
together export once: the first holds a lock, exports into a temporary folder and renames it into
place; the others wait and load its result. Weights already exported (``.onnx``, an
``*_openvino_model/`` folder, ...) load as they are. An export that cannot be made (a package
missing, unreadable weights) logs one line and the ``.pt`` is used: analysis never stops.

``auto`` runs OpenVINO on a CPU and PyTorch on a GPU. INT8 (OpenVINO only) is post-training
quantisation by NNCF, calibrated on frames rendered by the project's simulator (the scenes the
shipped detector was trained on) unless a dataset YAML of the site's own frames is given.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from filelock import FileLock

log = logging.getLogger(__name__)

Runtime = Literal["auto", "pytorch", "openvino", "onnx"]
#: What a runtime name resolves to (``auto`` chooses one of these).
Resolved = Literal["pytorch", "openvino", "onnx"]
RUNTIMES: tuple[str, ...] = ("auto", "pytorch", "openvino", "onnx")
#: Python packages each export format needs (checked before exporting, so ultralytics never tries
#: to install one at run time); INT8 needs NNCF too.
NEEDS: dict[str, tuple[str, ...]] = {"openvino": ("openvino",), "onnx": ("onnx", "onnxslim", "onnxruntime")}
#: The runtime package whose version is part of a cache key.
RUNTIME_PACKAGE = {"openvino": "openvino", "onnx": "onnxruntime"}
#: Simulator frames rendered to calibrate INT8: seeds x the six scenarios x frames per clip (300).
CALIBRATION_SEEDS: tuple[int, ...] = tuple(range(1000, 1010))
CALIBRATION_FRAMES_PER_CLIP = 5
#: Folder (beside the weights) of their exports when no cache folder is given.
DEFAULT_CACHE_NAME = ".zhizhi-runtime"
MANIFEST = "manifest.json"


class ExportError(RuntimeError):
    """An export could not be made (the caller falls back to PyTorch)."""


def choose_runtime(runtime: str, device: str) -> Resolved:
    """The runtime ``runtime`` means on ``device``: ``auto`` is OpenVINO on a CPU, else PyTorch."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown detector runtime {runtime!r}; choose from {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return "openvino" if device.strip().lower() == "cpu" else "pytorch"
    return runtime  # type: ignore[return-value]


def exported_format(weights: Path) -> str | None:
    """The runtime format of already exported weights (``None`` for ``.pt``/``.yaml`` PyTorch ones)."""
    name = weights.name.lower()
    if weights.is_dir() and name.endswith("_openvino_model"):
        return "openvino"
    if name.endswith(".xml") and weights.with_suffix(".bin").exists():
        return "openvino"
    suffix = weights.suffix.lower()
    if suffix in {".pt", ".pth", ".yaml", ".yml"}:
        return None
    known = {".onnx": "onnx", ".engine": "tensorrt", ".torchscript": "torchscript"}
    return known.get(suffix, suffix.lstrip(".") or name)  # another ultralytics format, loaded as it is


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def cache_key(weights: Path, fmt: str, imgsz: int, int8: bool) -> str:
    """The name of an export's cache folder: weights content + format + size + INT8 + versions."""
    precision = "int8" if int8 else "fp32"
    versions = f"ul{_version('ultralytics')}-{RUNTIME_PACKAGE[fmt]}{_version(RUNTIME_PACKAGE[fmt])}"
    return f"{weights.stem}-{file_sha256(weights)[:16]}-{fmt}-{precision}-{imgsz}-dynamic-{versions}"


def default_cache_dir(weights: Path) -> Path:
    """Where exports of ``weights`` go when no cache folder is given: a folder beside them."""
    return weights.parent / DEFAULT_CACHE_NAME


def runtime_weights(
    weights: Path,
    *,
    runtime: str = "auto",
    device: str = "cpu",
    imgsz: int = 640,
    int8: bool = False,
    cache_dir: Path | None = None,
    calibration: Path | None = None,
) -> tuple[Path, str]:
    """The weights to load for ``runtime`` on ``device`` and the runtime they run on.

    ``.pt`` weights for OpenVINO / ONNX are exported (once; then read from ``cache_dir``, default
    :func:`default_cache_dir`); exported weights are returned as they are; a failed export logs
    one line and returns ``weights`` with ``pytorch``. ``calibration``: a dataset YAML for INT8.
    """
    weights = Path(weights)
    given = exported_format(weights)
    if given is not None:
        return weights, given
    resolved = choose_runtime(runtime, device)
    if resolved == "pytorch":
        return weights, "pytorch"
    if int8 and resolved != "openvino":
        log.warning("detector: INT8 is made for OpenVINO only; %s runs %s in FP32", weights.name, resolved)
        int8 = False
    try:
        return export_cached(weights, resolved, imgsz=imgsz, int8=int8, cache_dir=cache_dir,
                             calibration=calibration), resolved
    except Exception as exc:  # noqa: BLE001 - any failure of an optional speed-up falls back to PyTorch
        log.warning("detector: no %s%s runtime for %s (%s); running PyTorch", resolved, " INT8" if int8 else "",
                    weights.name, _one_line(exc))
        return weights, "pytorch"


def export_cached(
    weights: Path,
    fmt: str,
    *,
    imgsz: int,
    int8: bool = False,
    cache_dir: Path | None = None,
    calibration: Path | None = None,
) -> Path:
    """The cached ``fmt`` export of ``weights`` (made now under a lock if not there yet)."""
    if fmt not in NEEDS:
        raise ExportError(f"no export to {fmt!r}; use openvino or onnx")
    missing = [p for p in (*NEEDS[fmt], *(("nncf",) if int8 else ())) if find_spec(p) is None]
    if missing:
        raise ExportError(f"{', '.join(missing)} not installed (scripts/setup.sh installs them)")
    if not weights.is_file():
        raise ExportError(f"weights not found: {weights}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(weights)
    key = cache_key(weights, fmt, imgsz, int8)

    def make(folder: Path) -> str:
        return _export(weights, folder, fmt=fmt, imgsz=imgsz, int8=int8, calibration=calibration)

    return cached(cache, key, make)


def cached(cache: Path, key: str, make: Callable[[Path], str]) -> Path:
    """``cache/key``'s artifact, made by ``make(folder)`` (which returns the artifact's path in
    ``folder``, relative) once across threads and processes: under a lock, into a temporary
    folder renamed into place, so no reader ever sees a half-written export."""
    final = cache / key
    found = _artifact(final)
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / f"{key}.lock")):
        found = _artifact(final)  # made by another process while this one waited
        if found is not None:
            return found
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=cache))
        try:
            started = time.perf_counter()
            artifact = make(tmp)
            manifest = {"key": key, "artifact": artifact, "seconds": round(time.perf_counter() - started, 1)}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            tmp.chmod(0o755)  # mkdtemp's folder is private; workers of other users read the export too
            os.rename(tmp, final)
            log.info("detector: made %s in %.0f s", final, manifest["seconds"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    found = _artifact(final)
    if found is None:
        raise ExportError(f"the export in {final} has no artifact")
    return found


def _artifact(folder: Path) -> Path | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = folder / str(manifest.get("artifact", ""))
    return path if manifest.get("artifact") and path.exists() else None


def _export(weights: Path, folder: Path, *, fmt: str, imgsz: int, int8: bool, calibration: Path | None) -> str:
    """Export a copy of ``weights`` in ``folder`` with ultralytics; the artifact's relative path."""
    from ultralytics import YOLO
    from ultralytics.utils import checks

    checks.AUTOINSTALL = False  # never pip install at run time: the packages are checked above
    source = folder / f"{weights.stem}.pt"
    shutil.copyfile(weights, source)
    args: dict[str, object] = {"format": fmt, "imgsz": imgsz, "dynamic": True, "batch": 1, "verbose": False}
    if int8:
        data = calibration or render_calibration(folder / "calibration", imgsz)
        args.update(int8=True, data=str(data), batch=8)
    try:
        # NNCF's progress bars print to standard output, which carries the commands' JSON
        with quiet_ultralytics(), redirect_stdout(sys.stderr):
            out = Path(YOLO(str(source), task="detect").export(**args))
    finally:
        source.unlink(missing_ok=True)
        shutil.rmtree(folder / "calibration", ignore_errors=True)
    if not out.exists():
        raise ExportError(f"ultralytics reported {out} but wrote nothing")
    return str(out.resolve().relative_to(folder.resolve()))


def render_calibration(out_dir: Path, imgsz: int) -> Path:
    """Simulator frames for INT8 calibration (the training seeds' scenes, never the held-out
    ones); the dataset YAML."""
    from zhizhi.video.simulator.dataset import export_yolo_dataset

    log.info("detector: rendering simulator frames (seeds %s) to calibrate INT8", list(CALIBRATION_SEEDS))
    return export_yolo_dataset(out_dir, train_seeds=[], val_seeds=CALIBRATION_SEEDS,
                               frames_per_clip=CALIBRATION_FRAMES_PER_CLIP, imgsz=imgsz, progress=False)


@contextmanager
def quiet_ultralytics() -> Iterator[None]:
    """Ultralytics' and NNCF's information lines (export steps, 'Loading ...') kept off standard
    output, which carries the commands' JSON; their warnings still show."""
    from ultralytics.utils import LOGGER

    loggers = [LOGGER, logging.getLogger("nncf")]
    levels = [lg.level for lg in loggers]
    for lg, level in zip(loggers, levels):
        lg.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
