"""Alerts: list, read with the audit trail, evidence files, transition, escalate, hand down.

Every endpoint works inside the caller's jurisdiction (:data:`~console.api.deps.RequestScope`):
an alert is visible when its grid or its assignee lies within the caller's code. An alert the
caller may not see answers 404 exactly like one that does not exist, so a town never learns of
another town's alerts. Transition, escalate and hand down need the ``alerts.act`` permission
(an analyst gets 403, whatever the alert); the audit trail names the user who acted.

Status codes: 404 unknown or invisible; 409 an illegal transition (with ``from``, ``to`` and
``allowed``), escalating at the top, acting on a closed alert or a reopen that collides with an
open alert of the same key; 403 escalating or handing down an alert held by a unit above the
caller; 422 a malformed body, a transition that needs a note (closing as a false alarm,
reopening, resolving with required steps of the alert's procedure unticked:
:mod:`console.api.procedures`), or a hand-down unit that is not below the assignee or does not
contain the alert's grid.

Evidence: ``GET /api/alerts/{id}/evidence/snapshot`` (``image/jpeg``), ``.../clip``
(``video/webm``) and ``.../track`` (the observed tracks, ``application/x-ndjson``) serve the
files recorded for the alert, to those who may see the alert; with ``?camera=CAM-2`` those of a
camera that joined the alert later (one of its ``evidence.views``). 404 when the alert is
invisible, has no such file (or no view of that camera) yet, or the file is past its retention. An
``<img>`` or ``<video>`` tag cannot send a header, so these two also take a short-lived
``?ticket=`` of ``POST /api/auth/ticket`` (as the camera video does); a login token in the URL
is refused. A role without ``read`` (the gateway) gets 403, as for the alert itself.

Filters of the list: ``status`` and ``severity`` may be repeated (``?status=new&status=acknowledged``)
or comma-separated (``?status=new,acknowledged``); ``since``/``until`` bound ``last_ts`` (epoch
seconds, inclusive); newest ``last_ts`` first; ``limit`` (1-1000, default 100) and ``offset``.

Verdicts and groups: ``POST .../transition`` with ``to: closed`` may carry ``verdict``
(``false_alarm``, which needs a note, or ``duplicate`` with ``duplicate_of``, the open alert
that takes over its tracks); resolving is a confirmed event. Each verdict is stored as a label
the analyst backtests against (``zhizhi backtest --dataset labels:false-alarms``).
``POST /api/alerts/bulk`` does one action (acknowledge, close_duplicate, close_false_alarm) on
many alerts, each as its own request would, and lists the ones it could not act on with their
status. ``GET /api/alerts/false-alarm-rates?days=7`` counts, per rule and camera, the machine
alerts of the period and how many were false alarms.

``GET /api/alerts/export.csv`` is the list as a CSV for Excel and WPS (docs/exports.md): the same
filters (``limit`` up to 50,000, default 10,000), ``?headers=zh|en``, bearer header or ``?ticket=``.

``GET /api/alerts/lifecycle`` is the state machine of :mod:`alerts.lifecycle` for the pages (the
wall's board offers the moves it allows): the same for every logged-in user, no alert in it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from zhizhi.alerts.lifecycle import NOTE_REQUIRED, TRANSITIONS, IllegalTransition, NoteRequired
from zhizhi.alerts.record import OPEN_STATUSES, AlertStatus
from zhizhi.alerts.service import (
    AlertConflict,
    AlertError,
    AlertNotFound,
    BulkAction,
    NotResponsible,
)
from zhizhi.console.api.deps import (
    CurrentPrincipal,
    RequestScope,
    State,
    UrlScope,
    require,
)
from zhizhi.console.auth import Permission
from zhizhi.console.csv_export import CSV_RESPONSES, HeadersQuery, TicketQuery, csv_response, stamp
from zhizhi.console.export_tables import ALERT_COLUMNS, alert_row
from zhizhi.console.procedure_notices import announce_skip
from zhizhi.gis.codes import CODE_PATTERN
from zhizhi.layers import Scope
from zhizhi.layers.ids import ALERT_ID
from zhizhi.models.warning.record import Severity

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def request_actor(principal: CurrentPrincipal) -> str:
    """Who acts, for the audit trail: the logged-in user's name."""
    return principal.username


