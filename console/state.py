"""What a running console holds: storage, the layer registry, the spatial indexes, the bus,
the alert service, users and their tokens, and the warning model running over the bus.

Which rule models run (:func:`start_model`): the model store's production version of each kind
(:mod:`models.versions`; the shipped models are added and promoted by ``system`` when a kind
has none), unless the settings name a model file of their own (``warning.model`` other than the
shipped file, ``telemetry.model``): a pinned file runs as before, checked before storage is
touched. Either way a later promotion or rollback reaches the running runners over the bus
(:data:`~zhizhi.bus.Topic.MODELS`) without a restart."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
from sqlalchemy import Engine

from zhizhi.alerts.forward.deliver import Forwarder
from zhizhi.alerts.incidents.impact import IncidentImpact
from zhizhi.alerts.incidents.service import IncidentService
from zhizhi.alerts.procedures import Procedures
from zhizhi.alerts.record import OPEN_STATUSES
from zhizhi.alerts.service import AlertService, Locate
from zhizhi.bus import Bus, Topic
from zhizhi.bus.messages.cameras import CamerasChanged
from zhizhi.bus.messages.models import ModelPromoted
from zhizhi.bus.messages.telemetry import FixBatch
from zhizhi.console.auth import AuthService
from zhizhi.console.calibration import with_footprints
from zhizhi.console.cameras import camera_index
from zhizhi.console.demo_district import install_demo_district, needs_install
from zhizhi.console.jobs import JobRunner
from zhizhi.console.live.bridge import LiveBridge
from zhizhi.console.live.hub import LiveHub
from zhizhi.console.live.presets import PresetRules
from zhizhi.console.scaleout import RuleModelsLeader
from zhizhi.console.settings import Settings
from zhizhi.console.wall_alarm import WallSilences
from zhizhi.gis.cameras import CameraIndex, fov_sectors
from zhizhi.gis.codes import install_book
from zhizhi.gis.jurisdiction import Jurisdictions, Location, OutsideDistrictError
from zhizhi.layers import LayerRegistry, Scope, create_schema, make_engine
from zhizhi.layers.camera_calibrations import CameraCalibrations
from zhizhi.layers.camera_registry import CameraRegistry, RegistryWatch
from zhizhi.layers.hazmat import HazmatRegistry
from zhizhi.models.trajectory.config import SHIPPED_MODEL as SHIPPED_TRAJECTORY
from zhizhi.models.trajectory.config import load_model as load_trajectory_model
from zhizhi.models.trajectory.engine import TrajectoryEngine
from zhizhi.models.trajectory.fusion import TrackFusion
from zhizhi.models.trajectory.places import TrajectoryPlaces
from zhizhi.models.trajectory.runner import TrajectoryRunner
from zhizhi.models.versions.content import parse_content
from zhizhi.models.versions.store import ModelStore
from zhizhi.models.versions.watch import ModelWatch
from zhizhi.models.warning.config import SHIPPED_MODEL as SHIPPED_WARNING
from zhizhi.models.warning.config import ModelConfigError, WarningModelConfig, load_model
from zhizhi.models.warning.engine import WarningEngine
from zhizhi.models.warning.record import WarningEvent
from zhizhi.models.warning.runner import WarningRunner
from zhizhi.models.warning.scene import places_for
from zhizhi.telemetry.fleet import Fleet
from zhizhi.telemetry.gate import IngestReport, TelemetryGate
from zhizhi.telemetry.mqtt import MqttIngest
from zhizhi.telemetry.positions import PositionFeed
from zhizhi.telemetry.record import DroneState, Fix
from zhizhi.video.camera_config import CameraConfig, CameraConfigError, load_camera_configs
from zhizhi.video.evidence import EvidenceRecorder
from zhizhi.video.evidence_store import EvidenceStore
from zhizhi.video.shared_frames import SharedFrames

if TYPE_CHECKING:
    from zhizhi.console.hierarchy import HierarchyWatch
    from zhizhi.console.runtime import Runtime

log = logging.getLogger(__name__)
#: How often a console looks for promotions made by another process (``zhizhi models``).
MODEL_POLL_S = 5.0


@dataclass
class ConsoleState:
    """Everything request handlers need, built once at start-up."""

    settings: Settings
    engine: Engine
    registry: LayerRegistry
    jurisdictions: Jurisdictions
    cameras: CameraIndex
    synthetic: bool
    bus: Bus
    alerts: AlertService
    evidence: EvidenceStore
    auth: AuthService
    hazmat: HazmatRegistry
    gate: TelemetryGate
    fleet: Fleet
    fusion: TrackFusion
    incidents: IncidentService
    camera_sectors: list[dict] = field(default_factory=list)
    trajectory: TrajectoryRunner | None = None
    positions: PositionFeed | None = None
    mqtt: MqttIngest | None = None
    incident_impact: IncidentImpact | None = None
    jobs: JobRunner = field(default_factory=JobRunner)
    warnings: WarningRunner | None = None
    models: ModelStore | None = None
    model_watch: ModelWatch | None = None
    hierarchy_watch: HierarchyWatch | None = None  # a hierarchy imported elsewhere (console.hierarchy)
    recorders: list[EvidenceRecorder] = field(default_factory=list)
    hub: LiveHub | None = None
    live: LiveBridge | None = None
    presets: PresetRules | None = None  # the rules that switch the walls' presets
    workers: list = field(default_factory=list)  # in-process frame-analysis workers (the demo's)
    leader: RuleModelsLeader | None = None  # several consoles: whether this one runs the rule models
    shared_frames: SharedFrames | None = None  # several processes: the workers' newest frames (Redis)
    runtime: Runtime | None = field(default=None, repr=False)  # what started it (console.runtime)
    camera_registry: CameraRegistry | None = None  # the cameras' records: state.cameras is built from it
    camera_watch: RegistryWatch | None = None  # camera changes of other processes (bus message or polling)
    camera_feed: object | None = None  # the registry's analysed cameras in an in-process worker (console.cameras)
    procedures: Procedures | None = None  # the alerts' SOP checklists (alerts.procedures)
    silences: WallSilences = field(default_factory=WallSilences)  # the walls' alarms silenced (console.wall_alarm)
    forwarder: Forwarder | None = None  # alerts forwarded to other systems (console.forwarding)

    def latest_jpeg(self, camera_id: str) -> bytes | None:
        """The newest annotated frame of a camera analysed in this process, if any."""
        for worker in self.workers:
            jpeg = worker.latest_jpeg(camera_id)
            if jpeg is not None:
                return jpeg
        return self.shared_frames.get(camera_id) if self.shared_frames is not None else None

    def __post_init__(self) -> None:
        if not self.camera_sectors:
            self.camera_sectors = sector_geojson(self.cameras)

    def scope_for(self, code: str) -> Scope:
        """The layer scope of a jurisdiction code of this district (KeyError if unknown)."""
        return Scope(code=code, geometry=self.jurisdictions.get(code).geometry)

    def reload_cameras(self) -> None:
        """Rebuild the camera index and its field-of-view sectors from the camera registry."""
        if self.camera_registry is None:
            return
        fingerprint = self.camera_registry.fingerprint()
        index = load_camera_index(self.camera_registry)
        self.cameras, self.camera_sectors = index, sector_geojson(index)
        if self.camera_watch is not None:
            self.camera_watch.note(fingerprint)

    def cameras_changed(self, action: str, ids: list[str], revision: int | None = None) -> None:
        """After a write to the camera registry: this console's index rebuilt at once, and the
        other consoles and the workers told on the bus (``Topic.CAMERAS``)."""
        self.reload_cameras()
        self.bus.publish(Topic.CAMERAS, CamerasChanged(action=action, ids=tuple(ids), revision=revision))

    def camera_states(self) -> dict[str, str]:
        """The newest live state of each camera whose status reached this console (``online``,
        ``reconnecting``, ``offline``), by id."""
        if self.live is None:
            return {}
        messages = self.live.camera_statuses(self.jurisdictions.district_code)
        return {m["camera_id"]: m["state"] for m in messages if "camera_id" in m and "state" in m}

    def evidence_recorder(self) -> EvidenceRecorder:
        """An evidence recorder for a worker run in this process (``Worker(evidence=...)``).

        It listens to this console's bus, writes into its evidence store and attaches the files
        to the alerts; :meth:`close` stops it.
        """
        recorder = EvidenceRecorder(
            self.evidence, self.alerts.attach_evidence, **self.settings.worker.evidence_options
        ).attach(self.bus)
        self.recorders.append(recorder)
        return recorder

    # --- telemetry ------------------------------------------------------------------------------
    def ingest_reports(self, items: list[object]) -> IngestReport:
        """A batch of raw vehicle reports through the gate; the accepted ones onto the bus."""
        result = self.gate.check(items)
        self.publish_fixes(result.fixes)
        return result.report

    def publish_fixes(self, fixes: list[Fix]) -> None:
        """Accepted fixes to the trajectory rules, the fleet and the wall (one bus message)."""
        if fixes:
            self.bus.publish(Topic.TELEMETRY, FixBatch(tuple(fixes)))

    def ingest_drone(self, state: DroneState) -> bool:
        """A drone pose through the gate and onto the bus; whether it was accepted."""
        if self.gate.accept_drone(state) is not None:
            return False
        self.bus.publish(Topic.DRONES, state)
        return True

    def telemetry_status(self) -> dict:
        """Counters of the gate, the trajectory rules and the MQTT link."""
        return {
            "gate": self.gate.counts(),
            "rules": self.trajectory.stats() if self.trajectory is not None else None,
            "mqtt": {"status": str(self.mqtt.status), **self.mqtt.counts()} if self.mqtt is not None else None,
        }

    def vehicle_facts(self, vehicle_id: str) -> dict | None:
        """What the wall shows of a registered vehicle: plate, company, cargo."""
        vehicle = self.hazmat.get(vehicle_id)
        if vehicle is None:
            return None
        return {"plate": vehicle.plate, "company": vehicle.company, "un_number": vehicle.un_number,
                "hazard_class": vehicle.hazard_class}

    def on_warning(self, warning: WarningEvent) -> None:
        """A warning from video or telemetry into the alert service (video hazmat tankers are
        first matched to a registered vehicle's position)."""
        self.alerts.ingest(self.fusion.enrich(warning, self.hazmat.get))

    def close(self) -> None:
        """Stop the console: its runtime's ordered stop (:meth:`zhizhi.console.runtime.Runtime.stop`)."""
        if self.runtime is not None:
            self.runtime.stop()


def sector_geojson(index: CameraIndex) -> list[dict]:
    """Field-of-view sectors of the indexed cameras as GeoJSON geometries, in index order."""
    return [sector.__geo_interface__ for sector in fov_sectors(index.cameras)]


def load_jurisdictions(registry: LayerRegistry) -> tuple[Jurisdictions, bool]:
    """Rebuild the hierarchy from the stored ``towns``, ``villages``, ``grids`` (and
    ``micro_grids``) layers and install its code book (:func:`zhizhi.gis.codes.install_book`)."""
    everything = Scope.everything()
    grids_info = registry.get_layer("grids", everything)
    meta = grids_info.meta or {}
    names = ["towns", "villages", "grids"] + (["micro_grids"] if _has_layer(registry, "micro_grids") else [])
    tables = {name: registry.read_features(name, everything) for name in names}
    jurisdictions = Jurisdictions.from_layers(
        meta.get("district_code", grids_info.owner_code),
        meta.get("district_name", grids_info.owner_code),
        tables["towns"],
        tables["villages"],
        tables["grids"],
        tables.get("micro_grids"),
    )
    install_book(jurisdictions.code_book())
    return jurisdictions, bool(meta.get("synthetic", False))


def load_camera_index(registry: CameraRegistry) -> CameraIndex:
    """Index every camera of the camera registry (:func:`zhizhi.console.cameras.camera_index`), a
    calibrated camera with the ground area of its newest calibration (:mod:`console.calibration`)."""
    return with_footprints(camera_index(registry.list()), CameraCalibrations(registry.engine).footprints())


def locator(jurisdictions: Jurisdictions) -> Locate:
    """``locate(lon, lat)`` for the alert service: a WGS-84 point's location, ``None`` outside."""

    def locate(lon: float, lat: float) -> Location | None:
        try:
            return jurisdictions.locate(lon, lat)
        except (OutsideDistrictError, ValueError):
            return None

    return locate


def load_warning_model(settings: Settings) -> tuple[WarningModelConfig, list[CameraConfig]]:
    """The configured warning model and the worker's cameras (their lanes and zones).

    A file that cannot be used stops start-up with an error naming it and each bad field: a
    console that looked as if it watched its cameras while no rule ran would be worse.
    """
    try:
        model = load_model(settings.warning.model)
        path = settings.worker.cameras_file
        cameras = load_camera_configs(path) if path is not None else []
    except (ModelConfigError, CameraConfigError) as exc:
        log.error("the console cannot start: %s", exc)
        raise
    return model, cameras


def read_zones(registry: LayerRegistry) -> gpd.GeoDataFrame | None:
    """The stored ``zones`` layer (all of it), or ``None`` when there is none."""
    if not _has_layer(registry, "zones"):
        return None
    return registry.read_features("zones", Scope.everything())


def start_warnings(
    state: ConsoleState, model: WarningModelConfig, cameras: list[CameraConfig]
) -> WarningRunner:
    """Run ``model`` over the frame batches of the console's bus, raising alerts."""
    places = places_for(cameras, read_zones(state.registry))
    engine = WarningEngine(model, places)
    runner = WarningRunner(engine, state.on_warning, queue_size=state.settings.warning.queue_size)
    runner.start()  # reads the bus once wired (console.scaleout.wire_rule_models)
    log.info(
        "warning model %s runs over the bus: %d rules, %d zones, %d lanes, %d configured cameras",
        model.label, len(engine.conditions), len(places.zones), len(places.lanes), len(cameras),
    )
    return runner


def open_store(settings: Settings) -> tuple[Engine, LayerRegistry]:
    """The console's database and layer registry, with the demo district installed when missing."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    create_schema(engine)
    registry = LayerRegistry(engine)
    if needs_install(registry, settings.demo):
        log.info("installing the demo district (seed %s)", settings.demo.seed)
        install_demo_district(registry, settings.demo)
    return engine, registry


def open_console(settings: Settings) -> ConsoleState:
    """A started console's state: ``Runtime(settings).start().state`` (the one start-up,
    :mod:`zhizhi.console.runtime`); ``state.close()`` stops it."""
    from zhizhi.console.runtime import open_console as start_console

    return start_console(settings)


def open_models(state: ConsoleState) -> ModelStore:
    """The model store on the console's database: the shipped rule models seeded (added and
    promoted by ``system``) for a kind without a production version; every promotion and
    rollback published on the bus (the runtime applies the bus's promotions to the runners:
    :func:`apply_promotion`)."""
    store = ModelStore(state.engine)
    for kind, path in (("warning", SHIPPED_WARNING), ("trajectory", SHIPPED_TRAJECTORY)):
        store.seed(kind, path.read_text(encoding="utf-8"), "system", f"shipped model ({path.name})")
    store.on_promoted(publish_promotion(state))
    return store


def publish_promotion(state: ConsoleState):
    """A listener of the model store that publishes each promotion on the console's bus."""

    def publish(version, action: str) -> None:
        state.bus.publish(Topic.MODELS, version.to_event(action))

    return publish


