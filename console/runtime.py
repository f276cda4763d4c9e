"""The console's one start-up and one shutdown.

A :class:`Runtime` starts the console's subsystems in one order (:data:`Runtime.STEPS`, one
``start_<step>``/``stop_<step>`` pair each) and stops them in the reverse order
(:class:`~zhizhi.console.lifecycle.Lifecycle`; ``zhizhi worker`` has its own steps,
:mod:`zhizhi.console.worker_runtime`). Everything
that runs in a console process is started here: storage, the bus, the services, the live
feed, the rule models and their wiring to the bus (:mod:`zhizhi.console.scaleout`), MQTT and
the alert deadline watch. The FastAPI app's lifespan, the CLI and the tests all use it::

    runtime = Runtime(settings).start()   # or: with Runtime(settings) as runtime: ...
    state = runtime.state                 # what request handlers use
    runtime.stop()                        # also state.close()

- ``start()`` is ordered and logged, step by step; a step that fails stops the steps already
  started (itself included: each ``stop_*`` copes with a half-done start) and re-raises, so a
  failed start-up leaves no thread running and no subscription on the bus.
- ``stop()`` runs the started steps' ``stop_*`` in reverse order; it is idempotent, and a stop
  that fails is logged and the others still run. A stopped runtime does not start again.
- Whatever a caller starts on top of the console (the demo's simulated feeds) is handed to
  :meth:`Runtime.adopt` and stopped first.
"""

from __future__ import annotations

import logging
import time

from zhizhi.alerts.incidents.impact import IncidentImpact
from zhizhi.alerts.incidents.service import IncidentService
from zhizhi.alerts.incidents.store import IncidentStore
from zhizhi.alerts.procedures import open_procedures
from zhizhi.alerts.service import AlertService
from zhizhi.alerts.store import AlertStore
from zhizhi.alerts.watch import DeadlineWatch
from zhizhi.bus import Bus, Cancellable, Topic
from zhizhi.console.alert_labels import describe_alerts, purge_evidence
from zhizhi.console.auth import AuthService, AuthStore
from zhizhi.console.cameras import CAMERA_POLL_S, RegistryWorker, open_camera_registry
from zhizhi.console.hierarchy import HierarchyWatch, apply_hierarchy
from zhizhi.console.jobs import JobRunner
from zhizhi.console.lifecycle import Lifecycle
from zhizhi.console.scaleout import open_bus, wire_rule_models, wire_shared
from zhizhi.console.settings import Settings
from zhizhi.console.state import (
    MODEL_POLL_S,
    ConsoleState,
    apply_promotion,
    load_camera_index,
    load_jurisdictions,
    load_trajectory,
    load_warning_model,
    locator,
    open_models,
    open_store,
    publish_promotion,
    start_live,
    start_model,
    start_trajectory,
    start_warnings,
)
from zhizhi.gis.metric import MetricFrame
from zhizhi.layers.camera_registry import RegistryWatch
from zhizhi.layers.hazmat import HazmatRegistry
from zhizhi.models.trajectory.fusion import TrackFusion
from zhizhi.models.versions.watch import ModelWatch
from zhizhi.telemetry.fleet import Fleet, locate_many
from zhizhi.telemetry.gate import TelemetryGate
from zhizhi.telemetry.mqtt import MqttIngest
from zhizhi.video.evidence_store import EvidenceStore
from zhizhi.video.shared_frames import SharedFrames

log = logging.getLogger(__name__)


