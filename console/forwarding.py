"""The console's alert forwarding: the forwarder on the bus, and CAP messages of stored alerts.

The forwarder (:mod:`alerts.forward.deliver`) reads the ``alerts`` topic through the consumer
group ``forward``: on one console's in-process bus it gets every alert event; with several
consoles on Redis each event goes to one of them, so each is delivered once (a console that dies
with deliveries still queued in its memory loses those: see docs/forwarding.md). CAP messages
name units by their Chinese names and draw the grid's outline; their times are in the wall's time
zone; the demo's synthetic district sends ``Exercise`` messages unless ``forward.cap.status`` says.
"""

from __future__ import annotations

from functools import partial
from zoneinfo import ZoneInfo

import shapely

from zhizhi.alerts.forward.cap import CapContext, build_cap, earlier_revisions
from zhizhi.alerts.forward.deliver import Forwarder
from zhizhi.alerts.forward.store import DeadLetterStore
from zhizhi.alerts.record import Alert
from zhizhi.bus import Cancellable, Topic
from zhizhi.bus.messages import AlertEvent

#: The consumer group whose members share the alert events (one delivery per event).
FORWARD_GROUP = "forward"


def cap_context(state) -> CapContext:
    """What CAP messages of this console need besides the alert."""
    settings = state.settings
    jurisdictions = state.jurisdictions

    def name(code: str) -> str | None:
        return jurisdictions.get(code).name if code in jurisdictions else None

    def outline(code: str) -> shapely.Geometry | None:
        return jurisdictions.get(code).geometry if code in jurisdictions else None

    status = settings.forward.cap.status or ("Exercise" if state.synthetic else "Actual")
    return CapContext(settings.forward.cap, status, ZoneInfo(settings.wall.time_zone), name, outline)


def cap_of_event(state, message: AlertEvent) -> bytes:
    """The CAP 1.2 message of an alert event's revision (earlier revisions from its audit trail)."""
    history = state.alerts.store.history(message.id)
    return build_cap(message, earlier_revisions(message, (h.ts for h in history)), cap_context(state))


def cap_of_alert(state, alert: Alert) -> bytes:
    """The CAP 1.2 message of a stored alert as it stands (the same as its latest revision's)."""
    return cap_of_event(state, alert.to_event("updated"))


def start_forwarder(state) -> tuple[Forwarder, list[Cancellable]]:
    """The console's forwarder, started, and its subscription (none without targets)."""
    forwarder = Forwarder(state.settings.forward, DeadLetterStore(state.engine), cap=partial(cap_of_event, state))
    if not forwarder.targets:
        return forwarder, []
    forwarder.start()
    return forwarder, [state.bus.consume(Topic.ALERTS, FORWARD_GROUP, forwarder.on_alert)]
