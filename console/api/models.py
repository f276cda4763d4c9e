"""Model versions: list, read and diff them; add, promote and roll back (``/api/models``).

Model configurations are district-wide: every user who may ``read`` sees all versions (nothing
in them belongs to one town), while adding, promoting and rolling back need ``models.manage``
(admins and analysts) **and** a district-level jurisdiction — a town's analyst gets a 403 that
says so. A promotion or rollback reaches the running warning and trajectory runners over the
bus, without a restart (:func:`console.state.apply_promotion`).

Answers: 404 for an unknown kind, model or version; 409 for a conflict (another text under the
same ``name@version``, a version in production already, nothing to roll back to); 422 with
every bad path for a configuration that does not validate.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from zhizhi.console.api.deps import RequestScope, State, require_district
from zhizhi.console.auth import Permission, Principal
from zhizhi.models.config_file import ModelConfigError
from zhizhi.models.versions.content import Kind
from zhizhi.models.versions.diff import ModelDiff
from zhizhi.models.versions.errors import ModelConflict, ModelVersionError, UnknownModel
from zhizhi.models.versions.record import AuditEntry, ModelVersion

router = APIRouter(prefix="/api/models", tags=["models"])
#: Versions are stored as 32-bit integers (SQLite and PostgreSQL alike).
MAX_VERSION = 2**31 - 1
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="Version number.")]
MAX_CONTENT = 1_000_000


class ModelSummary(BaseModel):
    """A version as listed (without its text); ``running``: the console's runner uses it now."""

    kind: Kind
    name: str
    version: int
    status: str
    author: str
    reason: str
    created_ts: float
    checksum: str
    scope: str = Field("", description="A camera id: that camera's own version (a site adaptation); '': all.")
    running: bool = False


class ModelDetail(ModelSummary):
    """A version with its text (YAML, or a detector's JSON manifest)."""

    content: str


class NewVersion(BaseModel):
    """A version to add: its kind and text (name and version are the text's own)."""

    kind: Kind
    content: str = Field(min_length=1, max_length=MAX_CONTENT, description="YAML (rule models) or JSON manifest.")
    reason: str = Field(min_length=1, max_length=2000)


class Reason(BaseModel):
    """Why a promotion or rollback is made (kept in the audit)."""

    reason: str = Field(min_length=1, max_length=2000)


#: A user who may change model versions: ``models.manage`` at district level (403 otherwise).
district_manager = require_district(
    Permission.MODELS_MANAGE, "model configurations are district-wide", "change them")


Manager = Annotated[Principal, Depends(district_manager)]


def _running(state, kind: str) -> str | None:
    runner = state.warnings if kind == "warning" else state.trajectory if kind == "trajectory" else None
    return getattr(runner, "model_label", None) if runner is not None else None


def _summary(state, version: ModelVersion, detail: bool = False) -> ModelSummary:
    data: dict[str, Any] = version.model_dump(exclude={"id"} if detail else {"id", "content"})
    data["running"] = _running(state, version.kind) == version.label
    return ModelDetail(**data) if detail else ModelSummary(**data)


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, ModelConfigError):
        return HTTPException(422, {"message": str(exc),
                                   "errors": [{"path": p, "reason": r} for p, r in exc.errors]})
    if isinstance(exc, UnknownModel):
        return HTTPException(404, str(exc))
    if isinstance(exc, ModelConflict):
        return HTTPException(409, str(exc))
    return HTTPException(422, str(exc))


def _store(state):
    if state.models is None:  # pragma: no cover - open_console always opens it
        raise HTTPException(503, "the model store is not open")
    return state.models


@router.get("", response_model=list[ModelSummary])
def list_models(state: State, scope: RequestScope, kind: Kind | None = None) -> list[ModelSummary]:
    """Every version (of ``kind``), with its status and whether it runs now."""
    return [_summary(state, v) for v in _store(state).list(kind)]


@router.get("/audit", response_model=list[AuditEntry])
def audit(
    state: State, scope: RequestScope, kind: Kind | None = None, name: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> list[AuditEntry]:
    """Changes, newest first: who added, promoted, rolled back or retired what, and why."""
    return _store(state).audit(kind, name, limit)


@router.get("/{kind}/{name}/diff", response_model=ModelDiff)
def diff(state: State, scope: RequestScope, kind: Kind, name: str,
         a: Annotated[int, Query(ge=1, le=MAX_VERSION)], b: Annotated[int, Query(ge=1, le=MAX_VERSION)]) -> ModelDiff:
    """Versions ``a`` and ``b`` compared: a unified diff of the normalised YAML and the changed paths."""
    try:
        return _store(state).diff(kind, name, a, b)
    except (ModelVersionError, ModelConfigError) as exc:
        raise _errors(exc) from None


@router.get("/{kind}/{name}/{version}", response_model=ModelDetail)
def get_version(state: State, scope: RequestScope, kind: Kind, name: str, version: VersionNumber) -> ModelSummary:
    """One version with its text."""
    try:
        return _summary(state, _store(state).get(kind, name, version), detail=True)
    except ModelVersionError as exc:
        raise _errors(exc) from None


@router.post("", status_code=201, response_model=ModelDetail)
def add_version(state: State, principal: Manager, body: NewVersion) -> ModelSummary:
    """Add a version as a draft (validated; 422 lists every bad path)."""
    try:
        added = _store(state).add(body.kind, body.content, principal.username, body.reason)
    except (ModelVersionError, ModelConfigError) as exc:
        raise _errors(exc) from None
    return _summary(state, added, detail=True)


@router.post("/{kind}/rollback", response_model=ModelSummary)
def rollback(state: State, principal: Manager, kind: Kind, body: Reason) -> ModelSummary:
    """Back to the version in production before the current one; the runners swap to it."""
    try:
        return _summary(state, _store(state).rollback(kind, principal.username, body.reason))
    except ModelVersionError as exc:
        raise _errors(exc) from None


@router.post("/{kind}/{name}/{version}/promote", response_model=ModelSummary)
def promote(
    state: State, principal: Manager, kind: Kind, name: str, version: VersionNumber, body: Reason
) -> ModelSummary:
    """Put a version into production; the runners swap to it between two batches."""
    try:
        return _summary(state, _store(state).promote(kind, name, version, principal.username, body.reason))
    except ModelVersionError as exc:
        raise _errors(exc) from None


__all__ = ["router"]
