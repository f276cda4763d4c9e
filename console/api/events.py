"""Events reported by people (12345 hotline, grid workers, apps, IoT) become alerts.

``POST /api/events`` with ``{"category", "text", "lon", "lat", "crs"?, "reporter", "channel",
"occurred_at"?}`` answers 201 with the created alert. 422 with the reason for a bad payload:
a missing or unknown field, a NaN or out-of-range coordinate, an unknown ``crs`` or
``channel``, text over 2,000 characters, ``occurred_at`` without a UTC offset or in the future,
a point outside the district. A caller may only report inside its own jurisdiction: a town
reporting a point in another town gets 403 (the payload is fine; the caller lacks authority
there). Reporting needs the ``events.report`` permission (an analyst gets 403).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from zhizhi.alerts.record import EventReport
from zhizhi.alerts.service import InvalidReport, OutsideDistrict, OutsideJurisdiction
from zhizhi.console.api.alerts import Actor
from zhizhi.console.api.deps import RequestScope, State, require
from zhizhi.console.auth import Permission

router = APIRouter(prefix="/api/events", tags=["events"])


@router.post("", status_code=201, dependencies=[Depends(require(Permission.EVENTS_REPORT))])
def report_event(state: State, scope: RequestScope, actor: Actor, report: EventReport) -> Any:
    """Open an alert for a reported event, routed to the responsible village or town."""
    try:
        alert = state.alerts.report_event(report, actor, scope=scope)
    except (OutsideDistrict, InvalidReport) as exc:
        return JSONResponse(status_code=422, content={"detail": str(exc)})
    except OutsideJurisdiction as exc:
        return JSONResponse(status_code=403, content={"detail": str(exc)})
    return alert.to_message()
