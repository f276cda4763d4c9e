"""Standard operating procedures (SOPs, 处置规程): the admin page's API and each alert's checklist.

``GET /procedures`` is the admin page (``console/static/procedures/``). Procedures are
district-wide (every town works a category's alert by the same checklist):

- ``GET /api/procedures``: the newest version of every category's procedure (``read``);
- ``GET /api/procedures/{category}``: its versions, newest first (``read``; 404 none);
- ``PUT /api/procedures/{category}`` (``title``, ``steps`` [{``text``, ``required``}], ``note``):
  saved as the category's next version (``procedures.manage``, district-level admins only:
  403 otherwise; 422 a malformed body or category name). Alerts already raised keep theirs.

An alert's checklist (:mod:`alerts.procedures`), inside the caller's jurisdiction like the alert
itself (an alert the caller may not see answers 404 exactly like one that does not exist):

- ``GET /api/alerts/{id}/procedure``: the steps of the version the alert follows, each with
  ``done``, who and when; ``required_left`` the required steps not ticked (``read``);
- ``POST /api/alerts/{id}/procedure/steps/{no}`` (``done``: true or false): tick or untick,
  recorded with who and when, an audit entry on the alert published as its update to every
  screen (``alerts.act``; 409 a resolved or closed alert; 422 no such step, or no procedure).

Resolving an alert with required steps unticked needs a note (``POST .../transition``: 422
without); with one, the alert's audit trail gets a ``sop_skipped`` entry and the unit above the
assignee is told on the websocket (:func:`console.procedure_notices.announce_skip`): an ``alert`` message with
``event: "sop_skipped"`` and ``sop`` (the steps left, the note, who), for that unit and those
above it only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.alerts.procedures import CATEGORY_PATTERN, Procedure, ProcedureDraft, Procedures
from zhizhi.alerts.service import AlertError
from zhizhi.console.api.alerts import Actor, MayAct, alert_error_response
from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State, require_district
from zhizhi.console.auth import Permission
from zhizhi.console.state import ConsoleState

router = APIRouter(tags=["procedures"])

PAGE = Path(__file__).resolve().parents[1] / "static" / "procedures" / "index.html"
MayEdit = [Depends(require_district(Permission.PROCEDURES_MANAGE, "procedures are district-wide",
                                    "save them"))]
Category = Annotated[str, PathParam(pattern=CATEGORY_PATTERN, description="Alert category (rule kind).")]


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    done: bool = Field(description="True: ticked; false: unticked.")


def _procedures(state: ConsoleState) -> Procedures:
    if state.procedures is None:  # pragma: no cover - every runtime opens them
        raise HTTPException(503, "procedures are not available on this console")
    return state.procedures


@router.get("/procedures", include_in_schema=False)
def procedures_page() -> FileResponse:
    """The admin page: edit the procedures, see their versions."""
    return FileResponse(PAGE, headers={"Cache-Control": "no-cache"})


@router.get("/api/procedures")
def list_procedures(state: State, scope: RequestScope) -> list[Procedure]:
    """The newest version of every category's procedure."""
    return _procedures(state).store.current()


@router.get("/api/procedures/{category}")
def procedure_versions(state: State, scope: RequestScope, category: Category) -> list[Procedure]:
    """Every version of ``category``'s procedure, newest first."""
    versions = _procedures(state).store.versions(category)
    if not versions:
        raise HTTPException(404, f"no procedure for category {category!r}")
    return versions


@router.put("/api/procedures/{category}", dependencies=MayEdit)
def save_procedure(state: State, principal: CurrentPrincipal, category: Category, body: ProcedureDraft) -> Procedure:
    """Save ``category``'s procedure as its next version."""
    procedures = _procedures(state)
    return procedures.store.save(category, body, principal.username, procedures.alerts.clock())


@router.get("/api/alerts/{alert_id}/procedure")
def alert_checklist(state: State, scope: RequestScope, alert_id: str):
    """The alert's checklist: its procedure's steps, ticked or not, by whom and when."""
    try:
        return _procedures(state).checklist(alert_id, scope).to_message()
    except AlertError as exc:
        return alert_error_response(exc)


@router.post("/api/alerts/{alert_id}/procedure/steps/{step}", dependencies=MayAct)
def tick_step(state: State, scope: RequestScope, actor: Actor, alert_id: str,
              step: Annotated[int, PathParam(ge=1, le=100)], body: StepBody):
    """Tick or untick step ``step`` of the alert's checklist; the checklist as it is now."""
    try:
        return _procedures(state).tick(alert_id, step, body.done, actor, scope).to_message()
    except AlertError as exc:
        return alert_error_response(exc)