class Runtime(Lifecycle):
    """Starts and stops everything a console process runs, in one order (see the module)."""

    WHAT = "console"
    #: The start order; ``stop()`` goes backwards.
    STEPS = (
        "model_files",  # the rule-model files checked before storage is touched
        "store",  # database and layer registry (the demo district installed when missing)
        "bus",  # in-process, or Redis when bus.url is set
        "services",  # alerts, incidents, auth, fleet, telemetry gate, backtest jobs: the ConsoleState
        "recorders",  # evidence recorders of in-process workers (added later, stopped here)
        "fleet_feed",  # positions and drone poses of the bus into the fleet
        "live",  # websocket hub, its bridge from the bus, the position feed
        "forward",  # alerts forwarded to other systems: webhooks, CAP 1.2 (console.forwarding)
        "cameras",  # the camera index follows the registry: other processes' changes (bus, polling)
        "jurisdictions",  # the watch for a hierarchy imported by another process (applied live)
        "incident_links",  # alerts linked to incidents, workers' evidence attached, resync on reconnect
        "models",  # model store, promotions over the bus, the watch for other processes' promotions
        "warnings",  # the video warning model's runner
        "trajectory",  # the trajectory rules' runner
        "rule_models",  # the runners read the bus (under the rule-models lease when shared)
        "shared_frames",  # workers' newest frames in Redis
        "mqtt",  # vehicle and drone reports from the broker
        "deadline_watch",  # reminders, supervision orders, evidence purge
        "camera_worker",  # the registry's analysed cameras in an in-process worker (in-process bus)
        "recordings",  # the in-process workers' cameras recorded in segments (settings.recording)
    )

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.state: ConsoleState | None = None
        self._subscriptions: dict[str, list[Cancellable]] = {}
        self._warning_setup = None
        self._trajectory_model = None
        self._engine = self._registry = self._bus = None
        self._watch: DeadlineWatch | None = None
        self._recorder = None  # camera recordings (settings.recording)

    def _subscribe(self, step: str, *subscriptions: Cancellable) -> None:
        self._subscriptions.setdefault(step, []).extend(subscriptions)

    def _cancel(self, step: str) -> None:
        for subscription in self._subscriptions.pop(step, []):
            subscription.cancel()

    @property
    def _state(self) -> ConsoleState:
        assert self.state is not None, "the services step has not run"
        return self.state

    # --- the steps ------------------------------------------------------------------------------
    def start_model_files(self) -> None:
        settings = self.settings
        self._warning_setup = load_warning_model(settings) if settings.warning.enabled else None
        self._trajectory_model = load_trajectory(settings) if settings.telemetry.enabled else None

    def stop_model_files(self) -> None:
        self._warning_setup = self._trajectory_model = None

    def start_store(self) -> None:
        self._engine, self._registry = open_store(self.settings)
        from zhizhi.console.demo_basemap import start_basemap

        start_basemap(self.settings, self._registry)  # with no basemap imported, one drawn from the layers

    def stop_store(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def start_bus(self) -> None:
        self._bus = open_bus(self.settings)

    def stop_bus(self) -> None:
        if self._bus is not None:
            self._bus.stop()

    def start_services(self) -> None:
        settings, engine, registry, bus = self.settings, self._engine, self._registry, self._bus
        jurisdictions, synthetic = load_jurisdictions(registry)
        hazmat = HazmatRegistry(engine)
        camera_registry = open_camera_registry(engine, registry, jurisdictions)
        state = ConsoleState(
            settings=settings,
            engine=engine,
            registry=registry,
            jurisdictions=jurisdictions,
            cameras=load_camera_index(camera_registry),
            camera_registry=camera_registry,
            synthetic=synthetic,
            bus=bus,
            alerts=AlertService(AlertStore(engine), locator(jurisdictions), bus=bus, policy=settings.alerts.policy,
                                district=jurisdictions.district_code),
            evidence=EvidenceStore(settings.resolved_evidence_dir, settings.alerts.retention_days),
            auth=AuthService(AuthStore(engine), jurisdictions, settings.auth),
            hazmat=hazmat,
            gate=TelemetryGate(hazmat.known if settings.telemetry.only_registered else None,
                               max_age_s=settings.telemetry.max_age_s),
            fleet=Fleet(
                MetricFrame.for_geometry(jurisdictions.get(jurisdictions.district_code).geometry),
                locate_many(jurisdictions),
                district_code=jurisdictions.district_code,
                drone_hfov_deg=settings.drones.hfov_deg,
                drone_vfov_deg=settings.drones.vfov_deg,
                drone_max_range_m=settings.drones.max_range_m,
            ),
            fusion=TrackFusion(),
            incidents=IncidentService(IncidentStore(engine), compute=lambda spec: None, bus=bus),
            jobs=JobRunner(max_parallel=settings.backtest.parallel),
            runtime=self,
        )
        state.incident_impact = IncidentImpact(
            state.jurisdictions, state.registry, state.fleet.moving_objects,
            near_m=state.settings.incidents.near_m, shelters=state.settings.incidents.shelters,
        )
        state.incidents.compute = state.incident_impact.compute
        state.incidents.scope_of = state.scope_for  # readers given by code are cut by their area
        state.alerts.describe = describe_alerts(state)  # what a verdict's label keeps
        state.procedures = open_procedures(state.alerts, engine)  # SOP checklists gate resolving
        self.state = state

    def stop_services(self) -> None:
        if self.state is not None:
            self.state.jobs.shutdown()

    def start_recorders(self) -> None:
        """Nothing to start: in-process workers add theirs (:meth:`ConsoleState.evidence_recorder`)."""

    def stop_recorders(self) -> None:
        """Finish the evidence being written (before the services and the bus go)."""
        if self.state is not None:
            for recorder in self.state.recorders:
                recorder.stop()

    def start_fleet_feed(self) -> None:
        state = self._state
        self._subscribe("fleet_feed", state.bus.subscribe(Topic.TELEMETRY, state.fleet.on_fixes),
                        state.bus.subscribe(Topic.DRONES, state.fleet.on_drone))

    def stop_fleet_feed(self) -> None:
        self._cancel("fleet_feed")

    def start_live(self) -> None:
        start_live(self._state)

    def start_jurisdictions(self) -> None:
        state = self._state
        state.hierarchy_watch = HierarchyWatch(state.registry, lambda: apply_hierarchy(state)).start()

    def stop_jurisdictions(self) -> None:
        if self.state is not None and self.state.hierarchy_watch is not None:
            self.state.hierarchy_watch.stop()

    def stop_live(self) -> None:
        state = self._state
        if state.positions is not None:
            state.positions.stop()
        if state.live is not None:
            state.live.detach()

    def start_forward(self) -> None:
        from zhizhi.console.forwarding import start_forwarder

        state = self._state
        state.forwarder, subscriptions = start_forwarder(state)
        self._subscribe("forward", *subscriptions)

    def stop_forward(self) -> None:
        """No more alert events in; what is still queued becomes a dead letter."""
        self._cancel("forward")
        if self.state is not None and self.state.forwarder is not None:
            self.state.forwarder.stop()

    def start_cameras(self) -> None:
        state = self._state
        state.camera_watch = RegistryWatch(state.camera_registry, state.reload_cameras, interval_s=CAMERA_POLL_S)
        state.camera_watch.note(state.camera_registry.fingerprint())
        self._subscribe("cameras", state.bus.subscribe(Topic.CAMERAS, state.camera_watch.poke))
        state.camera_watch.start()

    def stop_cameras(self) -> None:
        self._cancel("cameras")
        if self.state is not None and self.state.camera_watch is not None:
            self.state.camera_watch.stop()

    def start_incident_links(self) -> None:
        self._subscribe("incident_links", *wire_shared(self._state))

    def stop_incident_links(self) -> None:
        self._cancel("incident_links")

    def start_models(self) -> None:
        state = self._state
        state.models = open_models(state)
        self._subscribe("models", state.bus.subscribe(Topic.MODELS, lambda message: apply_promotion(state, message)))
        state.model_watch = ModelWatch(state.models, publish_promotion(state), interval_s=MODEL_POLL_S).start()

    def stop_models(self) -> None:
        self._cancel("models")
        if self.state is not None and self.state.model_watch is not None:
            self.state.model_watch.stop()

    def start_warnings(self) -> None:
        if self._warning_setup is not None:
            model, cameras = self._warning_setup
            state = self._state
            state.warnings = start_warnings(state, start_model(state, "warning", model), cameras)

    def stop_warnings(self) -> None:
        """Finish the queued frame batches (their alerts still go out)."""
        if self.state is not None and self.state.warnings is not None:
            self.state.warnings.stop()

    def start_trajectory(self) -> None:
        if self._trajectory_model is not None:
            state = self._state
            state.trajectory = start_trajectory(state, start_model(state, "trajectory", self._trajectory_model))

    def stop_trajectory(self) -> None:
        if self.state is not None and self.state.trajectory is not None:
            self.state.trajectory.stop()

    def start_rule_models(self) -> None:
        self._state.leader = wire_rule_models(self._state)

    def stop_rule_models(self) -> None:
        """Hand the lease back (another console takes over), or stop reading an in-process bus."""
        state = self.state
        if state is None:
            return
        if state.leader is not None:
            state.leader.stop()
        else:
            for runner in (state.warnings, state.trajectory):
                if runner is not None:
                    runner.detach()

    def start_shared_frames(self) -> None:
        bus = self.settings.bus
        if bus.url:
            self._state.shared_frames = SharedFrames(bus.url, prefix=bus.prefix)

    def stop_shared_frames(self) -> None:
        if self.state is not None and self.state.shared_frames is not None:
            self.state.shared_frames.close()

    def start_mqtt(self) -> None:
        if self.settings.telemetry.mqtt_enabled:
            state = self._state
            state.mqtt = MqttIngest(self.settings.telemetry.mqtt, gate=state.gate, on_fixes=state.publish_fixes,
                                    on_drone=lambda drone: state.bus.publish(Topic.DRONES, drone))
            state.mqtt.start()

    def stop_mqtt(self) -> None:
        if self.state is not None and self.state.mqtt is not None:
            self.state.mqtt.stop()

    def start_deadline_watch(self) -> None:
        interval = self.settings.alerts.check_interval_s
        if interval > 0:
            state = self._state
            self._watch = DeadlineWatch(check=state.alerts.check_deadlines,
                                        purge=lambda: purge_evidence(state, time.time()), interval_s=interval)
            self._watch.start()

    def stop_deadline_watch(self) -> None:
        if self._watch is not None:
            self._watch.stop()

    def start_camera_worker(self) -> None:
        state = self._state
        if self.settings.worker.in_console and not self.settings.bus.url:
            state.camera_feed = RegistryWorker(state).start()

    def stop_camera_worker(self) -> None:
        """Stop the registry's cameras (their last frames are analysed before the bus goes)."""
        if self.state is not None and self.state.camera_feed is not None:
            self.state.camera_feed.stop()

    def start_recordings(self) -> None:
        from zhizhi.console.recording import recorder_from_settings

        state = self._state
        self._recorder = recorder_from_settings(self.settings)
        if self._recorder is not None:
            self._recorder.listen(state.bus.subscribe).follow(lambda: list(state.workers))

    def stop_recordings(self) -> None:
        """Close the segments being written (each stays playable)."""
        if self._recorder is not None:
            self._recorder.stop()

    @property
    def bus(self) -> Bus | None:
        """The console's bus (``None`` before its step)."""
        return self._bus


def open_console(settings: Settings) -> ConsoleState:
    """A started console's state: ``Runtime(settings).start().state`` (``state.close()`` stops it)."""
    return Runtime(settings).start().state  # type: ignore[return-value]


__all__ = ["Runtime", "open_console"]
