"""Site adaptation of a camera as a background job (``/api/cameras/{camera_id}/adapt``).

``POST`` starts ``zhizhi adapt`` for the camera (:mod:`console.site_adapt`) in the console's job
runner and answers 202 with the job; ``GET .../adapt`` lists the camera's adaptation jobs, newest
first, ``GET .../adapt/{job_id}`` one of them (progress: ``done`` of ``total`` percent and the
``stage``: record, mine, train, evaluate; then the result with the registered version, or the
error), ``GET .../adapt/{job_id}/figure.png`` its report's figure.

Like every camera write, starting one needs ``cameras.manage`` and the camera within the caller's
jurisdiction: a town adapts only its own cameras (403 for another town's, 404 for an unknown id);
everyone who may see the camera sees its jobs. 422 for a camera without a main stream or bad
options, 409 while the camera has an adaptation queued or running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from zhizhi.console.api.camera_registry import registered_camera
from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State, require
from zhizhi.console.auth.roles import Permission
from zhizhi.console.jobs import Job, JobStatus
from zhizhi.models.detector.site.adapt import MAX_MINUTES

router = APIRouter(tags=["cameras"])
KIND = "adapt"
MayManage = [Depends(require(Permission.CAMERAS_MANAGE))]


class AdaptRequest(BaseModel):
    """How long to record and how hard to train (the defaults run in minutes on a CPU)."""

    minutes: float = Field(5.0, gt=0, le=MAX_MINUTES, description="Minutes of stream recorded.")
    epochs: int = Field(5, ge=1, le=30, description="Training epochs.")
    sample_fps: float = Field(2.0, ge=0.1, le=10, description="Frames kept per second of stream.")


def _jobs(state, camera_id: str) -> list[Job]:
    return [j for j in state.jobs.list(KIND) if j.params.get("camera_id") == camera_id]


def _job(state, camera_id: str, job_id: str) -> Job:
    job = state.jobs.get(job_id)
    if job is None or job.kind != KIND or job.params.get("camera_id") != camera_id:
        raise HTTPException(404, f"no adaptation {job_id!r} of camera {camera_id!r}")
    return job


@router.post("/api/cameras/{camera_id}/adapt", status_code=202, response_model=Job, dependencies=MayManage)
def start_adaptation(state: State, scope: RequestScope, principal: CurrentPrincipal, camera_id: str,
                     request: AdaptRequest) -> Job:
    """Record, mine, fine-tune and evaluate in the background; the version is registered as a draft."""
    from zhizhi.console.site_adapt import AdaptRefused, check_camera, run_site_adaptation, starting_weights
    from zhizhi.models.detector.site.adapt import AdaptOptions

    record = registered_camera(state, camera_id, scope.code)
    try:
        check_camera(record, camera_id)
        starting_weights(state.models, state.settings, camera_id)
    except AdaptRefused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    busy = [j for j in _jobs(state, camera_id) if j.status in (JobStatus.QUEUED, JobStatus.RUNNING)]
    if busy:
        raise HTTPException(409, f"camera {camera_id!r} is being adapted already ({busy[0].id})")
    options = AdaptOptions(minutes=request.minutes, epochs=request.epochs, sample_fps=request.sample_fps)

    def work(progress) -> dict[str, Any]:
        result = run_site_adaptation(
            state.settings, state.models, record, options, author=principal.username,
            progress=lambda stage, done: progress(round(done * 100), 100, stage))
        return result.model_dump(mode="json")

    return state.jobs.submit(KIND, work, owner=principal.username,
                             params={"camera_id": camera_id, **request.model_dump()})


@router.get("/api/cameras/{camera_id}/adapt", response_model=list[Job])
def list_adaptations(state: State, scope: RequestScope, camera_id: str) -> list[Job]:
    """The camera's adaptation jobs in this console, newest first."""
    registered_camera(state, camera_id, scope.code)
    return _jobs(state, camera_id)


@router.get("/api/cameras/{camera_id}/adapt/{job_id}", response_model=Job)
def get_adaptation(state: State, scope: RequestScope, camera_id: str, job_id: str) -> Job:
    """One adaptation job: its progress, then its result or error."""
    registered_camera(state, camera_id, scope.code)
    return _job(state, camera_id, job_id)


@router.get("/api/cameras/{camera_id}/adapt/{job_id}/figure.png", response_class=FileResponse)
def adaptation_figure(state: State, scope: RequestScope, camera_id: str, job_id: str) -> FileResponse:
    """The figure of a finished adaptation's report (false boxes before and after)."""
    registered_camera(state, camera_id, scope.code)
    job = _job(state, camera_id, job_id)
    figure = (job.result or {}).get("figure") if job.status == JobStatus.FINISHED else None
    if not figure or not Path(figure).is_file():
        raise HTTPException(404, f"adaptation {job_id!r} has no figure")
    return FileResponse(figure, media_type="image/png")


__all__ = ["router"]
