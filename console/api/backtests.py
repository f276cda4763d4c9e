"""The analysts' workbench: datasets, background backtests of model versions, and the page.

``GET /api/datasets`` lists the dataset folders (``data_dir/datasets/NAME``: clips with
``camera.json`` and ``events.jsonl``, see ``docs/backtest.md``). ``POST /api/backtests`` checks
the dataset and the model version at once (404 / 422 with the reason) and runs the backtest in
the background; ``GET /api/backtests/{id}`` is its progress (clips done of total), then its
scores per rule or its error. Models and datasets are district-wide, like the model versions:
a dataset holds recordings from anywhere in the district, so running a backtest needs
``models.manage`` **and** a district-level jurisdiction (a town's analyst gets a 403 that says
so, as for changing model versions); everyone who may read sees the results (scores per rule,
no recordings). ``GET /analyst`` is the analyst page (``console/static/analyst/``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from zhizhi.console.api.deps import RequestScope, State, require_district
from zhizhi.console.auth import Permission, Principal
from zhizhi.console.jobs import Job
from zhizhi.models.backtest.dataset import BacktestError, load_dataset
from zhizhi.models.backtest.run import run_backtest
from zhizhi.models.config_file import ModelConfigError

router = APIRouter(tags=["backtests"])
PAGE = Path(__file__).resolve().parents[1] / "static" / "analyst" / "index.html"
DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KIND = "backtest"


class DatasetInfo(BaseModel):
    """A dataset folder: its clips and whether they carry the simulator's truth."""

    name: str
    clips: int
    with_truth: int = Field(description="Clips with truth.jsonl (perfect observations).")


class ModelRef(BaseModel):
    """A warning-model version of the store."""

    name: str = Field(min_length=1, max_length=64)
    version: int = Field(ge=1, le=2**31 - 1)


class BacktestRequest(BaseModel):
    """What to run: a model version over a dataset (truth: the simulator's perfect observations)."""

    model: ModelRef
    dataset: str = Field(pattern=DATASET_NAME.pattern)
    truth: bool = Field(False, description="Use truth.jsonl instead of the detector (rule logic only).")


#: A user who may run backtests: ``models.manage`` at district level (403 otherwise).
district_analyst = require_district(
    Permission.MODELS_MANAGE, "backtests replay recordings of the whole district", "run them")


def _datasets_dir(state) -> Path:
    return state.settings.resolved_datasets_dir


def _dataset_folder(state, name: str) -> Path:
    folder = _datasets_dir(state) / name
    if not DATASET_NAME.match(name) or not folder.is_dir():
        raise HTTPException(404, f"no dataset {name!r}")
    return folder


@router.get("/api/datasets", response_model=list[DatasetInfo])
def datasets(state: State, scope: RequestScope) -> list[DatasetInfo]:
    """The dataset folders the console knows (``data_dir/datasets``)."""
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
    return found


@router.post("/api/backtests", status_code=202, response_model=Job)
async def start_backtest(
    state: State, principal: Annotated[Principal, Depends(district_analyst)], request: BacktestRequest
) -> Job:
    """Check the model version and the dataset, then run the backtest in the background."""
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


@router.get("/analyst", include_in_schema=False)
def analyst_page() -> FileResponse:
    return FileResponse(PAGE)
