"""Closed alerts as a backtest dataset: false alarms teach the model (``labels:false-alarms``).

When a duty officer closes an alert as a false alarm, or resolves it (a true event), the console
stores a label with the alert's evidence: the camera's observations around it (the evidence
*track*, an ``observations.jsonl``), the camera's configuration, the rule and its parameters,
the tracks, time span and place. :func:`write_label_dataset` turns such labels (any objects
with the fields of :class:`LabelledCase`; this part does not import the alert service) into a
dataset folder of the usual form (``docs/backtest.md``), one clip per label::

    OUT/
      labels.json                     what was written and what was skipped, and why
      false-alarm-<alert id>/
        camera.json                   the camera as it was (stream password masked)
        observations.jsonl            the evidence track
        events.jsonl                  empty: any alert of the rule there is a false positive
        label.json                    the label: verdict, rule id and kind, parameters, note
      confirmed-<alert id>/
        ...
        events.jsonl                  one event: the rule's kind, the track, the alert's span and place

:func:`run_label_backtest` runs a model over it as :func:`~.run.run_backtest` does, scoring only
the rules the labels speak of (a label's rule by id, or the rules of its kind when the model has
no rule of that id: a label says nothing about other rules), and tells per label whether the
false alarm would still fire and whether the true event is still caught.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhizhi.layers.camera_registry import mask_stream_url
from zhizhi.models.backtest.cache import DetectorSpec
from zhizhi.models.backtest.dataset import BacktestError, Dataset, load_dataset
from zhizhi.models.backtest.frames import read_observations
from zhizhi.models.backtest.matching import match
from zhizhi.models.backtest.run import (
    _SAME_IDS,
    BacktestResult,
    Matching,
    Progress,
    evaluate,
    resolve_model,
    run_clips,
)
from zhizhi.models.warning.config import WarningModelConfig, parse_model
from zhizhi.video.camera_config import CameraConfigError, load_camera_configs
from zhizhi.video.evidence_store import FILENAMES
from zhizhi.video.simulator.events import EVENT_KINDS, TruthEvent

Verdict = Literal["false_alarm", "duplicate", "confirmed"]
#: The label datasets ``--dataset labels:NAME`` knows, and the verdicts each holds.
LABEL_DATASETS: dict[str, tuple[Verdict, ...]] = {"false-alarms": ("false_alarm", "confirmed")}
LABELS_PREFIX = "labels:"
#: How far back ``labels:NAME`` reaches by default (verdicts given in the last 30 days).
DEFAULT_DAYS = 30
MANIFEST = "labels.json"
LABEL_FILE = "label.json"


class LabelledCase(BaseModel):
    """One closed alert's verdict and what is needed to replay it (the alert label's fields)."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)

    id: int | None = None
    alert_id: str
    verdict: Verdict
    note: str = ""
    actor: str = ""
    ts: float = Field(description="When the verdict was given.")
    category: str = ""
    rule: str | None = Field(None, description="The rule kind (abnormal_stop ...); None: not a rule's alert.")
    rule_id: str | None = Field(None, description="The rule instance of the model that raised it.")
    model: str = ""
    source: str = ""
    camera_id: str | None = None
    cameras: list[str] = Field(default_factory=list)
    track_ids: list[int] = Field(default_factory=list)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    grid: str | None = None
    town: str | None = None
    first_ts: float = Field(description="When the condition was first seen.")
    last_ts: float = Field(description="Its latest sighting.")
    evidence: dict[str, Any] = Field(default_factory=dict, description="snapshot, clip, track: relative paths.")
    params: dict[str, Any] = Field(default_factory=dict, description="The rule's parameters then.")
    camera: dict[str, Any] | None = Field(None, description="The camera's configuration then (camera.json).")


class LabelDatasetSummary(BaseModel):
    """What :func:`write_label_dataset` wrote: clips by verdict, and the labels skipped by reason."""

    path: str
    clips: list[str] = Field(default_factory=list)
    false_alarms: int = 0
    confirmed: int = 0
    skipped: dict[str, int] = Field(default_factory=dict, description="Labels not written, by reason.")


class CaseOutcome(BaseModel):
    """One label under a model: the alerts its rule raised in the clip, and what that means."""

    clip: str
    alert_id: str
    verdict: Verdict
    rule_id: str | None
    rule: str | None
    alerts: int = Field(description="Alerts the label's rule(s) raised in its clip.")
    fires: bool = Field(description="A false alarm: it would still be raised. A true event: it is caught.")


class LabelScores(BaseModel):
    """False alarms that would still fire and true events still caught, over the labels."""

    false_alarms: int = 0
    still_firing: int = Field(0, description="False alarms the model would still raise.")
    prevented: int = Field(0, description="False alarms it would no longer raise.")
    confirmed: int = 0
    caught: int = Field(0, description="True events it still catches.")
    missed: int = Field(0, description="True events it would now miss.")
    skipped: dict[str, int] = Field(default_factory=dict, description="Labels left out of the dataset, by reason.")
    cases: list[CaseOutcome] = Field(default_factory=list)


