"""``zhizhi backtest``: score a warning model on clips with ground-truth events, or sweep its parameters."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.settings import Settings


def backtest(
    dataset: Annotated[str, typer.Option(
        help="Dataset folder (clips with camera.json and events.jsonl), or labels:false-alarms: the alerts "
        "closed as false alarms and resolved as true events (their evidence tracks) of the last 30 days.")],
    model: Annotated[Path | None, typer.Option(help="Warning model YAML (default: the shipped one).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    truth: Annotated[
        bool, typer.Option("--truth", help="Use truth.jsonl as perfect observations (no detector).")
    ] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Clips in parallel (processes).")] = 1,
    cache: Annotated[
        Path | None, typer.Option(help="Detector cache folder (default: data_dir/backtest-cache).")
    ] = None,
    sweep: Annotated[list[str] | None, typer.Option(help="RULE.PARAM=START:STOP:STEP (repeatable).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where sweep tables and plots go (default: data_dir/backtest-sweep).")
    ] = None,
    tolerance: Annotated[float, typer.Option(min=0, help="Seconds a prediction may fire after an event's end.")] = 5.0,
    radius: Annotated[
        float, typer.Option(min=0, help="Metres between prediction and event when track ids differ.")
    ] = 50.0,
    detector: Annotated[
        Literal["ultralytics", "motion"] | None, typer.Option(help="Backend (default: settings).")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="Weights for ultralytics (default: settings).")] = None,
    since: Annotated[str | None, typer.Option(
        help="labels:…: verdicts given since this date (YYYY-MM-DD or an ISO time; default: 30 days ago).")] = None,
    scope: Annotated[str | None, typer.Option(
        help="labels:…: only the labels of this jurisdiction (a town's code; default: the whole district).")] = None,
) -> None:
    """Run a warning model over recorded clips and print precision, recall, F1 and delay per rule."""
    from zhizhi.models.backtest.cache import DetectorSpec
    from zhizhi.models.backtest.dataset import BacktestError
    from zhizhi.models.backtest.labels import label_dataset_verdicts
    from zhizhi.models.backtest.run import Matching, resolve_model
    from zhizhi.models.config_file import ModelConfigError

    settings = Settings()
    d = settings.detector
    spec = DetectorSpec(kind=detector or d.kind, weights=weights or d.weights, device=d.device, imgsz=d.imgsz,
                        conf=d.conf, tracker=d.tracker)
    options = {
        "truth": truth, "jobs": jobs, "cache_dir": cache or settings.data_dir / "backtest-cache",
        "detector": spec, "matching": Matching(tolerance_s=tolerance, radius_m=radius),
    }
    bar = _Bar()
    try:
        verdicts = label_dataset_verdicts(dataset)
        if verdicts is None and (since is not None or scope is not None):
            raise BacktestError("--since and --scope go with a labels:… dataset")
        warning_model = resolve_model(model)
        if verdicts is not None:
            if truth:
                raise BacktestError(f"{dataset} replays the alerts' recorded tracks: --truth does not apply")
            folder, labels = _label_dataset(settings, dataset, verdicts, since, scope)
        else:
            folder, labels = Path(dataset), None
        if sweep:
            _sweep(warning_model, folder, sweep, out or settings.data_dir / "backtest-sweep", json_out, bar, options)
        elif labels is not None:
            _labels(warning_model, folder, labels, json_out, bar, options)
        else:
            _single(warning_model, folder, json_out, bar, options)
    except (BacktestError, ModelConfigError) as exc:
        bar.close()
        _fail(str(exc))
    finally:
        bar.close()


def _single(model, dataset: Path, json_out: bool, bar: _Bar, options: dict) -> None:
    from zhizhi.models.backtest.run import run_backtest

    with contextlib.redirect_stdout(sys.stderr):  # libraries' chatter (ultralytics logs to stdout)
        result = run_backtest(model, dataset, progress=bar, **options)
    bar.close()
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
        return
    _table(result)


def _table(result) -> None:
    typer.echo(f"{result.model} on {result.dataset}: {result.clips} clips ({_sources(result.sources)})")
    typer.echo(
        f"{'rule':28} {'kind':16} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7} {'f1':>6} {'delay_s':>8}"
    )
    for rule_id, s in [*result.rules.items(), ("totals", result.totals)]:
        kind = getattr(s, "rule", "")
        typer.echo(f"{rule_id:28} {kind:16} {s.tp:>4} {s.fp:>4} {s.fn:>4} {_num(s.precision):>9} "
                   f"{_num(s.recall):>7} {_num(s.f1):>6} {_num(s.mean_delay_s):>8}")


def _label_dataset(settings: Settings, spec: str, verdicts, since: str | None, scope: str | None):
    """Write the labels dataset ``spec`` from the console's label store (``data_dir/labels/NAME``);
    its folder and what to say about it."""
    import time
    from datetime import datetime

    from zhizhi.alerts.labels import LabelStore
    from zhizhi.layers import make_engine
    from zhizhi.models.backtest.dataset import BacktestError
    from zhizhi.models.backtest.labels import DEFAULT_DAYS, LABELS_PREFIX, write_label_dataset

    if since is None:
        since_ts = time.time() - DEFAULT_DAYS * 86400
    else:
        try:
            since_ts = datetime.fromisoformat(since).timestamp()
        except ValueError:
            raise BacktestError(f"--since {since!r}: expected a date (YYYY-MM-DD) or an ISO time") from None
    when = datetime.fromtimestamp(since_ts).strftime("%Y-%m-%d %H:%M")
    where = f" in {scope}" if scope else ""
    store = LabelStore(make_engine(settings.resolved_database_url))
    found = store.list(verdicts=verdicts, since=since_ts, scope=scope)
    if not found:
        raise BacktestError(f"{spec}: no labels since {when}{where} (alerts closed as false alarms or resolved "
                            "as true events on the wall become labels)")
    name = spec.removeprefix(LABELS_PREFIX)
    folder = settings.data_dir / "labels" / name
    summary = write_label_dataset(found, settings.resolved_evidence_dir, folder, verdicts)
    if not summary.clips:
        raise BacktestError(f"{spec}: none of the {len(found)} labels since {when}{where} can be replayed: "
                            + _reasons(summary.skipped))
    return folder, {"name": spec, "since": when, "scope": scope, "labels": len(found)}


def _labels(model, folder: Path, about: dict, json_out: bool, bar: _Bar, options: dict) -> None:
    from zhizhi.models.backtest.labels import run_label_backtest

    options = {k: v for k, v in options.items() if k != "truth"}
    with contextlib.redirect_stdout(sys.stderr):  # libraries' chatter (ultralytics logs to stdout)
        result = run_label_backtest(model, folder, progress=bar, name=about["name"], **options)
    bar.close()
    if json_out:
        typer.echo(result.model_dump_json(indent=2))
        return
    _table(result)
    s = result.labels
    where = f" in {about['scope']}" if about["scope"] else ""
    typer.echo(f"labels since {about['since']}{where}: {about['labels']}, replayed {s.false_alarms + s.confirmed} "
               f"(dataset {folder})" + (f"; skipped: {_reasons(s.skipped)}" if s.skipped else ""))
    typer.echo(f"false alarms still firing: {s.still_firing} of {s.false_alarms} (prevented {s.prevented})")
    typer.echo(f"true events still caught:  {s.caught} of {s.confirmed} (missed {s.missed})")


def _reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in skipped.items())


def _sweep(model, dataset: Path, specs: list[str], out: Path, json_out: bool, bar: _Bar, options: dict) -> None:
    from zhizhi.models.backtest.plots import write_html, write_plots
    from zhizhi.models.backtest.sweep import run_sweep, write_table

    with contextlib.redirect_stdout(sys.stderr):  # libraries' chatter (ultralytics logs to stdout)
        result = run_sweep(model, dataset, specs, progress=bar, **options)
    bar.close()
    files = write_table(result, out)
    figures = write_plots(result, out)
    files["html"] = write_html(result, figures, out)
    for name, path in figures.items():
        files["pr_png" if name == "pr" else f"f1_png:{name.removeprefix('f1:')}"] = path
    summary = {
        "model": result.model, "dataset": result.dataset, "clips": result.clips, "combinations": len(result.rows),
        "seconds": result.seconds, "sources": result.sources, "out": str(out),
        "files": {name: str(p) for name, p in files.items()},
    }
    if json_out:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{result.model}: {len(result.rows)} combinations over {result.clips} clips in {result.seconds:.1f} s "
               f"({_sources(result.sources)})")
    for name, p in summary["files"].items():
        typer.echo(f"  {name}: {p}")


class _Bar:
    """A tqdm bar on stderr, fed by the backtest's ``progress(done, total)``."""

    def __init__(self) -> None:
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc="backtest", unit="clip", file=sys.stderr)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _sources(sources: dict[str, int]) -> str:
    return "observations: " + (", ".join(f"{k} {v}" for k, v in sources.items()) or "none")


