"""Parameter sweeps: one model run per combination of rule parameters, over cached observations.

``RULE.PARAM=START:STOP:STEP`` names a rule by its id in the model and one of its numeric
parameters; values run from START to STOP inclusive in steps of STEP. Several axes give their
cartesian product. Every combination is validated as a whole model before anything runs, so
``min_duration_s=0:30:10`` is refused up front (``min_duration_s`` must be greater than 0).

>>> from zhizhi.models.warning.config import load_model
>>> axis = parse_sweep("hazmat-abnormal-stop.min_duration_s=10:30:10", load_model())
>>> axis.name, axis.values
('hazmat-abnormal-stop.min_duration_s', [10.0, 20.0, 30.0])
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from zhizhi.layers.spreadsheet import Column, Headers, write_csv
from zhizhi.models.backtest.cache import DetectorSpec
from zhizhi.models.backtest.dataset import BacktestError, Dataset, load_dataset
from zhizhi.models.backtest.run import (
    BacktestResult,
    Matching,
    Progress,
    evaluate,
    resolve_model,
    run_clips,
)
from zhizhi.models.config_file import ModelConfigError
from zhizhi.models.warning.config import WarningModelConfig, parse_model

MAX_VALUES = 1000
MAX_COMBINATIONS = 10_000
_SPEC = re.compile(r"^(?P<rule>.+)\.(?P<param>[A-Za-z_][A-Za-z0-9_]*)=(?P<range>[^=]+)$")


class SweepAxis(BaseModel):
    """One swept parameter of one rule and its values."""

    rule_id: str
    param: str
    values: list[float] = Field(min_length=1)
    integer: bool = False

    @property
    def name(self) -> str:
        return f"{self.rule_id}.{self.param}"


class SweepRow(BaseModel):
    """The backtest of one combination."""

    params: dict[str, float]
    result: BacktestResult


class SweepResult(BaseModel):
    """Every combination's backtest (same model name, dataset and clips)."""

    model: str
    dataset: str
    clips: int
    axes: list[SweepAxis]
    rows: list[SweepRow]
    seconds: float = Field(description="Wall time of the sweep.")
    sources: dict[str, int] = Field(default_factory=dict)


def parse_sweep(spec: str, model: WarningModelConfig) -> SweepAxis:
    """``RULE.PARAM=START:STOP:STEP`` checked against the model; a :class:`BacktestError` otherwise."""
    m = _SPEC.match(spec.strip())
    if m is None:
        raise BacktestError(f"--sweep {spec!r}: expected RULE.PARAM=START:STOP:STEP")
    rule_id, param = m["rule"], m["param"]
    rules = {r.id: r for r in model.rules}
    if rule_id not in rules:
        raise BacktestError(f"--sweep {spec!r}: no rule {rule_id!r} in {model.label}; rules: {', '.join(rules)}")
    rule = rules[rule_id]
    numeric = _numeric_params(type(rule))
    if param not in numeric:
        raise BacktestError(f"--sweep {spec!r}: {rule_id} ({rule.kind}) has no numeric parameter {param!r}; "
                            f"numeric parameters: {', '.join(sorted(numeric))}")
    try:
        start, stop, step = (float(v) for v in m["range"].split(":"))
    except ValueError:
        raise BacktestError(f"--sweep {spec!r}: the range must be START:STOP:STEP (numbers)") from None
    if not all(math.isfinite(v) for v in (start, stop, step)) or step <= 0 or stop < start:
        raise BacktestError(f"--sweep {spec!r}: need START <= STOP and STEP > 0")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count > MAX_VALUES:
        raise BacktestError(f"--sweep {spec!r}: {count} values; at most {MAX_VALUES}")
    values = [round(start + i * step, 9) for i in range(count)]
    integer = numeric[param]
    if integer and any(v != int(v) for v in values):
        raise BacktestError(f"--sweep {spec!r}: {param} takes whole numbers")
    return SweepAxis(rule_id=rule_id, param=param, values=values, integer=integer)


def _numeric_params(rule_type: type[BaseModel]) -> dict[str, bool]:
    """Numeric fields of a rule class: name -> whether it takes whole numbers."""
    out = {}
    for name, field in rule_type.model_fields.items():
        kinds = (
            typing.get_args(field.annotation) if isinstance(field.annotation, types.UnionType) else (field.annotation,)
        )
        if bool in kinds:
            continue
        if float in kinds:
            out[name] = False
        elif int in kinds:
            out[name] = True
    return out