class LabelBacktestResult(BacktestResult):
    """A backtest on a labels dataset: the usual scores (of the rules the labels speak of) and
    the labels' own account."""

    labels: LabelScores


# --- ``labels:NAME`` ----------------------------------------------------------------------------
def label_dataset_verdicts(spec: str) -> tuple[Verdict, ...] | None:
    """The verdicts of a ``labels:NAME`` dataset; None when ``spec`` is no such form (a folder);
    a :class:`BacktestError` for an unknown name."""
    if not spec.startswith(LABELS_PREFIX):
        return None
    name = spec.removeprefix(LABELS_PREFIX)
    if name not in LABEL_DATASETS:
        known = ", ".join(LABELS_PREFIX + n for n in LABEL_DATASETS)
        raise BacktestError(f"unknown label dataset {spec!r}; known: {known}")
    return LABEL_DATASETS[name]


# --- writing the dataset -------------------------------------------------------------------------
def write_label_dataset(
    cases: Iterable[Any],
    evidence_root: Path | str,
    out_dir: Path | str,
    verdicts: Sequence[str] = ("false_alarm", "confirmed"),
) -> LabelDatasetSummary:
    """Write one clip folder per usable case under ``out_dir`` (clip folders of an earlier run
    there are removed first); cases without a track file or a valid camera are skipped and
    counted by reason. An alert labelled more than once counts by its latest label."""
    evidence_root = Path(evidence_root).resolve()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if old.is_dir() and (old / LABEL_FILE).is_file():
            shutil.rmtree(old)
    (out / MANIFEST).unlink(missing_ok=True)
    skipped: Counter[str] = Counter()
    latest: dict[str, LabelledCase] = {}
    for raw in cases:
        try:
            case = LabelledCase.model_validate(raw)
        except ValidationError as exc:
            skipped[f"not a label: {exc.errors()[0]['msg']}"] += 1
            continue
        if case.alert_id in latest:
            skipped["superseded by a later label of the same alert"] += 1
            if (case.ts, case.id or 0) < (latest[case.alert_id].ts, latest[case.alert_id].id or 0):
                continue
        latest[case.alert_id] = case
    summary = LabelDatasetSummary(path=str(out))
    for case in sorted(latest.values(), key=lambda c: (c.ts, c.id or 0)):
        if case.verdict not in verdicts:
            skipped[f"verdict {case.verdict}"] += 1
            continue
        reason = _write_case(case, evidence_root, out)
        if reason is not None:
            skipped[reason] += 1
            continue
        summary.clips.append(_clip_name(case))
        if case.verdict == "false_alarm":
            summary.false_alarms += 1
        else:
            summary.confirmed += 1
    summary.skipped = dict(sorted(skipped.items()))
    (out / MANIFEST).write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    return summary


def _clip_name(case: LabelledCase) -> str:
    return f"{case.verdict.replace('_', '-')}-{case.alert_id}"


def _write_case(case: LabelledCase, evidence_root: Path, out: Path) -> str | None:
    """Write a case's clip folder; the reason it cannot be replayed otherwise (nothing written)."""
    if case.rule is None or case.rule_id is None:
        return "not a rule's alert"
    if case.rule not in EVENT_KINDS:
        return f"rule kind {case.rule} is not replayed on video"
    if not case.camera:
        return "no camera config"
    track = _track_file(case, evidence_root)
    if track is None:
        return "no track file"
    folder = out / _clip_name(case)
    folder.mkdir()
    try:
        camera = dict(case.camera)
        if isinstance(camera.get("source"), dict) and isinstance(camera["source"].get("url"), str):
            camera["source"] = {**camera["source"], "url": mask_stream_url(camera["source"]["url"])}
        (folder / "camera.json").write_text(json.dumps(camera, ensure_ascii=False, indent=2), encoding="utf-8")
        try:
            config = load_camera_configs(folder / "camera.json")[0]
        except CameraConfigError:
            return "camera config invalid"
        try:
            read_observations(track, config.id)
        except BacktestError:
            return "track file unreadable"
        shutil.copyfile(track, folder / "observations.jsonl")
        events = [] if case.verdict == "false_alarm" else [_truth_event(case)]
        (folder / "events.jsonl").write_text(
            "".join(e.model_dump_json(exclude_none=True) + "\n" for e in events), encoding="utf-8")
        (folder / LABEL_FILE).write_text(
            case.model_dump_json(indent=2, exclude={"camera", "evidence"}), encoding="utf-8")
        return None
    finally:
        if not (folder / LABEL_FILE).is_file():
            shutil.rmtree(folder, ignore_errors=True)


