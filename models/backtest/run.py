"""Running warning models over a dataset and scoring them: :func:`run_backtest`.

Each clip is one task (a process of its own with ``jobs > 1``): its observations are obtained
once (truth, pre-computed tracks, the cache or the detector), so a sweep costs one inference
per clip at most. The models asked for are folded into one engine holding each distinct rule
instance once (a rule's alerts depend only on its own parameters and the frames), so a sweep
of one rule's parameter re-runs only that rule. Predictions go back to the caller, which
matches and scores them (:mod:`.matching`, :mod:`.metrics`).
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from zhizhi.models.backtest.cache import DetectorSpec, ObservationCache, default_cache_dir
from zhizhi.models.backtest.dataset import Clip, Dataset, load_dataset
from zhizhi.models.backtest.frames import clip_frames
from zhizhi.models.backtest.matching import Prediction, match
from zhizhi.models.backtest.metrics import RuleScores, Scores, score
from zhizhi.models.warning.config import WarningModelConfig, load_model, parse_model

Progress = Callable[[int, int], None]

#: Sources whose track ids are those the labels refer to (detector ids are the tracker's own).
_SAME_IDS = {"truth", "observations"}


class Matching(BaseModel):
    """How predictions are matched to events (``docs/backtest.md``)."""

    tolerance_s: float = Field(5.0, ge=0, description="A prediction may fire this long after the event's end.")
    radius_m: float = Field(50.0, ge=0, description="Within this distance when the track ids do not match.")


class BacktestResult(BaseModel):
    """A model's scores on a dataset: per rule instance (by id) and in total."""

    model: str = Field(description="name@version")
    dataset: str
    clips: int
    rules: dict[str, RuleScores]
    totals: Scores = Field(description="All rules together (sums of their counts).")
    unscored_events: dict[str, int] = Field(
        default_factory=dict, description="Ground-truth events of kinds no enabled rule has, by kind."
    )
    matching: Matching = Field(default_factory=Matching)
    sources: dict[str, int] = Field(
        default_factory=dict,
        description="Clips by where their observations came from: truth, observations, cache, detector.",
    )


@dataclass
class ClipRun:
    """What running models over one clip gave: predictions per model, and the observations' source."""

    predictions: list[list[Prediction]]
    source: str


def resolve_model(model: WarningModelConfig | Path | str | None) -> WarningModelConfig:
    """A model config from itself, a file, or None (the shipped model)."""
    return model if isinstance(model, WarningModelConfig) else load_model(model)


def run_backtest(
    model_config: WarningModelConfig | Path | str | None,
    dataset_dir: Path | str | Dataset,
    *,
    truth: bool = False,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    detector: DetectorSpec | None = None,
    matching: Matching | None = None,
) -> BacktestResult:
    """Run a warning model over a dataset and score it per rule.

    ``truth``: observations from the simulator's ``truth.jsonl`` (no detector); ``jobs``: clips
    in parallel processes; ``cache_dir``: the detector cache (default ``~/.cache/zhizhi/backtest``);
    ``progress(done, total)`` after each clip; ``detector``: default the shipped one.
    """
    model = resolve_model(model_config)
    dataset = dataset_dir if isinstance(dataset_dir, Dataset) else load_dataset(dataset_dir, truth=truth)
    runs = run_clips([model], dataset, truth=truth, jobs=jobs, cache_dir=cache_dir, progress=progress,
                     detector=detector)
    return evaluate(model, dataset, [r.predictions[0] for r in runs], [r.source for r in runs],
                    matching or Matching())


def run_clips(
    models: Sequence[WarningModelConfig],
    dataset: Dataset,
    *,
    truth: bool,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    detector: DetectorSpec | None = None,
) -> list[ClipRun]:
    """Every model over every clip (clips in parallel with ``jobs > 1``), in clip order."""
    detector = detector or DetectorSpec()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    merged, maps = union(models)
    tasks = [(clip, merged, maps, truth, detector, cache_dir) for clip in dataset.clips]
    total = len(tasks)
    out: list[ClipRun | None] = [None] * total
    if jobs <= 1 or total <= 1:
        for i, task in enumerate(tasks):
            out[i] = run_clip(*task)
            if progress is not None:
                progress(i + 1, total)
        return out  # type: ignore[return-value]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=context, initializer=_stdout_to_stderr) as pool:
        futures = {pool.submit(run_clip, *task): i for i, task in enumerate(tasks)}
        for done, future in enumerate(as_completed(futures), 1):
            out[futures[future]] = future.result()
            if progress is not None:
                progress(done, total)
    return out  # type: ignore[return-value]


def _stdout_to_stderr() -> None:
    """In a worker process: whatever libraries print goes to stderr (stdout is the caller's JSON)."""
    sys.stdout = sys.stderr


