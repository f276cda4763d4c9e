"""Incident mode: open an incident over an area, see what it touches, keep its timeline, export
a situation report.

``POST /api/incidents`` takes the area as a point and radius, a drawn polygon, or — for a
chemical leak — a point and the wind; the console computes the hazard area and what lies in
it (grids, villages and towns with their population, cameras, drones, hazmat vehicles and
facilities, the nearest shelters). Alerts that arise inside an active incident join its
timeline on their own; people add notes; the unit that opened it (or one above) closes it.
Every read is scoped: a town sees the incidents it opened and those whose area touches it, and
of each only its own part (the area cut to its jurisdiction, the impact inside it, the timeline
without other units' alerts: :meth:`alerts.incidents.Incident.seen_from`). A unit's incident
covers at most its own jurisdiction: the area is cut to it, and refused (403) when it does not
overlap it.

CSV (docs/exports.md): ``GET /api/incidents/export.csv?status=`` is the list, one row per incident
with the counts of the caller's part of its impact; ``GET /api/incidents/{id}/report.csv`` the
situation report's rows. Both take ``?headers=zh|en`` (Chinese by default) and a bearer header or a
``?ticket=`` (a download link).
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import shapely
import shapely.geometry
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from zhizhi.alerts.incidents import sitrep
from zhizhi.alerts.incidents.errors import (
    IncidentConflict,
    IncidentNotFound,
    InvalidIncident,
    NotOwner,
)
from zhizhi.alerts.incidents.record import Incident, IncidentSpec, IncidentStatus, TimelineEntry
from zhizhi.console.api.basemap import basemap_source
from zhizhi.console.api.deps import CurrentPrincipal, RequestScope, State, UrlScope, require
from zhizhi.console.auth import Permission
from zhizhi.console.basemap import report_image
from zhizhi.console.csv_export import CSV_RESPONSES, HeadersQuery, TicketQuery, csv_response, stamp, text_response
from zhizhi.console.export_tables import INCIDENT_COLUMNS, incident_row
from zhizhi.gis.jurisdiction import Jurisdictions

#: Outline simplification of the report's units (degrees, about a metre).
OUTLINE_TOLERANCE_DEG = 1e-5

router = APIRouter(prefix="/api/incidents", tags=["incidents"])
MayManage = [Depends(require(Permission.INCIDENTS_MANAGE))]
StatusFilter = Annotated[IncidentStatus | None, Query(description="active or closed")]


class Note(BaseModel):
    """A line for the timeline."""

    text: str = Field(min_length=1, max_length=2000)


class Closing(BaseModel):
    """Why the incident is closed (optional)."""

    note: str = Field("", max_length=2000)


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, IncidentNotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, NotOwner):
        return HTTPException(403, str(exc))
    if isinstance(exc, IncidentConflict):
        return HTTPException(409, str(exc))
    if isinstance(exc, InvalidIncident):
        return HTTPException(422, str(exc))
    raise exc


@router.post("", status_code=201, response_model=Incident, dependencies=MayManage)
async def open_incident(state: State, principal: CurrentPrincipal, scope: RequestScope,
                        spec: IncidentSpec) -> Incident:
    """Open an incident; its area must overlap the caller's jurisdiction, and is cut to it."""
    try:
        if not state.incident_impact.touches(spec, scope):
            raise HTTPException(403, f"the area does not overlap your jurisdiction ({scope.code}); "
                                     "an incident covers only the jurisdiction of the unit that opens it")
        opened = await run_in_threadpool(state.incidents.open, spec, principal.username, principal.code)
        return opened.seen_from(scope)
    except (InvalidIncident, IncidentConflict) as exc:
        raise _errors(exc) from None


@router.get("", response_model=list[Incident])
def list_incidents(state: State, scope: RequestScope, status: StatusFilter = None) -> list[Incident]:
    """Incidents the caller's jurisdiction sees, newest first."""
    return state.incidents.list(scope, status)


# Before /{incident_id}: "export.csv" is this route, never an incident's id.
@router.get("/export.csv", responses=CSV_RESPONSES)
def export_incidents(state: State, scope: UrlScope, status: StatusFilter = None, headers: HeadersQuery = "zh",
                     ticket: TicketQuery = None) -> Response:
    """The incidents of the list (the same filter, each as the caller sees it: the counts of its
    own part) as a CSV for Excel (docs/exports.md); bearer header, or ``?ticket=``."""
    zone = state.settings.wall.time_zone
    when = stamp(time.time(), zone)
    return csv_response(INCIDENT_COLUMNS, map(incident_row, state.incidents.list(scope, status)), headers=headers,
                        time_zone=zone, filename=f"incidents-{when}.csv", filename_zh=f"事件-{when}.csv")


@router.get("/{incident_id}", response_model=Incident)
def get_incident(state: State, scope: RequestScope, incident_id: str) -> Incident:
    try:
        return state.incidents.get(incident_id, scope)
    except IncidentNotFound as exc:
        raise _errors(exc) from None


