"""Figures of a sweep (PNG, matplotlib's Agg canvas) and a self-contained HTML page.

- ``pr.png``: precision against recall, one point per combination, for each swept rule;
- ``f1_<rule>.<param>.png``: the swept rule's precision, recall and F1 against the parameter
  (with several axes: at each value, the combination of the others with the best F1);
- ``sweep.html``: the figures (embedded as data URIs) and the table; no external URL.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zhizhi.models.backtest.sweep import SweepAxis, SweepResult, table


def write_plots(result: SweepResult, out_dir: Path) -> dict[str, Path]:
    """Write the PNG figures; returns them by name (``pr``, ``f1:<axis>``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"pr": _save(_pr_figure(result), out_dir / "pr.png")}
    for axis in result.axes:
        files[f"f1:{axis.name}"] = _save(_axis_figure(result, axis), out_dir / f"f1_{_safe(axis.name)}.png")
    return files


def write_html(result: SweepResult, figures: dict[str, Path], out_dir: Path) -> Path:
    """``sweep.html``: a summary, the figures inline and the table."""
    rows = table(result)
    columns = list(rows[0]) if rows else []
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(r[c]))}</td>" for c in columns) + "</tr>" for r in rows
    )
    images = "\n".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode()}"><figcaption>{html.escape(name)}</figcaption></figure>'
        for name, path in figures.items()
    )
    axes = ", ".join(f"{a.name} = {a.values[0]:g} … {a.values[-1]:g} ({len(a.values)} values)" for a in result.axes)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Backtest sweep {html.escape(result.model)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }}
img {{ max-width: 640px; }}
</style></head><body>
<h1>Backtest sweep: {html.escape(result.model)}</h1>
<p>Dataset {html.escape(result.dataset)}: {result.clips} clips. Swept: {html.escape(axes)}.
{len(result.rows)} combinations in {result.seconds:.1f} s; observations: {html.escape(_sources(result))}.</p>
{images}
<h2>Table</h2>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
</body></html>
"""
    path = out_dir / "sweep.html"
    path.write_text(page, encoding="utf-8")
    return path


def _pr_figure(result: SweepResult) -> Figure:
    fig = Figure(figsize=(6, 5), dpi=100)
    ax = fig.add_subplot()
    for rule_id in dict.fromkeys(a.rule_id for a in result.axes):
        points = [(row.result.rules[rule_id].recall, row.result.rules[rule_id].precision, row.params)
                  for row in result.rows if rule_id in row.result.rules]
        points = [(r, p, params) for r, p, params in points if r is not None and p is not None]
        if not points:
            continue
        ax.plot([r for r, _, _ in points], [p for _, p, _ in points], marker="o", label=rule_id)
        labels: dict[tuple[float, float], list[str]] = {}
        for r, p, params in points:
            labels.setdefault((r, p), []).append(", ".join(f"{v:g}" for v in params.values()))
        if len(labels) <= 20:
            for (r, p), names in labels.items():
                text = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]}"
                ax.annotate(text, (r, p), fontsize=7, textcoords="offset points", xytext=(4, 4))
    ax.set(xlabel="recall", ylabel="precision", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
           title=f"Precision-recall, {result.model}")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left")
    return fig


def _axis_figure(result: SweepResult, axis: SweepAxis) -> Figure:
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    best: dict[float, object] = {}
    for row in result.rows:
        value, scores = row.params[axis.name], row.result.rules.get(axis.rule_id)
        if scores is None:
            continue
        known = best.get(value)
        if known is None or (scores.f1 or -1.0) > (known.f1 or -1.0):  # type: ignore[attr-defined]
            best[value] = scores
    xs = sorted(best)
    for metric, style in (("precision", "s--"), ("recall", "^--"), ("f1", "o-")):
        ys = [getattr(best[x], metric) for x in xs]
        ax.plot(xs, [float("nan") if y is None else y for y in ys], style, label=metric)
    others = " (best over the other parameters)" if len(result.axes) > 1 else ""
    ax.set(xlabel=axis.name, ylabel="score", ylim=(-0.02, 1.02), title=f"{axis.rule_id}{others}")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    FigureCanvasAgg(fig).print_png(str(path))
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _sources(result: SweepResult) -> str:
    return ", ".join(f"{k} {v}" for k, v in result.sources.items()) or "none"