def pinned_model(settings: Settings, kind: str) -> Path | None:
    """The model file the settings name for ``kind``, unless it is the shipped one."""
    if kind == "warning":
        path, shipped = settings.warning.model, SHIPPED_WARNING
    else:
        path, shipped = settings.telemetry.model, SHIPPED_TRAJECTORY
    if path is None or Path(path).resolve() == shipped.resolve():
        return None
    return Path(path)


def start_model(state: ConsoleState, kind: str, from_settings):
    """The model a runner starts with: the settings' pinned file, else the store's production."""
    production = state.models.production(kind) if state.models is not None else None
    pinned = pinned_model(state.settings, kind)
    if pinned is not None or production is None:
        if production is not None and production.label != from_settings.label:
            log.warning("%s model file %s (%s) runs instead of the production version %s (settings pin it)",
                        kind, pinned, from_settings.label, production.label)
        return from_settings
    try:
        return production.config()
    except ModelConfigError as exc:
        log.error("the console cannot start: the production %s model no longer loads: %s", kind, exc)
        raise


def apply_promotion(state: ConsoleState, message: ModelPromoted) -> None:
    """A model version went into production (the ``models`` topic): the runner of its kind swaps
    to it between two batches (detectors: the workers read theirs at start)."""
    kind = message.kind
    runner = state.warnings if kind == "warning" else state.trajectory if kind == "trajectory" else None
    if runner is None:
        return
    label = message.label
    runner.swap_model(parse_content(kind, message.content, label))
    log.info("%s model %s promoted: the running %s rules swap to it", kind, label, kind)


