"""The demo's backtest dataset: hazmat tankers stopping for different lengths of time.

``zhizhi demo`` renders (once, in the background; cached in ``data_dir/datasets``) a small
simulator dataset for the analyst page: five ``hazmat-stop`` clips whose tanker stands for 10,
25, 45, 90 and 320 s, each with its ground-truth ``events.jsonl``. Rendered small and at 1 fps
— the backtest's ``truth`` mode reads the simulator's exact tracks, so the dataset is about the
rules' logic: the shipped 20-s abnormal-stop rule finds four of the five stops, a 60-s one two.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_DATASET = "demo-hazmat-stops"
STOPS_S = (10.0, 25.0, 45.0, 90.0, 320.0)


def render_demo_dataset(root: Path, *, stops: tuple[float, ...] = STOPS_S) -> Path:
    """Render the dataset under ``root/demo-hazmat-stops`` unless it is there; its folder."""
    from zhizhi.video.simulator import simulate

    folder = root / DEMO_DATASET
    for seed, stop in enumerate(stops, 1):
        clip = folder / f"stop-{int(stop):03d}s"
        if (clip / "events.jsonl").is_file() and (clip / "truth.jsonl").is_file():
            continue
        simulate("hazmat-stop", seed, clip, fps=1.0, width=160, height=90,
                 params={"stop_s": stop, "mean_gap_m": 2000.0})
    return folder


def start_demo_dataset(root: Path) -> threading.Thread:
    """Render the demo dataset in a daemon thread (the console is usable meanwhile)."""

    def run() -> None:
        try:
            folder = render_demo_dataset(root)
            log.info("demo backtest dataset ready: %s", folder)
        except Exception:  # the demo goes on without it
            log.exception("rendering the demo backtest dataset failed")

    thread = threading.Thread(target=run, name="demo-dataset", daemon=True)
    thread.start()
    return thread
