"""From the bus to the live hub: alerts, camera status and throttled live tracks, each scoped.

Every message gets an *audience* — the jurisdiction codes it concerns — so the hub delivers it
only to screens whose jurisdiction contains one of them:

- an alert: its grid and its responsible unit (a district alert handed to a town reaches the
  town; an alert outside every grid reaches the district only);
- a camera's status: the camera's grid;
- live tracks: one message per town, holding only the tracks located in that town (a camera on a
  town border never shows a town's wall what happens across the border);
- an incident (opened, updated, closed): the unit that opened it and every town, village and
  grid its area touches — each screen receiving the incident as its jurisdiction may read it
  (:meth:`alerts.incidents.record.Incident.seen_from`: the area cut to it, its part of the
  impact);
- an incident's timeline entry: a note for the incident's audience, an alert's entry only for
  those who see the alert (its grid and its responsible unit).

Vehicle and drone positions reach the hub through :mod:`telemetry.positions`.

Tracks come from the frame batches of the workers (:class:`~zhizhi.bus.messages.frames.ObservationBatch`,
its located rows), at most ``tracks_hz`` messages per camera per second: the latest positions,
which is what a map can show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from zhizhi.alerts.incidents.record import Incident
from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages import AlertEvent, CameraStatus, IncidentEvent
from zhizhi.bus.messages.frames import ObservationBatch
from zhizhi.console.live.hub import LiveHub, Message
from zhizhi.gis.codes import LEVEL_DIGITS, Level, is_within
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.layers import Scope

log = logging.getLogger(__name__)

TRACK_FIELDS = ("track_id", "cls", "lon", "lat", "speed_kmh", "heading_deg")


class LiveBridge:
    """Subscribes to the bus and publishes scoped, throttled messages on the hub."""

    def __init__(
        self,
        hub: LiveHub,
        jurisdictions: Jurisdictions,
        camera_grid: Callable[[str], str | None],
        *,
        tracks_hz: float = 2.0,
    ) -> None:
        self.hub = hub
        self.jurisdictions = jurisdictions
        self.camera_grid = camera_grid
        self.min_interval_s = 1.0 / tracks_hz if tracks_hz > 0 else float("inf")
        self._last_tracks: dict[str, float] = {}
        self._status: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._subscriptions: list = []

    def attach(self, bus: Bus) -> LiveBridge:
        for topic, handler in (
            (Topic.ALERTS, self.on_alert),
            (Topic.CAMERA_STATUS, self.on_camera_status),
            (Topic.FRAMES, self.on_frame),
            (Topic.INCIDENTS, self.on_incident),
        ):
            self._subscriptions.append(bus.subscribe(topic, handler))
        return self

    def detach(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions.clear()

    # --- handlers (called in the publishers' threads) -----------------------------------
    def on_alert(self, message: AlertEvent) -> None:
        self.hub.publish(message.to_wire(), audience=alert_audience(message, self.jurisdictions.district_code))

    def on_incident(self, event: IncidentEvent) -> None:
        district = self.jurisdictions.district_code
        message = event.to_wire()
        touched = [c for c in event.codes if c]
        audience = [*touched, event.owner_unit]
        if event.event != "timeline":
            self.hub.publish(message, audience=[c for c in audience if c] or [district],
                             render=lambda code: self._incident_for(message, code))
            return
        entry = message["entry"]
        data = entry["data"]
        if entry["alert_id"]:  # an alert's entry: for those who see the alert
            audience = [data.get("grid"), data.get("assignee_unit")]
        self.hub.publish(message, audience=[c for c in audience if c] or [district],
                         render=lambda code: {**message, "codes": [c for c in touched if is_within(c, code)]})

    def _incident_for(self, message: Message, code: str) -> Message:
        """An incident message as jurisdiction ``code`` may read it."""
        try:
            incident = Incident.from_message(message)
        except (KeyError, ValueError):  # not an incident's full fields: nothing to cut
            log.warning("incident message without the incident's fields: %s", message.get("id"))
            return {k: v for k, v in message.items() if k not in ("impact", "codes", "geometry")}
        if code in ("", self.jurisdictions.district_code):
            return message
        scope = Scope(code=code, geometry=self.jurisdictions.get(code).geometry)
        return incident.seen_from(scope).to_message(str(message.get("event", "updated")))

    def on_camera_status(self, message: CameraStatus) -> None:
        camera_id = message.camera_id
        wire = message.to_wire()
        with self._lock:
            self._status[camera_id] = wire
        self.hub.publish(wire, audience=[self._camera_audience(camera_id)])

    def on_frame(self, batch: ObservationBatch) -> None:
        """A frame's batch: its located rows as live tracks, one message per town they are in."""
        camera_id, ts = batch.camera_id, batch.ts
        with self._lock:
            if ts - self._last_tracks.get(camera_id, float("-inf")) < self.min_interval_s:
                return
            self._last_tracks[camera_id] = ts
        located = batch[batch.located]
        if located.is_empty():
            self.hub.publish({"type": "tracks", "camera_id": camera_id, "ts": ts, "tracks": []},
                             audience=[self._camera_audience(camera_id)])
            return
        for town, members in self._by_town(located).items():
            self.hub.publish({"type": "tracks", "camera_id": camera_id, "ts": ts, "tracks": members},
                             audience=[town])

    # --- snapshot --------------------------------------------------------------------------
    def camera_statuses(self, code: str) -> list[dict[str, Any]]:
        """The latest status of each camera a jurisdiction may see."""
        with self._lock:
            items = list(self._status.items())
        return [m for camera_id, m in items if is_within(self._camera_audience(camera_id), code)]

    def _camera_audience(self, camera_id: str) -> str:
        return self.camera_grid(camera_id) or self.jurisdictions.district_code

    def _by_town(self, located: ObservationBatch) -> dict[str, list[dict[str, Any]]]:
        """The located rows as track records (:data:`TRACK_FIELDS`), grouped by town."""
        tracks = [{k: row[k] for k in TRACK_FIELDS} for row in located.rows()]
        grids = self.jurisdictions.locate_many(located.lon, located.lat)
        groups: dict[str, list[dict[str, Any]]] = {}
        district = self.jurisdictions.district_code
        for track, grid in zip(tracks, grids):
            town = grid[: LEVEL_DIGITS[Level.TOWN]] if grid else district
            groups.setdefault(town, []).append(track)
        return groups


def alert_audience(message: AlertEvent, district_code: str) -> list[str]:
    """Who may receive an alert message: its grid and its responsible unit (else the district)."""
    codes = [c for c in (message.grid, message.assignee_unit) if c]
    return codes or [district_code]