def load_trajectory(settings: Settings):
    """The configured trajectory rules (a bad file stops start-up with its errors)."""
    try:
        return load_trajectory_model(settings.telemetry.model)
    except ModelConfigError as exc:
        log.error("the console cannot start: %s", exc)
        raise


def start_trajectory(state: ConsoleState, model) -> TrajectoryRunner:
    """Run the trajectory rules over the telemetry batches of the console's bus."""
    everything = Scope.everything()
    roads = state.registry.read_features("roads", everything) if _has_layer(state.registry, "roads") else None
    places = TrajectoryPlaces.from_layers(read_zones(state.registry), roads)
    engine = TrajectoryEngine(model, places, state.hazmat.get)
    settings = state.settings.telemetry
    runner = TrajectoryRunner(engine, state.on_warning, tick_s=settings.tick_s, max_backlog=settings.max_backlog,
                              observers=[state.fusion.observe])
    runner.start()  # reads the bus once wired (console.scaleout.wire_rule_models)
    log.info("trajectory rules %s run over the telemetry of the bus", model.label)
    return runner


def _has_layer(registry: LayerRegistry, name: str) -> bool:
    return any(info.name == name for info in registry.list_layers(Scope.everything()))


def start_live(state: ConsoleState) -> None:
    """The websocket hub and its feed from the bus (alerts, camera status, live tracks)."""
    live = state.settings.live

    def camera_grid(camera_id: str) -> str | None:
        """A camera's grid; for a drone's video, the grid the drone is over now."""
        try:
            return state.cameras.get(camera_id).grid
        except KeyError:
            drones = state.fleet.drones("", ids={camera_id})
            return drones[0].get("grid") if drones else None

    state.hub = LiveHub(lambda client: live_snapshot(state, client.code), buffer=live.buffer,
                        queue_size=live.client_queue, send_timeout_s=live.send_timeout_s)
    state.live = LiveBridge(state.hub, state.jurisdictions, camera_grid, tracks_hz=live.tracks_hz).attach(state.bus)
    state.presets = PresetRules(state.hub, state.jurisdictions, state.settings.presets,
                                lambda: state.cameras).attach(state.bus)
    state.positions = PositionFeed(state.hub, state.fleet, interval_s=state.settings.telemetry.live_interval_s,
                                   describe=state.vehicle_facts).start()


def live_snapshot(state: ConsoleState, code: str) -> list[dict]:
    """What a screen of jurisdiction ``code`` starts from: open alerts, camera statuses, active
    incidents, then vehicles and drones."""
    scope = state.scope_for(code)
    alerts = state.alerts.list(scope, status=OPEN_STATUSES, limit=state.settings.live.snapshot_alerts)
    statuses = state.live.camera_statuses(code) if state.live is not None else []
    incidents = [i.to_message("snapshot") for i in state.incidents.list(scope, status="active")]
    positions = state.positions.snapshot_items(code) if state.positions is not None else []
    return [a.to_message() for a in alerts] + statuses + incidents + positions
