"""The report of a site adaptation, beside the weights: ``NAME.adapt.json``, ``NAME.adapt.md`` and
``NAME.adapt.png`` (false boxes before and after, and one held-out frame with both detectors'
boxes); the training report ``NAME.report.json`` gets the same figures in its ``site`` section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from zhizhi.models.detector.site.mining import MinedFrame
from zhizhi.models.detector.site.record import Recording
from zhizhi.models.detector.train import EvaluationReport
from zhizhi.video.observation import VEHICLES

Fired = dict[int, list[tuple[list[float], str, float]]]
ROWS = (
    ("on_background", "boxes on the static background (false)"),
    ("vehicles_on_background", "vehicle boxes on the static background"),
    ("on_negatives", "boxes on the mined negatives"),
    ("vehicles", "vehicle boxes, all"),
    ("boxes", "boxes, all"),
    ("positives_found", "mined positives still found"),
)


def write_reports(result, report: EvaluationReport, held_out: Sequence[MinedFrame], recording: Recording,
                  fired_before: Fired, fired_after: Fired):
    """Write the reports; ``result`` with its figure's path."""
    from zhizhi.models.detector.site.adapt import site_report, write_json

    weights = Path(result.weights)
    stem = weights.name.removesuffix(".pt")
    png = weights.with_name(f"{stem}.adapt.png")
    figure = _figure(result, held_out, recording, fired_before, fired_after, png)
    result = result.model_copy(update={"figure": str(figure) if figure else None})
    write_json(Path(result.report_json), result.model_dump(mode="json"))
    Path(result.report_md).write_text(_markdown(result, png.name if figure else None), encoding="utf-8")
    full = site_report(report, result)
    write_json(weights.with_name(f"{stem}.report.json"), full.model_dump(mode="json"))
    return result


def _markdown(result, png: str | None) -> str:
    b, a = result.before, result.after
    rec, split = result.recording, result.split
    lines = [
        f"# {result.name}: site adaptation of camera {result.camera_id}",
        "",
        (f"Started from **{result.started_from}**. Recorded {rec['seconds']:.0f} s of {rec['source']} "
         f"({rec['frames']} frames at {rec['sample_fps']:g}/s); the last {split['holdout']:.0%} "
         f"(from {split['held_out_from_s']:.1f} s, {split['held_out_frames']} frames) is held out and never "
         "trained on."),
        "",
        (f"Mined: {result.mining['labelled']} labelled frames ({result.mining['positive_boxes']} positive boxes), "
         f"{result.mining['background']} background frames ({result.mining['negative_boxes']} negative boxes), "
         f"{result.mining['left_out']} left out (ambiguous), {result.mining['empty']} without a box. "
         f"Trained on {result.train_frames['mined']} mined frames ({result.options['epochs']} epochs at "
         f"{result.options['imgsz']} px, simulator frames per scenario: {result.options['sim_frames']})."),
        "",
        f"## Held-out slice ({b.frames} frames)",
        "",
        "| | before | after |",
        "| --- | --- | --- |",
    ]
    for key, label in ROWS:
        if key == "positives_found":
            lines.append(f"| {label} (of {b.positives}) | {b.positives_found} | {a.positives_found} |")
        else:
            lines.append(f"| {label} | {getattr(b, key)} | {getattr(a, key)} |")
    for name in sorted(set(b.by_class) | set(a.by_class)):
        lines.append(f"| `{name}` boxes | {b.by_class.get(name, 0)} | {a.by_class.get(name, 0)} |")
    sim = result.simulator_map50
    if sim:
        lines += ["", (f"Simulator held-out seed 3000, mAP50: before {sim.get('before')}, after "
                       f"{sim.get('after')} (forgetting check).")]
    s = result.seconds
    lines += ["", (f"Run time: {s.get('total', 0):.0f} s (record {s.get('record', 0):.0f}, mine "
                   f"{s.get('mine', 0):.0f}, train {s.get('train', 0):.0f}, evaluate {s.get('evaluate', 0):.0f})."), ""]
    if result.warnings:
        lines += ["## Check before promoting", "", *(f"- {w}" for w in result.warnings), ""]
    if png:
        lines += [f"![false boxes before and after]({png})", ""]
    return "\n".join(lines)


def _figure(result, held_out: Sequence[MinedFrame], recording: Recording, fired_before: Fired,
            fired_after: Fired, out: Path) -> Path | None:
    """Bars of the counts, and the held-out frame where the starting weights fired most falsely."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not held_out:
        return None
    worst = max(held_out, key=lambda f: sum(1 for _, name, _ in fired_before.get(f.index, []) if name in VEHICLES))
    fig = plt.figure(figsize=(13, 4.2), dpi=100)
    bars = fig.add_axes((0.05, 0.22, 0.25, 0.68))
    keys = [k for k, _ in ROWS]
    x = np.arange(len(keys))
    bars.bar(x - 0.2, [getattr(result.before, k) for k in keys], 0.4, label="before", color="#c0392b")
    bars.bar(x + 0.2, [getattr(result.after, k) for k in keys], 0.4, label="after", color="#27ae60")
    bars.set_xticks(x, ["background", "veh. on bg", "on negatives", "vehicles", "all", "positives"], rotation=35,
                    fontsize=8)
    bars.set_title(f"held-out boxes ({result.before.frames} frames)", fontsize=9)
    bars.legend(fontsize=8)
    image = cv2.imread(str(recording.folder / worst.file))
    panels = ((fired_before, result.started_from), (fired_after, f"{result.name} (adapted)"))
    for k, (fired, title) in enumerate(panels):
        ax = fig.add_axes((0.33 + k * 0.335, 0.02, 0.32, 0.9))
        shown = image.copy()
        for box, name, conf in fired.get(worst.index, []):
            x1, y1, x2, y2 = (int(v) for v in box)
            colour = (0, 0, 255) if name in VEHICLES else (255, 200, 0)
            cv2.rectangle(shown, (x1, y1), (x2, y2), colour, 2)
            cv2.putText(shown, f"{name} {conf:.2f}", (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
        ax.imshow(cv2.cvtColor(shown, cv2.COLOR_BGR2RGB))
        ax.set_title(f"{title}: {len(fired.get(worst.index, []))} boxes at t={worst.t:.1f} s", fontsize=9)
        ax.axis("off")
    fig.savefig(out)
    plt.close(fig)
    return out
