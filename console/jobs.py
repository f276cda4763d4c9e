"""Background jobs of the console (backtests): started by a request, run in a worker thread,
watched by polling — progress, result or error — while the event loop stays free.

One job runs at a time per slot (``max_parallel``); more wait in order. Finished jobs are kept
(the newest ``keep``) so that an analyst can come back to a result.

>>> import time
>>> jobs = JobRunner(max_parallel=1)
>>> job = jobs.submit("demo", lambda progress: (progress(1, 2), progress(2, 2), {"ok": True})[-1], owner="ana")
>>> str(jobs.wait(job.id, 5).status), jobs.get(job.id).result, jobs.get(job.id).done, jobs.get(job.id).total
('finished', {'ok': True}, 2, 2)
>>> jobs.shutdown()
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

#: ``progress(done, total)``, or ``progress(done, total, stage)`` naming the step under way.
Progress = Callable[..., None]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class Job(BaseModel):
    """A background job as the API shows it."""

    id: str
    kind: str
    owner: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: JobStatus = JobStatus.QUEUED
    done: int = 0
    total: int = 0
    stage: str | None = Field(None, description="The step under way, for jobs that have steps.")
    created_ts: float
    started_ts: float | None = None
    finished_ts: float | None = None
    result: Any = None
    error: str | None = None


class JobRunner:
    """Runs jobs in a small thread pool and remembers the newest ``keep`` of them."""

    def __init__(self, max_parallel: int = 1, keep: int = 200) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.keep = keep

    def submit(self, kind: str, work: Callable[[Progress], Any], *, owner: str,
               params: dict[str, Any] | None = None) -> Job:
        """Queue ``work(progress)``; its return value (JSON-able) becomes the job's result."""
        job = Job(id=f"{kind}-{int(time.time())}-{next(self._ids)}", kind=kind, owner=owner,
                  params=params or {}, created_ts=time.time())
        with self._lock:
            self._jobs[job.id] = job
            self._events[job.id] = threading.Event()
            while len(self._jobs) > self.keep:
                old, _ = self._jobs.popitem(last=False)
                self._events.pop(old, None)
        self._pool.submit(self._run, job.id, work)
        return job

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = job.model_copy(update=changes)

    def _run(self, job_id: str, work: Callable[[Progress], Any]) -> None:
        self._update(job_id, status=JobStatus.RUNNING, started_ts=time.time())
        try:
            result = work(lambda done, total, stage=None: self._update(
                job_id, done=done, total=total, **({"stage": stage} if stage else {})))
        except Exception as exc:  # a failed job reports why; the console goes on
            log.exception("job %s failed", job_id)
            self._update(job_id, status=JobStatus.FAILED, error=str(exc) or type(exc).__name__,
                         finished_ts=time.time())
        else:
            self._update(job_id, status=JobStatus.FINISHED, result=result, finished_ts=time.time())
        finally:
            event = self._events.get(job_id)
            if event is not None:
                event.set()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, kind: str | None = None) -> list[Job]:
        """Jobs, newest first."""
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in reversed(jobs) if kind is None or j.kind == kind]

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Wait for a job to end (tests, CLI); the job as it then is."""
        event = self._events.get(job_id)
        if event is not None:
            event.wait(timeout)
        return self.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
