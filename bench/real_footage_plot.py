"""The real-footage benchmark as a picture: boxes by class per clip, one bar per run.

``zhizhi bench real-footage --plot FILE.png [--compare EARLIER.json ...]`` draws this run's
tracked boxes (rows of analysed frames) by voted class for each clip, stacked, with earlier runs'
JSON (``--json`` output saved to a file) beside it, so a change shows as bars that shrink or grow.
Vehicle classes in warm colours (the tanker red), people in blue; the title of each clip's panel
carries its tanker tracks over 1 s and alerts per run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

#: Stacking order and colour of each class.
COLOURS = {
    "hazmat_tanker": "#d62728",
    "truck": "#ff7f0e",
    "bus": "#bcbd22",
    "car": "#8c564b",
    "person": "#1f77b4",
}


def load_runs(paths: Sequence[Path]) -> list[tuple[str, dict]]:
    """Earlier runs' JSON, labelled by file stem (ValueError naming a file that is not one)."""
    runs = []
    for path in paths:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a real-footage benchmark JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("clips"), dict):
            raise ValueError(f"{path}: not a real-footage benchmark JSON (no 'clips')")  # noqa: TRY004 (a bad file)
        runs.append((Path(path).stem, data))
    return runs


def plot_runs(runs: Sequence[tuple[str, dict]], out: Path) -> Path:
    """Draw ``runs`` (label, benchmark result) into ``out`` (PNG); returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clips = sorted({name for _, run in runs for name, entry in run["clips"].items() if "error" not in entry})
    fig, axes = plt.subplots(1, max(len(clips), 1), figsize=(4.2 * max(len(clips), 1), 4.2), squeeze=False)
    for ax, clip in zip(axes[0], clips):
        notes = []
        for x, (label, run) in enumerate(runs):
            entry = run["clips"].get(clip, {})
            counts = entry.get("detections_by_class", {})
            bottom = 0
            for cls, colour in COLOURS.items():
                value = counts.get(cls, 0)
                ax.bar(x, value, bottom=bottom, color=colour, label=cls if x == 0 else None)
                bottom += value
            notes.append(f"{label}: tanker>1s {entry.get('tanker_tracks_over_1s', '-')}, "
                         f"alerts {sum(entry.get('alerts', {}).values())}")
        ax.set_xticks(range(len(runs)), [label for label, _ in runs], rotation=15)
        ax.set_title(clip + "\n" + "\n".join(notes), fontsize=8)
        ax.set_ylabel("tracked boxes (analysed frames)")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