Actor = Annotated[str, Depends(request_actor)]
MayAct = [Depends(require(Permission.ALERTS_ACT))]

Note = Annotated[str, Field(max_length=2000, description="Why; shown in the audit trail.")]


AlertId = Annotated[str, Field(pattern=ALERT_ID.pattern, description="An alert's id.")]


class TransitionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: AlertStatus
    note: Note = ""
    verdict: Literal["false_alarm", "duplicate"] | None = Field(
        None, description="With to=closed: what the alert was (false_alarm needs a note)."
    )
    duplicate_of: AlertId | None = Field(None, description="With verdict duplicate: the open alert it repeats.")


class BulkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[AlertId] = Field(min_length=1, max_length=500, description="The alerts to act on.")
    action: BulkAction
    note: Note = ""
    duplicate_of: AlertId | None = Field(
        None, description="close_duplicate: the alert the others repeat (it stays open)."
    )


class BulkFailure(BaseModel):
    id: str
    status: int = Field(description="The HTTP status the single-alert request would have answered.")
    detail: str


class BulkResult(BaseModel):
    done: list[dict[str, Any]] = Field(description="The alerts as they are after the action.")
    failed: list[BulkFailure]


class FalseAlarmRate(BaseModel):
    rule: str | None
    rule_id: str | None
    camera_id: str | None
    alerts: int = Field(description="Machine alerts raised in the period.")
    false_alarms: int = Field(description="Of them, closed as false alarms.")
    rate: float = Field(ge=0, le=1)


class EscalateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = ""


class HandDownBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: str = Field(pattern=CODE_PATTERN, description="Jurisdiction code of the unit.")
    note: Note = ""


def error_status(exc: AlertError | ValueError) -> int:
    """The HTTP status of a service refusal."""
    if isinstance(exc, AlertNotFound):
        return 404
    if isinstance(exc, IllegalTransition | AlertConflict):
        return 409
    if isinstance(exc, NotResponsible):
        return 403
    return 422


def alert_error_response(exc: AlertError | ValueError) -> JSONResponse:
    """A service refusal as its HTTP answer (see the module docstring)."""
    if isinstance(exc, IllegalTransition):
        return JSONResponse(
            status_code=409,
            content={
                "detail": str(exc),
                "from": exc.from_status,
                "to": exc.to_status,
                "allowed": list(exc.allowed),
            },
        )
    return JSONResponse(status_code=error_status(exc), content={"detail": str(exc)})


def _choices(values: list[str] | None, enum: type, name: str) -> list[str] | None:
    """Repeated and/or comma-separated values, each checked against ``enum``."""
    if not values:
        return None
    items = [v.strip() for value in values for v in value.split(",") if v.strip()]
    allowed = [e.value for e in enum]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise HTTPException(422, f"unknown {name} {', '.join(map(repr, bad))}; use {', '.join(allowed)}")
    return items or None


StatusQuery = Annotated[list[str] | None, Query(description="Statuses, repeated or comma-separated.")]
SeverityQuery = Annotated[list[str] | None, Query(description="Severities, repeated or comma-separated.")]
SinceQuery = Annotated[float | None, Query(allow_inf_nan=False, description="last_ts >= since.")]
UntilQuery = Annotated[float | None, Query(allow_inf_nan=False, description="last_ts <= until.")]
OffsetQuery = Annotated[int, Query(ge=0, le=1_000_000)]


