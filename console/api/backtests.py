"""The analysts' workbench: datasets, background backtests of model versions, and the page.

``GET /api/datasets`` lists the dataset folders (``data_dir/datasets/NAME``: clips with
``camera.json`` and ``events.jsonl``, see ``docs/backtest.md``). ``POST /api/backtests`` checks
the dataset and the model version at once (404 / 422 with the reason) and runs the backtest in
the background; ``GET /api/backtests/{id}`` is its progress (clips done of total), then its
scores per rule or its error. Models and datasets are district-wide, like the model versions:
a dataset holds recordings from anywhere in the district, so running a backtest needs
``models.manage`` **and** a district-level jurisdiction (a town's analyst gets a 403 that says
so, as for changing model versions); everyone who may read sees the results (scores per rule,
no recordings). ``GET /api/backtests/{id}/result.csv`` is a finished backtest's scores per rule
and in total as a CSV for Excel (docs/exports.md; 409 while it runs). ``GET /analyst`` is the
analyst page (``console/static/analyst/``).

One dataset is not a folder: ``labels:false-alarms``, the alerts closed as false alarms and
resolved as true events in the last 30 days (their labels and evidence tracks,
:mod:`models.backtest.labels`). Its labels are those of the caller's own jurisdiction, so an
analyst of a town (``models.manage``) may run it too; ``GET /api/datasets`` lists it with the
caller's counts (``false_alarms``, ``confirmed``), and its result adds ``labels``: false alarms
still firing and true events still caught (counts only: the results are seen by all readers).
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.deps import RequestScope, State, UrlScope, principal_scope, require, require_district
from zhizhi.console.auth import Permission, Principal
from zhizhi.console.csv_export import CSV_RESPONSES, HeadersQuery, TicketQuery, csv_response
from zhizhi.console.export_tables import BACKTEST_COLUMNS, backtest_rows
from zhizhi.console.jobs import Job, JobStatus
from zhizhi.layers import Scope
from zhizhi.models.backtest.dataset import BacktestError, load_dataset
from zhizhi.models.backtest.labels import (
    DEFAULT_DAYS,
    LABEL_DATASETS,
    LABELS_PREFIX,
    label_dataset_verdicts,
    run_label_backtest,
    write_label_dataset,
)
from zhizhi.models.backtest.run import run_backtest
from zhizhi.models.config_file import ModelConfigError

router = APIRouter(tags=["backtests"])
PAGE = Path(__file__).resolve().parents[1] / "static" / "analyst" / "index.html"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: A folder of ``data_dir/datasets``, or a labels dataset (``labels:false-alarms``).
DATASET = re.compile(rf"^(?:{re.escape(LABELS_PREFIX)}[a-z][a-z-]{{0,31}}|[A-Za-z0-9][A-Za-z0-9_.-]{{0,63}})$")
KIND = "backtest"


class DatasetInfo(BaseModel):
    """A dataset folder: its clips and whether they carry the simulator's truth; or a labels
    dataset (``labels:...``): the caller's labels, one clip each at most."""

    name: str
    clips: int
    with_truth: int = Field(description="Clips with truth.jsonl (perfect observations).")
    false_alarms: int | None = Field(None, description="labels:...: false-alarm labels of the last 30 days.")
    confirmed: int | None = Field(None, description="labels:...: confirmed (true event) labels of the last 30 days.")


class ModelRef(BaseModel):
    """A warning-model version of the store."""

    name: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1, le=2**31 - 1)


class BacktestRequest(BaseModel):
    """What to run: a model version over a dataset (truth: the simulator's perfect observations)."""

    model: ModelRef
    dataset: str = Field(pattern=DATASET.pattern, description="A folder's name, or labels:false-alarms.")
    truth: bool = Field(False, description="Use truth.jsonl instead of the detector (rule logic only).")


#: A user who may run backtests: ``models.manage`` at district level (403 otherwise).
district_analyst = require_district(
    Permission.MODELS_MANAGE, "backtests replay recordings of the whole district", "run them")
#: A user who may run backtests of labels: ``models.manage`` at any level (its own labels).
analyst = require(Permission.MODELS_MANAGE)


def _datasets_dir(state) -> Path:
    return state.settings.resolved_datasets_dir


def _dataset_folder(state, name: str) -> Path:
    folder = _datasets_dir(state) / name
    if not DATASET_NAME.match(name) or not folder.is_dir():
        raise HTTPException(404, f"no dataset {name!r}")
    return folder


def _label_store(state):
    from zhizhi.alerts.labels import LabelStore

    store = getattr(state, "labels", None)
    return store if store is not None else LabelStore(state.engine, migrated=True)


def _labels(state, spec: str, scope: Scope):
    """The labels of a ``labels:NAME`` dataset that ``scope`` may see (404 for an unknown NAME)."""
    try:
        verdicts = label_dataset_verdicts(spec)
    except BacktestError:
        raise HTTPException(404, f"no dataset {spec!r}") from None
    since = time.time() - DEFAULT_DAYS * 86400
    return verdicts, _label_store(state).list(verdicts=verdicts, since=since, scope=scope)


