"""A console among several: the bus it uses and which console runs the rule models.

One console (the default) runs everything in its process on the in-process bus. With
``bus.url`` set, consoles and workers share a Redis bus (:class:`~zhizhi.bus.redis_bus.RedisBus`)
and one PostgreSQL database:

- every console **receives** every alert, camera status, frame batch, incident and position
  (pub/sub fan-out) and delivers them to its own websocket screens;
- exactly one console at a time **runs the rule models** (the video warning model over the
  frame batches and the trajectory rules over the telemetry), because their timers are per
  camera and per vehicle: the holder of the ``rule-models`` lease reads both topics through a
  consumer group. When it dies its lease expires (``bus.lease_ttl_s``), another console takes
  it, and the group's entries the dead one had not acknowledged are claimed
  (``bus.claim_idle_s``), so no frame batch is lost — only the running conditions' timers
  start again;
- alerts are linked to incidents by whichever console takes each alert from the ``incidents``
  consumer group (the links are in the database, so any console can); evidence that workers
  wrote (into the shared evidence folder) is attached the same way (``evidence`` group);
- after a Redis outage every screen gets a fresh snapshot (what it missed is in the database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from zhizhi.bus import Bus, Cancellable, InProcessBus, Topic
from zhizhi.bus.messages import EvidenceAttached
from zhizhi.console.settings import Settings

log = logging.getLogger(__name__)

#: The lease that says which console runs the rule models.
RULE_MODELS = "rule-models"


def open_bus(settings: Settings) -> Bus:
    """The in-process bus, or the Redis bus when ``bus.url`` is set."""
    if not settings.bus.url:
        return InProcessBus()
    from zhizhi.bus.redis_bus import RedisBus

    return RedisBus(
        settings.bus.url,
        node=settings.bus.resolved_node,
        prefix=settings.bus.prefix,
        claim_idle_s=settings.bus.claim_idle_s,
    )


def is_shared(bus: Bus) -> bool:
    """Whether other processes share this bus (then topics are read through consumer groups)."""
    return not isinstance(bus, InProcessBus)


class RuleModelsLeader:
    """Holds the ``rule-models`` lease while it can, and attaches the runners while held.

    ``attach()`` and ``detach()`` are called with the lease gained and lost; on an in-process
    bus there is no lease and the runners are attached at once, reading every message.
    """

    def __init__(self, settings: Settings, attach: Callable[[], None], detach: Callable[[], None]) -> None:
        from zhizhi.video.leases import CameraLeases

        self._attach, self._detach = attach, detach
        self._lock = threading.Lock()
        self.leading = False
        self.leases = CameraLeases(
            settings.bus.url,
            settings.bus.resolved_node,
            [RULE_MODELS],
            ttl_s=settings.bus.lease_ttl_s,
            prefix=f"{settings.bus.prefix}:consoles",  # consoles' heartbeats must not count as workers
            on_change=self._on_change,
        )

    def start(self) -> RuleModelsLeader:
        self.leases.start()
        return self

    def _on_change(self, owned: set[str]) -> None:
        with self._lock:
            leading = RULE_MODELS in owned
            if leading == self.leading:
                return
            self.leading = leading
            if leading:
                log.info("this console now runs the rule models (lease %s)", RULE_MODELS)
                self._attach()
            else:
                log.warning("this console no longer runs the rule models (lease %s lost)", RULE_MODELS)
                self._detach()

    def stop(self) -> None:
        """Hand the lease back at once (another console takes over within a renew period)."""
        self.leases.stop(release=True)
        self._on_change(set())


def wire_rule_models(state) -> RuleModelsLeader | None:
    """Attach the console's rule-model runners to its bus: directly on an in-process bus, under
    the ``rule-models`` lease through consumer groups on a shared one."""

    def runners() -> list:
        return [r for r in (state.warnings, state.trajectory) if r is not None]

    if not is_shared(state.bus):
        for runner in runners():
            runner.attach(state.bus)
        return None

    def attach() -> None:
        for runner in runners():
            runner.attach(state.bus, group=RULE_MODELS)

    def detach() -> None:
        for runner in runners():
            runner.detach()

    return RuleModelsLeader(state.settings, attach, detach).start()


def attach_runner(state, runner) -> None:
    """Attach a runner that replaces one of the console's (the demo's warning model, which
    learns the demo cameras' lanes after start-up) as the wiring above would have."""
    if state.leader is None:
        runner.attach(state.bus)
    elif state.leader.leading:
        runner.attach(state.bus, group=RULE_MODELS)


def attach_evidence(state, message: EvidenceAttached) -> None:
    """An ``evidence`` message of a worker process: the files it wrote, attached to the alert
    (of the camera that joined it, with ``camera_id``: one of its views). Paths must be
    relative and inside the evidence folder; anything else is refused."""
    files = {"snapshot": message.snapshot, "clip": message.clip, "track": message.track}
    for kind, relative in files.items():
        if relative is not None and not state.evidence.contains(relative):
            raise ValueError(f"evidence {kind} {relative!r} is not a file of the evidence folder")
    state.alerts.attach_evidence(message.alert_id, camera_id=message.camera_id, **files)


def wire_shared(state) -> list[Cancellable]:
    """Subscriptions whose reading depends on the bus: incidents link each alert once (a
    consumer group on a shared bus), and screens resynchronise after a bus reconnect. Returns
    the subscriptions (the runtime cancels them at stop; the reconnect callback ends with the bus)."""
    if not is_shared(state.bus):
        return [state.bus.subscribe(Topic.ALERTS, state.incidents.on_alert)]
    subscriptions = [
        state.bus.consume(Topic.ALERTS, "incidents", state.incidents.on_alert),
        state.bus.consume(Topic.EVIDENCE, "evidence", lambda message: attach_evidence(state, message)),
    ]
    if state.hub is not None:
        state.bus.on_reconnect(state.hub.resync_all)
    return subscriptions


__all__ = [
    "RULE_MODELS",
    "RuleModelsLeader",
    "attach_evidence",
    "attach_runner",
    "is_shared",
    "open_bus",
    "wire_rule_models",
    "wire_shared",
]
