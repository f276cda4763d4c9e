"""Alert forwarding: an alert as CAP 1.2 XML, the webhook targets, the dead-letter list.

- ``GET /api/alerts/{id}/cap.xml``: the alert's CAP 1.2 message as it stands
  (``application/cap+xml``), for whoever may read the alert: 404 for an alert of another
  jurisdiction exactly as for one that does not exist.
- ``GET /api/forward/targets``: the configured targets (name, host, filters, format; never the
  secret nor the URL's path or query, which may carry a token) and their queue.
- ``GET /api/forward/dead-letters``: deliveries given up on, newest first (``?target=``,
  ``limit``, ``offset``); ``POST .../{id}/retry`` sends one again now, once, with the same body
  and delivery id (200 ``{"delivered": true}``, the row goes; 502 with the receiver's answer, the
  row stays with one more attempt; 409 when its target is no longer configured);
  ``DELETE .../{id}`` discards one (204).

Targets and dead letters are the district's: forwarding is configured for the whole deployment
and a dead letter holds the alert's full message, so only district-level users with ``read``
(lists) or ``alerts.act`` (re-send, discard) reach them; a town's user gets 403 even for a target
limited to its own town (see docs/forwarding.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from fastapi.responses import JSONResponse

from zhizhi.alerts.forward.cap import CAP_MEDIA_TYPE
from zhizhi.alerts.forward.deliver import Forwarder, UnknownTarget
from zhizhi.alerts.service import AlertError
from zhizhi.console.api.alerts import alert_error_response
from zhizhi.console.api.deps import RequestScope, State, require_district
from zhizhi.console.auth import Permission
from zhizhi.console.forwarding import cap_of_alert

router = APIRouter(tags=["forward"])

#: A dead letter's id (an integer column: 32 bits on every backend).
LetterId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The dead letter's id.")]

MayRead = [Depends(require_district(Permission.READ, "forwarding is configured for the whole district",
                                    "read the forwarding targets and dead letters"))]
MayAct = [Depends(require_district(Permission.ALERTS_ACT, "forwarding is configured for the whole district",
                                   "re-send or discard dead letters"))]


def _forwarder(state: State) -> Forwarder:
    if state.forwarder is None:  # pragma: no cover - the runtime's forward step always sets it
        raise HTTPException(503, "alert forwarding is not running")
    return state.forwarder


@router.get("/api/alerts/{alert_id}/cap.xml", response_class=Response,
            responses={200: {"content": {CAP_MEDIA_TYPE: {}}}})
def alert_cap(state: State, scope: RequestScope, alert_id: str):
    """The alert's CAP 1.2 message (its latest revision)."""
    try:
        alert = state.alerts.get(alert_id, scope)
    except AlertError as exc:
        return alert_error_response(exc)
    return Response(cap_of_alert(state, alert), media_type=CAP_MEDIA_TYPE)


@router.get("/api/forward/targets", dependencies=MayRead)
def targets(state: State) -> list[dict]:
    """The webhook targets: where (scheme and host) and what they get; never secrets."""
    forwarder = _forwarder(state)
    return [
        {"name": t.name, "scheme": t.url.scheme, "host": t.url.host, "port": t.url.port, "format": t.format,
         "rules": t.rules, "severities": t.severities, "events": t.events, "jurisdiction": t.jurisdiction,
         "timeout_s": t.timeout_s}
        for t in forwarder.targets
    ]


@router.get("/api/forward/dead-letters", dependencies=MayRead)
def dead_letters(
    state: State,
    target: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="A target's name.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict]:
    """Deliveries given up on, newest first (without their bodies)."""
    letters = _forwarder(state).store.list(target=target, limit=limit, offset=offset)
    return [d.summary() for d in letters]


@router.post("/api/forward/dead-letters/{letter_id}/retry", dependencies=MayAct)
def retry(state: State, letter_id: LetterId):
    """Send a dead letter again, once, now."""
    try:
        delivered, letter = _forwarder(state).resend(letter_id)
    except UnknownTarget as exc:
        raise HTTPException(409, str(exc)) from None
    except LookupError:
        raise HTTPException(404, f"no dead letter {letter_id}") from None
    if delivered:
        return {"delivered": True, "id": letter_id, "delivery": letter.delivery}
    return JSONResponse({"delivered": False, "detail": letter.reason, **letter.summary()}, status_code=502)


@router.delete("/api/forward/dead-letters/{letter_id}", dependencies=MayAct, status_code=204)
def discard(state: State, letter_id: LetterId) -> Response:
    """Discard a dead letter."""
    if not _forwarder(state).store.remove(letter_id):
        raise HTTPException(404, f"no dead letter {letter_id}")
    return Response(status_code=204)