@router.get("/api/datasets", response_model=list[DatasetInfo], response_model_exclude_none=True)
def datasets(state: State, scope: RequestScope) -> list[DatasetInfo]:
    """The dataset folders the console knows (``data_dir/datasets``), then the labels datasets
    with the caller's labels."""
    root = _datasets_dir(state)
    found = []
    for folder in (
        sorted(p for p in root.glob("*") if p.is_dir() and DATASET_NAME.match(p.name)) if root.is_dir() else []
    ):
        clips = [c for c in folder.iterdir() if c.is_dir() and (c / "events.jsonl").is_file()]
        if (folder / "events.jsonl").is_file():
            clips = [folder]
        if clips:
            found.append(DatasetInfo(name=folder.name, clips=len(clips),
                                     with_truth=sum((c / "truth.jsonl").is_file() for c in clips)))
    for name in LABEL_DATASETS:
        _, labels = _labels(state, LABELS_PREFIX + name, scope)
        false_alarms = sum(label.verdict == "false_alarm" for label in labels)
        found.append(DatasetInfo(name=LABELS_PREFIX + name, clips=len(labels), with_truth=0,
                                 false_alarms=false_alarms, confirmed=len(labels) - false_alarms))
    return found


@router.post("/api/backtests", status_code=202, response_model=Job)
async def start_backtest(
    state: State, principal: Annotated[Principal, Depends(analyst)], request: BacktestRequest
) -> Job:
    """Check the model version and the dataset, then run the backtest in the background."""
    if request.dataset.startswith(LABELS_PREFIX):
        return await _start_label_backtest(state, principal, request)
    district_analyst(state, principal)  # a folder holds recordings of the whole district
    folder = _dataset_folder(state, request.dataset)
    try:
        version = state.models.get("warning", request.model.name, request.model.version)
    except LookupError:
        raise HTTPException(404, f"no warning model {request.model.name}@{request.model.version}") from None
    try:
        model = version.config()
        dataset = await run_in_threadpool(load_dataset, folder, truth=request.truth)
    except (BacktestError, ModelConfigError) as exc:
        raise HTTPException(422, str(exc)) from None
    settings = state.settings.backtest
    cache = settings.cache_dir or state.settings.data_dir / "backtest-cache"

    def work(progress) -> dict[str, Any]:
        result = run_backtest(model, dataset, truth=request.truth, jobs=settings.jobs, cache_dir=cache,
                              progress=progress)
        return result.model_dump(mode="json")

    return state.jobs.submit(KIND, work, owner=principal.username, params=request.model_dump())


async def _start_label_backtest(state, principal: Principal, request: BacktestRequest) -> Job:
    """A labels dataset: the caller's labels written to a folder of their own (removed when the
    job ends), then the backtest in the background."""
    scope = principal_scope(state, principal)
    verdicts, labels = _labels(state, request.dataset, scope)
    try:
        version = state.models.get("warning", request.model.name, request.model.version)
    except LookupError:
        raise HTTPException(404, f"no warning model {request.model.name}@{request.model.version}") from None
    if not labels:
        raise HTTPException(422, f"{request.dataset}: no labels of {scope.code or 'the district'} in the last "
                            f"{DEFAULT_DAYS} days (alerts closed as false alarms or resolved become labels)")
    folder = state.settings.data_dir / "labels" / "runs" / f"{scope.code or 'all'}-{uuid.uuid4().hex[:12]}"
    try:
        model = version.config()
        summary = await run_in_threadpool(write_label_dataset, labels, state.settings.resolved_evidence_dir,
                                          folder, verdicts)
        if not summary.clips:
            reasons = ", ".join(f"{n} {reason}" for reason, n in summary.skipped.items())
            raise BacktestError(f"{request.dataset}: none of the {len(labels)} labels can be replayed: {reasons}")
        dataset = await run_in_threadpool(load_dataset, folder)
    except (BacktestError, ModelConfigError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(422, str(exc)) from None
    settings = state.settings.backtest
    cache = settings.cache_dir or state.settings.data_dir / "backtest-cache"

    def work(progress) -> dict[str, Any]:
        try:
            result = run_label_backtest(model, dataset, jobs=settings.jobs, cache_dir=cache, progress=progress,
                                        name=request.dataset)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return result.model_dump(mode="json", exclude={"labels": {"cases"}})

    return state.jobs.submit(KIND, work, owner=principal.username,
                             params=request.model_dump() | {"scope": scope.code})


@router.get("/api/backtests", response_model=list[Job])
def list_backtests(state: State, scope: RequestScope) -> list[Job]:
    """Backtests run by this console, newest first."""
    return state.jobs.list(KIND)


@router.get("/api/backtests/{job_id}", response_model=Job)
def get_backtest(state: State, scope: RequestScope, job_id: str) -> Job:
    job = state.jobs.get(job_id)
    if job is None or job.kind != KIND:
        raise HTTPException(404, f"no backtest {job_id!r}")
    return job


@router.get("/api/backtests/{job_id}/result.csv", responses=CSV_RESPONSES)
def backtest_csv(state: State, scope: UrlScope, job_id: str, headers: HeadersQuery = "zh",
                 ticket: TicketQuery = None) -> Response:
    """A finished backtest's scores as a CSV for Excel (docs/exports.md): one row per rule
    instance, then the totals; 409 while it runs or when it failed."""
    job = get_backtest(state, scope, job_id)
    if job.status == JobStatus.FAILED:
        raise HTTPException(409, f"backtest {job.id} failed, it has no scores: {job.error}")
    if job.status != JobStatus.FINISHED or not isinstance(job.result, dict):
        raise HTTPException(409, f"backtest {job.id} is {job.status.value} ({job.done} of {job.total} clips "
                                 "done): its scores come when it finishes")
    model = str(job.result.get("model", "")).replace("@", "-v")
    return csv_response(BACKTEST_COLUMNS, backtest_rows(job.result), headers=headers,
                        time_zone=state.settings.wall.time_zone, filename=f"backtest-{job.id}-{model}.csv",
                        filename_zh=f"回测结果-{job.id}-{model}.csv")


@router.get("/analyst", include_in_schema=False)
def analyst_page() -> FileResponse:
    return FileResponse(PAGE)
