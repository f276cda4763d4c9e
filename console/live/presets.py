"""The rules that switch a wall's preset, from the bus to the live hub (:mod:`console.wall_presets`).

- A new alert of the red-alert rule's severities: ``{"type": "wall.preset", "preset": "alert"}``
  for the alert's audience (its grid and its responsible unit, as the alert message itself), each
  screen receiving only the cameras within its own jurisdiction.
- An incident opened: ``"preset": "incident"`` for the incident's audience (the unit that opened
  it and the units its area touches), each screen receiving the incident as its jurisdiction may
  read it (:meth:`alerts.incidents.record.Incident.seen_from`); closed: ``"preset": "normal"``
  for the same audience.

A town's wall therefore never hears of a district incident or alert outside the town. The
messages go to every wall of those jurisdictions (and are ignored by pages that joined none); a
named wall whose settings turn a rule off or choose its screens (``presets.walls.NAME``) is
named in the message's ``wall_screens``, and its screens follow that entry. The audience does
not depend on the walls: what a jurisdiction hears is the same whatever its walls' rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from zhizhi.alerts.incidents.record import Incident
from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages import AlertEvent, IncidentEvent
from zhizhi.console.live.bridge import alert_audience
from zhizhi.console.live.hub import LiveHub, Message
from zhizhi.console.wall_presets import (
    PresetSettings,
    incident_closed_message,
    incident_opened_message,
    red_alert_message,
)
from zhizhi.gis.cameras import CameraIndex
from zhizhi.gis.codes import Level, is_within, level_of
from zhizhi.gis.jurisdiction import Jurisdictions
from zhizhi.layers import Scope

log = logging.getLogger(__name__)


class PresetRules:
    """Subscribes to alerts and incidents and publishes the wall-preset messages their rules call for."""

    def __init__(self, hub: LiveHub, jurisdictions: Jurisdictions, settings: PresetSettings,
                 cameras: Callable[[], CameraIndex]) -> None:
        self.hub = hub
        self.jurisdictions = jurisdictions
        self.settings = settings
        self.cameras = cameras  # the current camera index (the registry may reload it)
        self._subscriptions: list = []

    def attach(self, bus: Bus) -> PresetRules:
        self._subscriptions += [bus.subscribe(Topic.ALERTS, self.on_alert),
                                bus.subscribe(Topic.INCIDENTS, self.on_incident)]
        return self

    def detach(self) -> None:
        for sub in self._subscriptions:
            sub.cancel()
        self._subscriptions.clear()

    # --- rules ----------------------------------------------------------------------------
    def on_alert(self, event: AlertEvent) -> None:
        rule = self.settings.red_alert
        screens, walls = self.settings.red_alert_screens()
        if not rule.enabled or event.event != "new" or event.severity not in rule.severities:
            return
        if not screens and not any(walls.values()):
            return
        cameras = [
            {"id": h.id, "name": h.name, "grid": h.camera.grid, "distance_m": round(h.distance_m, 1),
             "bearing_deg": round(h.bearing_deg, 1)}
            for h in self.cameras().covering(event.lon, event.lat)
        ]
        message = red_alert_message(rule, event.to_wire(), cameras, walls).wire()

        def render(code: str) -> Message:
            mine = [c for c in cameras if code == "" or (c["grid"] and is_within(c["grid"], code))]
            return {**message, "cameras": mine}

        self.hub.publish(message, audience=alert_audience(event, self.jurisdictions.district_code), render=render)

    def on_incident(self, event: IncidentEvent) -> None:
        rule = self.settings.incident
        screens, walls = self.settings.incident_screens()
        if not rule.enabled or event.event not in ("opened", "closed") or not (screens or any(walls.values())):
            return
        audience = [c for c in (*event.codes, event.owner_unit) if c] or [self.jurisdictions.district_code]
        if event.event == "closed":
            if rule.back_on_close:
                self.hub.publish(incident_closed_message(self.settings, event.id).wire(), audience=audience)
            return
        incident = event.to_wire()
        message = incident_opened_message(rule, incident, walls).wire()
        self.hub.publish(message, audience=audience,
                         render=lambda code: {**message, "incident": self._incident_for(incident, code)})

    def _incident_for(self, message: Message, code: str) -> Message:
        """The incident's message as jurisdiction ``code`` may read it."""
        if code == "" or level_of(code) == Level.DISTRICT:
            return message
        try:
            incident = Incident.from_message(message)
        except (KeyError, ValueError):
            log.warning("incident message without the incident's fields: %s", message.get("id"))
            return {k: v for k, v in message.items() if k not in ("impact", "codes", "geometry")}
        scope = Scope(code=code, geometry=self.jurisdictions.get(code).geometry)
        return incident.seen_from(scope).to_message(str(message.get("event", "opened")))
