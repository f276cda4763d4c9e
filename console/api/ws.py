"""``/ws``: the wall's live channel.

Connect with ``/ws?ticket=TICKET`` (a ticket of ``POST /api/auth/ticket``: browsers cannot send
a header on a websocket) or with the header ``Authorization: Bearer TOKEN``, optionally
``&last_seq=N`` to resume after a drop and ``&wall=NAME`` to join a named wall. A ``?token=`` is
refused (4401): a login token never travels in a URL. The server sends JSON messages, each with
a ``type`` and an increasing ``seq``:

- ``snapshot`` first (``items``: the open alerts and camera statuses the user may see), and again
  whenever the client fell too far behind — unless ``last_seq`` could be resumed, in which case
  the missed messages come instead, without loss or duplicates;
- ``alert`` (``event``: new, updated, transition, escalated, handed_down, reminder, supervision;
  ``sop_skipped`` with ``sop`` for the unit above a resolution that skipped required steps of the
  alert's procedure: :mod:`console.procedure_notices`),
  ``camera_status``, ``tracks`` (at most a few per camera per second);
- ``wall``: what a screen of the same wall selected (and ``action: "silence"``: the wall's alarm
  silenced or sounding again, :mod:`console.api.alarm`).
- ``wall.preset``: a rule switched the wall's preset (a new red alert, an incident opened or
  closed: :mod:`console.wall_presets`, :mod:`console.live.presets`), for the jurisdictions the
  alert or incident concerns, each as it may read it.

Every screen receives the same text of a message (the hub encodes it once, :mod:`console.live.hub`).
A screen whose socket takes no message for the hub's ``send_timeout_s`` (10 s: it stopped reading)
is disconnected without a close frame and resumes with ``last_seq`` when it reconnects.

The channel closes with 4401 "session ended" within a second of the end of its session (a
logout, a password change, the idle timeout, here or on another console:
:mod:`console.auth.sessions`).

A wall belongs to a jurisdiction: ``wall=main`` of a town's user is that town's wall ``main``,
not the district's ``main`` nor another town's (:func:`console.live.hub.wall_key`), so a
selection reaches only the screens of users of the same jurisdiction that joined that name.

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

from zhizhi.alerts.incidents.errors import IncidentNotFound
from zhizhi.alerts.service import AlertNotFound
from zhizhi.console.api.deps import Unauthenticated, connection_session
from zhizhi.console.auth import Permission
from zhizhi.console.live.hub import LiveClient, wall_key
from zhizhi.console.state import ConsoleState
from zhizhi.gis.codes import is_within

log = logging.getLogger(__name__)
router = APIRouter()

#: Close codes: the credential is missing, wrong or expired, or the session ended (4401); the
#: role may not read (4403); the request is malformed (4400).
UNAUTHORIZED = 4401
SESSION_ENDED = "session ended"
MAX_SEQ = 2**53  # a message number as JavaScript counts it
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
    try:
        session = connection_session(state, websocket)
    except Unauthenticated as exc:
        session, refused = None, str(exc)
    await websocket.accept()  # then close with a code the client can read (a refused handshake says only 403)
    if session is None:
        await websocket.close(code=UNAUTHORIZED, reason=_reason(refused))
        return
    principal = session.principal
    if not principal.can(Permission.READ):
        await websocket.close(code=FORBIDDEN, reason=f"role {principal.role.value} may not read the wall")
        return
    try:
        last_seq = int(params["last_seq"]) if "last_seq" in params else None
        if last_seq is not None and not 0 <= last_seq <= MAX_SEQ:
            raise ValueError(last_seq)
    except ValueError:
        await websocket.close(code=BAD_REQUEST, reason=f"last_seq must be an integer from 0 to {MAX_SEQ}")
        return
    wall = (params.get("wall") or "").strip()[:64] or None
    watch = state.auth.watch(session)
    client = state.hub.connect(principal.code, last_seq=last_seq,
                               wall=wall_key(principal.code, wall) if wall else None)
    tasks = [asyncio.create_task(_send(websocket, client)),
             asyncio.create_task(_receive(websocket, state, principal, wall)),
             asyncio.create_task(watch.ended.wait()),
             asyncio.create_task(client.dropped.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # dropped (the socket stopped taking messages): no close frame, it could not take one
        # either; the connection closes once the app returns and the screen resumes by last_seq
        if watch.ended.is_set() and not client.dropped.is_set():  # stop sending first: a close must be the last frame
            tasks[0].cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await tasks[0]
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
                await websocket.close(code=UNAUTHORIZED, reason=SESSION_ENDED)
    finally:
        client.close()
        state.auth.unwatch(watch)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _reason(text: str) -> str:
    """A close reason fits in 123 bytes."""
    return text.encode()[:123].decode(errors="ignore")


async def _receive(websocket: WebSocket, state: ConsoleState, principal, wall: str | None) -> None:
    """The client's commands, until it goes."""
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
    except (WebSocketDisconnect, RuntimeError):
        pass


async def _send(websocket: WebSocket, client: LiveClient) -> None:
    """Forward the client's messages, each the JSON text the hub encoded once for every screen; a
    slow socket only ever delays this client (and is dropped by the hub's send watchdog)."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await client.forward(websocket.send_text)


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
    state.hub.publish(message, audience=[c for c in (alert.grid, alert.assignee_unit) if c],
                      wall=wall_key(principal.code, wall))
    return None


def _focus_incident(state: ConsoleState, principal, wall: str, incident_id: str) -> dict | None:
    """Every screen of the wall switches to the incident's layout."""
    try:
        incident = state.incidents.get(incident_id, state.scope_for(principal.code))
    except IncidentNotFound:
        return {"type": "error", "detail": f"incident {incident_id} not found"}
    message = {
        "type": "wall",
        "wall": wall,
        "action": "focus_incident",
        "by": principal.username,
        "incident": incident.to_message("focus"),
    }
    state.hub.publish(message, audience=[incident.owner_unit, *incident.codes], wall=wall_key(principal.code, wall))
    return None