def _track_file(case: LabelledCase, evidence_root: Path) -> Path | None:
    """The case's observations file inside the evidence folder: its evidence's ``track``, else
    where the recorder writes it (a track attached after the label was taken)."""
    candidates = [case.evidence.get("track"), f"{case.alert_id}/{FILENAMES['track']}"]
    for relative in candidates:
        if not isinstance(relative, str) or not relative:
            continue
        path = (evidence_root / relative).resolve()
        if path.is_relative_to(evidence_root) and path.is_file():
            return path
    return None


def _truth_event(case: LabelledCase) -> TruthEvent:
    """A confirmed alert as a ground-truth event: its rule's kind, its track (when it has one),
    from the condition's start to its latest sighting, where it was."""
    track_id = case.track_ids[0] if len(case.track_ids) == 1 else None
    return TruthEvent(rule=case.rule, track_id=track_id, start_ts=case.first_ts,
                      end_ts=max(case.last_ts, case.first_ts), lon=case.lon, lat=case.lat)


# --- running it ----------------------------------------------------------------------------------
def read_label_cases(dataset: Dataset) -> list[LabelledCase]:
    """The label of every clip of a labels dataset (``label.json``), in clip order."""
    cases = []
    for clip in dataset.clips:
        path = clip.folder / LABEL_FILE
        if not path.is_file():
            raise BacktestError(f"{path}: missing (not a labels dataset)")
        try:
            cases.append(LabelledCase.model_validate_json(path.read_text(encoding="utf-8")))
        except ValidationError as exc:
            raise BacktestError(f"{path}: {exc.errors()[0]['msg']}") from None
    return cases


def label_rules(model: WarningModelConfig, case: LabelledCase) -> list[str]:
    """The enabled rules of ``model`` a label speaks of: its rule by id, else those of its kind."""
    enabled = [r for r in model.rules if r.enabled]
    same = [r.id for r in enabled if r.id == case.rule_id]
    return same or [r.id for r in enabled if r.kind == case.rule]


def run_label_backtest(
    model_config: WarningModelConfig | Path | str | None,
    dataset_dir: Path | str | Dataset,
    *,
    jobs: int = 1,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
    detector: DetectorSpec | None = None,
    matching: Matching | None = None,
    name: str | None = None,
) -> LabelBacktestResult:
    """Run a model over a labels dataset: the usual scores of the rules the labels speak of, and
    per label whether its false alarm still fires or its true event is still caught. ``name``
    replaces the dataset's folder in the result (``labels:false-alarms``)."""
    model = resolve_model(model_config)
    dataset = dataset_dir if isinstance(dataset_dir, Dataset) else load_dataset(dataset_dir)
    cases = read_label_cases(dataset)
    per_case = [label_rules(model, case) for case in cases]
    concerned = {rule_id for ids in per_case for rule_id in ids}
    data = model.model_dump(mode="json")
    for rule in data["rules"]:
        rule["enabled"] = rule["enabled"] and rule["id"] in concerned
    scored = parse_model(data, model.label)
    matching = matching or Matching()
    runs = run_clips([scored], dataset, truth=False, jobs=jobs, cache_dir=cache_dir, progress=progress,
                     detector=detector)
    predictions = [r.predictions[0] for r in runs]
    result = evaluate(scored, dataset, predictions, [r.source for r in runs], matching)
    scores = LabelScores(skipped=_manifest_skipped(dataset.root))
    for clip, case, rule_ids, found, run in zip(dataset.clips, cases, per_case, predictions, runs):
        mine = [p for p in found if p.rule_id in rule_ids]
        if case.verdict == "false_alarm":
            fires = bool(mine)
            scores.false_alarms += 1
            scores.still_firing += fires
        else:
            matched = match(mine, clip.events, kind=case.rule or "", tolerance_s=matching.tolerance_s,
                            radius_m=matching.radius_m, compare_tracks=run.source in _SAME_IDS).matched
            fires = bool(matched)
            scores.confirmed += 1
            scores.caught += fires
        scores.cases.append(CaseOutcome(clip=clip.name, alert_id=case.alert_id, verdict=case.verdict,
                                        rule_id=case.rule_id, rule=case.rule, alerts=len(mine), fires=fires))
    scores.prevented = scores.false_alarms - scores.still_firing
    scores.missed = scores.confirmed - scores.caught
    fields = result.model_dump()
    if name is not None:
        fields["dataset"] = name
    return LabelBacktestResult(**fields, labels=scores)


def _manifest_skipped(root: Path) -> dict[str, int]:
    try:
        return LabelDatasetSummary.model_validate_json((root / MANIFEST).read_text(encoding="utf-8")).skipped
    except (OSError, ValidationError):
        return {}


__all__ = [
    "DEFAULT_DAYS",
    "LABELS_PREFIX",
    "LABEL_DATASETS",
    "CaseOutcome",
    "LabelBacktestResult",
    "LabelDatasetSummary",
    "LabelScores",
    "LabelledCase",
    "label_dataset_verdicts",
    "label_rules",
    "read_label_cases",
    "run_label_backtest",
    "write_label_dataset",
]
