"""Incidents: the command center's "wartime" (战时) record of a typhoon, flood, fire or leak.

An :class:`~zhizhi.alerts.incidents.record.Incident` gathers an area — a circle, a polygon or a
chemical leak's downwind plume — with what it touches (grids, cameras, shelters... computed by
an injected ``compute``) and a timeline: opened, notes, alerts that arise inside the area and
what is done about them, impact recomputations, closed.

========================  ==============================================================
module                    job
========================  ==============================================================
``area.py``               the area kinds (circle, polygon, plume) and their checks
``record.py``             :class:`Incident`, :class:`IncidentSpec`, timeline entries, each
                          reader's part (:meth:`Incident.seen_from`)
``errors.py``             what the store and the service refuse
``store.py``              the tables ``incidents``, ``incident_codes``, ``incident_log``
``service.py``            open, read, note, refresh, close; link alerts; publish changes
``impact.py``             the service's ``compute``: hazard area and impact over the district
``sitrep.py``             situation reports: standalone HTML map, JSON summary, CSV
========================  ==============================================================

Visibility (one rule, documented here and in :meth:`Incident.visible_to`): jurisdiction code
``C`` sees an incident when the incident's ``owner_unit`` is within ``C`` (the unit that opened
it and every unit above it), or when any of the incident's ``codes`` (the towns, villages and
grids its area touches) is within ``C``. ``""`` sees everything. A town therefore sees the
district's typhoon that crosses it, never a fire in a sibling town; what it may not see is
:class:`IncidentNotFound`, exactly as a missing id.

What a reader sees of a visible incident is its own part (:meth:`Incident.seen_from`, the one
place that cuts it; every read of :class:`IncidentService` returns it): the area cut to the
reader's jurisdiction, the impact's units within it and features inside it, and a timeline
without the alerts the reader may not see (nor the district-wide counts). An incident opened
by a unit covers at most that unit's jurisdiction: ``compute(spec, owner)`` cuts the area.

Every stored change publishes one :class:`~zhizhi.bus.messages.IncidentEvent` on the bus topic
``incidents``, whose wire form is
``{"type": "incident", "event": "opened" | "updated" | "closed", "incident_type", **incident}``
for the incident itself (its own ``type`` travels as ``incident_type``),
``{"type": "incident", "event": "timeline", "id", "owner_unit", "codes", "status", "entry"}``
for a note or a linked alert (the visibility fields let a relay filter per viewer).
"""