@router.get("/{incident_id}/timeline", response_model=list[TimelineEntry])
def timeline(state: State, scope: RequestScope, incident_id: str) -> list[TimelineEntry]:
    """The incident's timeline, oldest first: opened, alerts, actions, notes, closed."""
    try:
        return state.incidents.timeline(incident_id, scope)
    except IncidentNotFound as exc:
        raise _errors(exc) from None


@router.post("/{incident_id}/notes", status_code=201, response_model=TimelineEntry, dependencies=MayManage)
def add_note(state: State, principal: CurrentPrincipal, scope: RequestScope, incident_id: str,
             note: Note) -> TimelineEntry:
    try:
        return state.incidents.add_note(incident_id, principal.username, note.text, scope_code=scope)
    except (IncidentNotFound, InvalidIncident) as exc:
        raise _errors(exc) from None


@router.post("/{incident_id}/close", response_model=Incident, dependencies=MayManage)
def close_incident(state: State, principal: CurrentPrincipal, scope: RequestScope, incident_id: str,
                   closing: Closing) -> Incident:
    """Close an active incident (the unit that opened it, or one above)."""
    try:
        return state.incidents.close(incident_id, principal.username, closing.note, scope_code=scope)
    except (IncidentNotFound, NotOwner, IncidentConflict, InvalidIncident) as exc:
        raise _errors(exc) from None


@router.post("/{incident_id}/refresh", response_model=Incident, dependencies=MayManage)
async def refresh_impact(state: State, principal: CurrentPrincipal, scope: RequestScope,
                         incident_id: str) -> Incident:
    """Recompute what the area touches (drones and vehicles move)."""
    try:
        return await run_in_threadpool(state.incidents.refresh, incident_id, actor=principal.username,
                                       scope_code=scope)
    except (IncidentNotFound, NotOwner, IncidentConflict, InvalidIncident) as exc:
        raise _errors(exc) from None


def outline_layers(jurisdictions: Jurisdictions, impact: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The affected towns, villages and grids of ``impact`` as GeoJSON FeatureCollections (the
    report outlines them)."""
    layers: dict[str, dict[str, Any]] = {}
    for section in sitrep.UNIT_SECTIONS:
        features = []
        for unit in impact.get(section) or []:
            try:
                found = jurisdictions.get(str(unit.get("code")))
            except (KeyError, ValueError):
                continue
            geometry = shapely.simplify(found.geometry, OUTLINE_TOLERANCE_DEG, preserve_topology=True)
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geometry),
                             "properties": {"code": found.code, "name": found.name}})
        layers[section] = {"type": "FeatureCollection", "features": features}
    return layers


def _report_parts(state, scope, incident_id: str) -> tuple[Incident, list[TimelineEntry]]:
    try:
        incident = state.incidents.get(incident_id, scope)
        return incident, state.incidents.timeline(incident_id, scope)
    except IncidentNotFound as exc:
        raise _errors(exc) from None


@router.get("/{incident_id}/report.html", response_class=HTMLResponse)
async def report_html(request: Request, state: State, scope: RequestScope, incident_id: str) -> HTMLResponse:
    """A standalone situation-report map (folium, no internet needed to open it), over the
    offline basemap when one is imported (inlined as one image)."""
    incident, entries = _report_parts(state, scope, incident_id)
    basemap = basemap_source(request, state).current()
    geometry = incident.impact.get("area") or incident.geometry
    image = None
    if basemap is not None and geometry:
        bounds = tuple(shapely.bounds(shapely.geometry.shape(geometry)).tolist())
        image = await run_in_threadpool(report_image, basemap, bounds)
    tiles = state.settings.map.tile_url if image is None else None  # the configured tiles, else none
    html = await run_in_threadpool(sitrep.render_html, incident, incident.impact, timeline=entries,
                                   leaflet_dir=state.settings.assets_dir / "leaflet", basemap=image,
                                   layers=outline_layers(state.jurisdictions, incident.impact), tiles=tiles,
                                   attribution=state.settings.map.tile_attribution or None,
                                   time_zone=state.settings.wall.time_zone)
    return HTMLResponse(html, headers={"Content-Disposition": f'inline; filename="sitrep-{incident.id}.html"'})


@router.get("/{incident_id}/report.json")
def report_json(state: State, scope: RequestScope, incident_id: str) -> dict[str, Any]:
    """The situation report's summary as JSON."""
    incident, entries = _report_parts(state, scope, incident_id)
    return sitrep.summary_json(incident, incident.impact, entries)


@router.get("/{incident_id}/report.csv", responses=CSV_RESPONSES)
def report_csv(state: State, scope: UrlScope, incident_id: str, headers: HeadersQuery = "zh",
               ticket: TicketQuery = None) -> Response:
    """The affected units, cameras, drones, vehicles, facilities and shelters as CSV rows, UTF-8
    with a BOM (Excel on Chinese Windows opens it cleanly; docs/exports.md); bearer header, or
    ``?ticket=`` for a download link."""
    incident, _ = _report_parts(state, scope, incident_id)
    text = sitrep.summary_csv(incident, incident.impact, bom=True, headers=headers)
    return text_response(text, f"sitrep-{incident.id}.csv", f"态势报告-{incident.title}.csv")
