"""``/ws``: the wall's live channel.

Connect with ``/ws?token=TOKEN`` (the token of ``POST /api/auth/login``), optionally
``&last_seq=N`` to resume after a drop and ``&wall=NAME`` to join a named wall. The server sends
JSON messages, each with a ``type`` and an increasing ``seq``:

- ``snapshot`` first (``items``: the open alerts and camera statuses the user may see), and again
  whenever the client fell too far behind — unless ``last_seq`` could be resumed, in which case
  the missed messages come instead, without loss or duplicates;
- ``alert`` (``event``: new, updated, transition, escalated, handed_down, reminder, supervision),
  ``camera_status``, ``tracks`` (at most a few per camera per second);
- ``wall``: what a screen of the same wall selected.

The client may send ``{"type": "wall", "action": "select_alert", "alert_id": ID}``: every screen
of its wall (that may see the alert) then receives ``{"type": "wall", "action": "select_alert",
"alert": {...}, "cameras": [...]}`` with the cameras that see the alert's place, nearest first.
Anything else gets ``{"type": "error", "detail": ...}`` (no ``seq``: it is for this client only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field, ValidationError, model_validator

from alerts.incidents import IncidentNotFound
from alerts.service import AlertNotFound
from console.auth import Permission
from console.state import ConsoleState
from gis.codes import is_within

log = logging.getLogger(__name__)
router = APIRouter()

#: Close codes: the token is missing, wrong or expired (4401); the role may not read (4403);
#: the request is malformed (4400).
UNAUTHORIZED = 4401
FORBIDDEN = 4403
BAD_REQUEST = 4400


class WallCommand(BaseModel):
    """A screen's selection, shared with the other screens of its wall: an alert, or an incident
    to switch the wall to its incident layout."""

    type: Literal["wall"]
    action: Literal["select_alert", "focus_incident"]
    alert_id: str | None = Field(None, min_length=1, max_length=64)
    incident_id: str | None = Field(None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _target(self) -> WallCommand:
        wanted = "alert_id" if self.action == "select_alert" else "incident_id"
        if getattr(self, wanted) is None:
            raise ValueError(f"{self.action} needs {wanted}")
        return self


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    state: ConsoleState = websocket.app.state.console
    params = websocket.query_params
    principal = state.auth.authenticate(params.get("token") or "")
    await websocket.accept()  # then close with a code the client can read (a refused handshake says only 403)
    if principal is None:
        await websocket.close(code=UNAUTHORIZED, reason="log in first: /ws?token=TOKEN")
        return
    if not principal.can(Permission.READ):
        await websocket.close(code=FORBIDDEN, reason=f"role {principal.role.value} may not read the wall")
        return
    try:
        last_seq = int(params["last_seq"]) if "last_seq" in params else None
    except ValueError:
        await websocket.close(code=BAD_REQUEST, reason="last_seq must be an integer")
        return
    wall = (params.get("wall") or "").strip()[:64] or None
    client = state.hub.connect(principal.code, last_seq=last_seq, wall=wall)
    sender = asyncio.create_task(_send(websocket, client))
    try:
        while True:
            try:
                data = await websocket.receive_json()
            except (ValueError, KeyError):
                await websocket.send_json({"type": "error", "detail": "send JSON objects"})
                continue
            reply = _handle(state, principal, wall, data)
            if reply is not None:
                await websocket.send_json(reply)
    except WebSocketDisconnect:
        pass
    finally:
        client.close()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _send(websocket: WebSocket, client) -> None:
    """Forward the client's messages; a slow socket only ever delays this client."""
    try:
        while True:
            await websocket.send_json(await client.next())
    except (WebSocketDisconnect, RuntimeError):
        pass


def _handle(state: ConsoleState, principal, wall: str | None, data: Any) -> dict | None:
    """A client's command; returns an error message for this client, or None."""
    try:
        command = WallCommand.model_validate(data)
    except ValidationError as exc:
        return {"type": "error", "detail": f"unknown command: {exc.errors()[0]['msg']}"}
    if wall is None:
        return {"type": "error", "detail": "join a wall first: /ws?wall=NAME"}
    if command.action == "focus_incident":
        return _focus_incident(state, principal, wall, command.incident_id or "")
    scope = state.scope_for(principal.code)
    try:
        alert = state.alerts.get(command.alert_id, scope)
    except AlertNotFound:
        return {"type": "error", "detail": f"alert {command.alert_id} not found"}
    cameras = [
        {"id": h.id, "name": h.name, "distance_m": round(h.distance_m, 1), "bearing_deg": round(h.bearing_deg, 1)}
        for h in state.cameras.covering(alert.lon, alert.lat)
        if h.camera.grid is not None and is_within(h.camera.grid, principal.code)
    ]
    message = {
        "type": "wall",
        "wall": wall,
        "action": "select_alert",
        "by": principal.username,
        "alert": alert.to_message(),
        "cameras": cameras,
    }
    state.hub.publish(message, audience=[c for c in (alert.grid, alert.assignee_unit) if c], wall=wall)
    return None


def _focus_incident(state: ConsoleState, principal, wall: str, incident_id: str) -> dict | None:
    """Every screen of the wall switches to the incident's layout."""
    try:
        incident = state.incidents.get(incident_id, principal.code)
    except IncidentNotFound:
        return {"type": "error", "detail": f"incident {incident_id} not found"}
    message = {
        "type": "wall",
        "wall": wall,
        "action": "focus_incident",
        "by": principal.username,
        "incident": incident.to_message("focus"),
    }
    state.hub.publish(message, audience=[incident.owner_unit, *incident.codes], wall=wall)
    return None