def union(models: Sequence[WarningModelConfig]) -> tuple[WarningModelConfig | None, list[dict[str, str]]]:
    """One model holding every distinct enabled rule of ``models`` once (ids ``u0``, ``u1`` ...),
    and per model the map from its rule ids to those; None when no rule is enabled."""
    shared = [m.model_dump(mode="json", exclude={"rules", "name", "version", "description"}) for m in models]
    if any(s != shared[0] for s in shared):
        raise ValueError("models to run together may differ only in their rules")
    ids: dict[str, str] = {}
    rules: list[dict] = []
    maps = []
    for model in models:
        mapping = {}
        for rule in model.rules:
            if not rule.enabled:
                continue
            data = rule.model_dump(mode="json", exclude={"id", "description"})
            key = json.dumps(data, sort_keys=True)
            if key not in ids:
                ids[key] = f"u{len(ids)}"
                rules.append({**data, "id": ids[key]})
            mapping[rule.id] = ids[key]
        maps.append(mapping)
    if not rules:
        return None, maps
    merged = parse_model({**models[0].model_dump(mode="json", exclude={"rules"}), "rules": rules}, "merged models")
    return merged, maps


def run_clip(
    clip: Clip, merged: WarningModelConfig | None, maps: list[dict[str, str]], truth: bool, detector: DetectorSpec,
    cache_dir: Path,
) -> ClipRun:
    """One clip: its observations once, the merged rules over them, predictions per model."""
    from zhizhi.models.warning.scene import places_for

    frames, source = clip_frames(clip, truth=truth, detector=detector, cache=ObservationCache(cache_dir))
    found = predict(merged, places_for([clip.camera]), clip.camera.id, frames) if merged is not None else []
    by_rule: dict[str, list[Prediction]] = {}
    for p in found:
        by_rule.setdefault(p.rule_id, []).append(p)
    per_model = [
        [
            p.model_copy(update={"rule_id": own})
            for own, merged_id in mapping.items()
            for p in by_rule.get(merged_id, [])
        ]
        for mapping in maps
    ]
    return ClipRun(per_model, source)


def predict(model: WarningModelConfig, places, camera_id: str, frames) -> list[Prediction]:
    """The first event of every key the model fires over the frames, timed when it fired."""
    from zhizhi.models.warning.engine import WarningEngine

    engine = WarningEngine(model, places)
    seen: set[str] = set()
    out: list[Prediction] = []

    def keep(events) -> None:
        for e in events:
            if e.key in seen:
                continue
            seen.add(e.key)
            out.append(Prediction(rule_id=e.rule_id, rule=e.rule, track_id=e.track_id, cls=e.cls, ts=e.last_ts,
                                  first_ts=e.first_ts, lon=e.lon, lat=e.lat))

    for batch in frames:
        keep(engine.process_frame(batch))
    keep(engine.flush())
    return out


def evaluate(
    model: WarningModelConfig,
    dataset: Dataset,
    predictions: Sequence[list[Prediction]],
    sources: Sequence[str],
    matching: Matching,
) -> BacktestResult:
    """Match each clip's predictions to its events per enabled rule and score them."""
    rules = [r for r in model.rules if r.enabled]
    counts = {r.id: {"tp": 0, "fp": 0, "fn": 0, "delays": []} for r in rules}
    for clip, clip_predictions, source in zip(dataset.clips, predictions, sources):
        for rule in rules:
            m = match([p for p in clip_predictions if p.rule_id == rule.id], clip.events, kind=rule.kind,
                      tolerance_s=matching.tolerance_s, radius_m=matching.radius_m,
                      compare_tracks=source in _SAME_IDS)
            c = counts[rule.id]
            c["tp"] += len(m.matched)
            c["fp"] += len(m.false_positives)
            c["fn"] += len(m.false_negatives)
            c["delays"] += [x.delay_s for x in m.matched]
    per_rule = {
        r.id: RuleScores(rule=r.kind, **score(**counts[r.id]).model_dump()) for r in rules
    }
    totals = score(
        tp=sum(c["tp"] for c in counts.values()),
        fp=sum(c["fp"] for c in counts.values()),
        fn=sum(c["fn"] for c in counts.values()),
        delays=[d for c in counts.values() for d in c["delays"]],
    )
    kinds = {r.kind for r in rules}
    unscored = Counter(e.rule for clip in dataset.clips for e in clip.events if e.rule not in kinds)
    return BacktestResult(
        model=model.label, dataset=str(dataset.root), clips=len(dataset.clips), rules=per_rule, totals=totals,
        unscored_events=dict(sorted(unscored.items())), matching=matching, sources=dict(Counter(sources)),
    )