def backtest_telemetry(
    model: Annotated[Path | None, typer.Option(help="Trajectory model YAML (default: the shipped one).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated district and its trips.")] = 3,
    grids: Annotated[int, typer.Option(min=16, max=2000, help="Grids of the generated district.")] = 100,
    normal: Annotated[int, typer.Option(min=0, max=500, help="Vehicles without an anomaly.")] = 6,
    cases: Annotated[bool, typer.Option(
        help="Add the held-back cases: a gap inside one upload, a back-dated report, speeding off any "
        "road, a stale upload.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score a trajectory model on simulated trips sent as gateways send them, through the gate."""
    from zhizhi.models.config_file import ModelConfigError
    from zhizhi.models.trajectory.backtest import simulated_backtest
    from zhizhi.models.trajectory.config import load_model

    try:
        config = load_model(model)
    except (ModelConfigError, OSError) as exc:
        _fail(str(exc))
    score = simulated_backtest(config, seed=seed, grids=grids, normal=normal, cases=cases)
    if json_out:
        typer.echo(json.dumps(score.model_dump(), ensure_ascii=False))
        return
    typer.echo(f"{score.model}: {score.vehicles} vehicles, {score.reports} reports in {score.uploads} uploads")
    for rule in score.rules:
        typer.echo(f"  {rule.rule:<18} tp {rule.tp:>3}  fp {rule.fp:>3}  fn {rule.fn:>3}")
    typer.echo(f"precision {score.precision:.3f}  recall {score.recall:.3f}  F1 {score.f1:.3f}")
    for what, items in (("missed", score.missed), ("false", score.false)):
        if items:
            typer.echo(f"{what}: {', '.join(items)}")
    gate = score.gate
    typer.echo(f"gate: refused {gate.bad_refused} of {gate.bad} bad reports, {gate.good_refused} good ones")