def expand(model: WarningModelConfig, axes: Sequence[SweepAxis]) -> list[tuple[dict[str, float], WarningModelConfig]]:
    """Every combination of the axes as a validated model (in the axes' order)."""
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_COMBINATIONS:
        raise BacktestError(f"{total} combinations; at most {MAX_COMBINATIONS}")
    base = model.model_dump(mode="json")
    out = []
    for combo in itertools.product(*(a.values for a in axes)):
        data = json.loads(json.dumps(base))
        rules = {r["id"]: r for r in data["rules"]}
        for axis, value in zip(axes, combo):
            rules[axis.rule_id][axis.param] = int(value) if axis.integer else value
        label = ", ".join(f"{a.name}={v:g}" for a, v in zip(axes, combo))
        try:
            out.append((dict(zip((a.name for a in axes), combo)), parse_model(data, f"{model.label} with {label}")))
        except ModelConfigError as exc:
            raise BacktestError(str(exc)) from None
    return out


def run_sweep(
    model_config: WarningModelConfig | Path | str | None,
    dataset_dir: Path | str | Dataset,
    sweeps: Sequence[str | SweepAxis],
    *,
    truth: bool = False,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    detector: DetectorSpec | None = None,
    matching: Matching | None = None,
) -> SweepResult:
    """Backtest every combination of the swept parameters; observations are obtained once per clip."""
    started = time.perf_counter()
    model = resolve_model(model_config)
    if not sweeps:
        raise BacktestError("a sweep needs at least one RULE.PARAM=START:STOP:STEP")
    axes = [s if isinstance(s, SweepAxis) else parse_sweep(s, model) for s in sweeps]
    if len({a.name for a in axes}) != len(axes):
        raise BacktestError("a parameter is swept twice")
    combos = expand(model, axes)
    dataset = dataset_dir if isinstance(dataset_dir, Dataset) else load_dataset(dataset_dir, truth=truth)
    runs = run_clips([m for _, m in combos], dataset, truth=truth, jobs=jobs, cache_dir=cache_dir,
                     progress=progress, detector=detector)
    sources = [r.source for r in runs]
    rows = [
        SweepRow(params=params, result=evaluate(m, dataset, [r.predictions[i] for r in runs], sources,
                                                matching or Matching()))
        for i, (params, m) in enumerate(combos)
    ]
    return SweepResult(
        model=model.label, dataset=str(dataset.root), clips=len(dataset.clips), axes=axes, rows=rows,
        seconds=round(time.perf_counter() - started, 3), sources=rows[0].result.sources if rows else {},
    )


SCORE_COLUMNS = ("tp", "fp", "fn", "precision", "recall", "f1", "mean_delay_s")
#: The score columns with their Chinese headers (the console's backtest CSV uses them too).
SCORE_COLUMNS_ZH = tuple(Column(key, zh, "number") for key, zh in zip(SCORE_COLUMNS, (
    "命中", "误报", "漏报", "精确率", "召回率", "F1", "平均延迟（秒）"), strict=True))


def table(result: SweepResult) -> list[dict]:
    """Flat rows: one per combination and rule (and ``totals``), parameters first."""
    out = []
    for n, row in enumerate(result.rows):
        scopes = [(rule_id, s.rule, s) for rule_id, s in row.result.rules.items()]
        scopes.append(("totals", "", row.result.totals))
        for rule_id, kind, s in scopes:
            out.append({"combination": n, **row.params, "rule_id": rule_id, "rule": kind,
                        **{c: getattr(s, c) for c in SCORE_COLUMNS}})
    return out


def table_columns(result: SweepResult) -> list[Column]:
    """The columns of :func:`table`: the combination, each swept parameter, the rule, the scores."""
    params = [Column(axis.name, axis.name, "number") for axis in result.axes]
    return [Column("combination", "组合", "number"), *params, Column("rule_id", "规则编号"),
            Column("rule", "规则类型"), *SCORE_COLUMNS_ZH]


def write_table(result: SweepResult, out_dir: Path, headers: Headers = "en") -> dict[str, Path]:
    """``sweep.csv`` (the flat table, as a spreadsheet opens it: :mod:`layers.spreadsheet`) and
    ``sweep.json`` (the whole result) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "sweep.csv", out_dir / "sweep.json"
    csv_path.write_bytes(write_csv(table_columns(result), table(result), headers=headers).encode("utf-8"))
    json_path.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return {"csv": csv_path, "json": json_path}