def list_filters(
    status: StatusQuery = None,
    severity: SeverityQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    offset: OffsetQuery = 0,
) -> dict[str, Any]:
    """The filters of the alert list and its CSV export, checked (422 for an unknown status or
    severity), as keyword arguments of :meth:`AlertService.list`."""
    return {
        "status": _choices(status, AlertStatus, "status"),
        "severity": _choices(severity, Severity, "severity"),
        "since": since,
        "until": until,
        "offset": offset,
    }


ListFilters = Annotated[dict[str, Any], Depends(list_filters)]


@router.get("")
def list_alerts(
    state: State,
    scope: RequestScope,
    filters: ListFilters,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Alerts the caller may see, newest first."""
    return [a.to_message() for a in state.alerts.list(scope=scope, limit=limit, **filters)]


# Before /{alert_id}: "export.csv" is this route, never an alert's id.
@router.get("/export.csv", responses=CSV_RESPONSES)
def export_alerts(
    state: State,
    scope: UrlScope,
    filters: ListFilters,
    headers: HeadersQuery = "zh",
    limit: Annotated[int, Query(ge=1, le=50_000)] = 10_000,
    ticket: TicketQuery = None,
) -> Response:
    """The alerts of the list (the same filters, the caller's jurisdiction) as a CSV for Excel
    (docs/exports.md), newest first; bearer header, or ``?ticket=`` for a download link."""
    alerts = state.alerts.list(scope=scope, limit=limit, **filters)
    zone = state.settings.wall.time_zone
    when = stamp(state.alerts.clock(), zone)
    return csv_response(ALERT_COLUMNS, map(alert_row, alerts), headers=headers, time_zone=zone,
                        filename=f"alerts-{when}.csv", filename_zh=f"告警-{when}.csv")


def _with_history(state: State, alert_id: str, scope: Scope) -> dict[str, Any]:
    alert = state.alerts.get(alert_id, scope)
    history = state.alerts.history(alert_id, scope)
    return alert.to_message() | {"history": [h.to_message() for h in history]}


class Lifecycle(BaseModel):
    """The alert lifecycle (:mod:`alerts.lifecycle`), for the pages."""

    statuses: list[AlertStatus] = Field(description="Every status, the main line's order.")
    open: list[AlertStatus] = Field(description="The statuses of an alert still being worked on.")
    transitions: dict[AlertStatus, list[AlertStatus]] = Field(
        description="Status -> the statuses it may move to (POST .../transition refuses others)."
    )
    note_required: list[tuple[AlertStatus, AlertStatus]] = Field(
        description="The moves (from, to) whose note must say why."
    )


LIFECYCLE = Lifecycle(
    statuses=list(AlertStatus),
    open=list(OPEN_STATUSES),
    transitions={status: list(targets) for status, targets in TRANSITIONS.items()},
    note_required=sorted(NOTE_REQUIRED),
)


# Before /{alert_id}: "lifecycle" is this route, never an alert's id.
@router.get("/lifecycle")
def lifecycle(principal: CurrentPrincipal) -> Lifecycle:
    """Which status may follow which, which are open, which moves need a note (any
    logged-in user: the rules, no alert)."""
    return LIFECYCLE


@router.get("/false-alarm-rates")
def false_alarm_rates(
    state: State,
    scope: RequestScope,
    days: Annotated[float, Query(gt=0, le=90, description="How many days back.")] = 7.0,
) -> list[FalseAlarmRate]:
    """Per rule and camera, the machine alerts of the last ``days`` and how many of them were
    closed as false alarms, highest rate first (within the caller's jurisdiction)."""
    since = state.alerts.clock() - days * 86400
    return [FalseAlarmRate(**row) for row in state.alerts.false_alarm_rates(scope, since=since)]


@router.post("/bulk", dependencies=MayAct)
def bulk(state: State, scope: RequestScope, actor: Actor, body: BulkBody):
    """One action on a group of alerts: acknowledge them all, close them as duplicates of one
    (``duplicate_of`` stays open and takes over their tracks), or close them as false alarms
    (a note is required: 422 without). Each alert is handled as its own request would be; the
    ones that cannot be are listed in ``failed`` with that request's status."""
    try:
        done, failed = state.alerts.bulk(
            body.ids, body.action, actor, body.note, scope=scope, duplicate_of=body.duplicate_of
        )
    except (AlertError, NoteRequired) as exc:
        return alert_error_response(exc)
    return BulkResult(
        done=[a.to_message() for a in done],
        failed=[BulkFailure(id=i, status=error_status(e), detail=str(e)) for i, e in failed],
    )


@router.get("/{alert_id}")
def read_alert(state: State, scope: RequestScope, alert_id: str):
    """The alert with its audit trail (``history``, oldest first)."""
    try:
        return _with_history(state, alert_id, scope)
    except AlertError as exc:
        return alert_error_response(exc)


EVIDENCE_MEDIA_TYPES: dict[str, str] = {
    "snapshot": "image/jpeg",
    "clip": "video/webm",
    "track": "application/x-ndjson",
}


@router.get("/{alert_id}/evidence/{kind}", response_class=FileResponse)
def read_evidence(
    state: State,
    scope: UrlScope,
    alert_id: str,
    kind: Literal["snapshot", "clip", "track"],
    camera: Annotated[str | None, Query(max_length=200, description="A camera that joined the alert.")] = None,
):
    """The alert's snapshot (JPEG), clip (WebM) or observed tracks (``observations.jsonl``, one
    analysed frame a line, as a backtest clip reads them), shown inline — with ``camera``, those
    of that camera that joined the alert (404 when it has no view of it); 404 as for the alert
    itself."""
    try:
        alert = state.alerts.get(alert_id, scope)
    except AlertError as exc:
        return alert_error_response(exc)
    files = alert.evidence if camera is None else alert.evidence.view(camera)
    if files is None:
        raise HTTPException(404, f"alert {alert.id} has no evidence of camera {camera} (yet)")
    relative = getattr(files, kind)
    if relative is None:
        raise HTTPException(404, f"alert {alert.id} has no {kind} (yet)")
    path = (state.evidence.root / relative).resolve()
    inside = state.evidence.contains(relative, None if camera is None else alert.id)
    if not inside or not path.is_file():
        raise HTTPException(404, f"the {kind} of alert {alert.id} is no longer kept")
    return FileResponse(path, media_type=EVIDENCE_MEDIA_TYPES[kind])


@router.post("/{alert_id}/transition", dependencies=MayAct)
def transition(state: State, scope: RequestScope, actor: Actor, alert_id: str, body: TransitionBody):
    """Move the alert to ``to``; 409 with the allowed targets when the move is illegal. Resolving
    with required steps of its procedure unticked needs a note (422) and tells the unit above."""
    try:
        alert = state.alerts.transition(
            alert_id, body.to, actor, body.note, scope=scope, verdict=body.verdict, duplicate_of=body.duplicate_of
        )
    except (AlertError, IllegalTransition, NoteRequired) as exc:
        return alert_error_response(exc)
    if alert.status == AlertStatus.RESOLVED:
        announce_skip(state, alert)
    return alert.to_message()


@router.post("/{alert_id}/escalate", dependencies=MayAct)
def escalate(state: State, scope: RequestScope, actor: Actor, alert_id: str, body: EscalateBody):
    """Hand the alert one level up (village -> town -> district)."""
    try:
        return state.alerts.escalate(alert_id, actor, body.note, scope=scope).to_message()
    except AlertError as exc:
        return alert_error_response(exc)


@router.post("/{alert_id}/hand_down", dependencies=MayAct)
def hand_down(state: State, scope: RequestScope, actor: Actor, alert_id: str, body: HandDownBody):
    """Assign the alert to a unit below the current assignee that contains its grid."""
    try:
        return state.alerts.hand_down(alert_id, body.unit, actor, body.note, scope=scope).to_message()
    except AlertError as exc:
        return alert_error_response(exc)
