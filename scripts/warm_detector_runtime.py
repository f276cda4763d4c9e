#!/usr/bin/env python3
"""Make the configured detector's runtime export now (set-up), so no worker waits for it.

    python scripts/warm_detector_runtime.py

Reads the settings (``detector.weights``, ``.runtime``, ``.int8``, ``.imgsz``, ``.runtime_cache``;
docs/runtime.md) and loads the detector as a worker does: the export is made once into the cache
(or found there). Prints the runtime and what it loads; exits 0 even when it falls back to PyTorch.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # no online checks at set-up either


def main() -> None:
    """Load the configured detector once."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from zhizhi.console.settings import get_settings
    from zhizhi.video.detectors import UltralyticsDetector

    d = get_settings().detector
    if d.kind != "ultralytics":
        print(f"detector kind {d.kind}: nothing to export")
        return
    detector = UltralyticsDetector(d.weights, **d.ultralytics_options())
    print(f"detector runtime: {detector.runtime} ({detector.loaded})")


if __name__ == "__main__":
    main()
