"""The one typed settings object of the whole program.

Values come, highest priority first, from: keyword arguments (the CLI's options), ``ZHIZHI_*``
environment variables (nested with ``__``, e.g. ``ZHIZHI_DEMO__SEED=7``), a TOML file
(``ZHIZHI_CONFIG`` or ``./zhizhi.toml``), then the defaults below. Libraries under ``gis/`` and
``layers/`` take plain arguments; only the application layer reads this object and passes
values down.

The object describes itself: every section and field has a description and, where a value has
a range, its bounds. An unknown key is an error naming it, in the file (``extra="forbid"`` on
every section) and in the environment (a ``ZHIZHI_*`` variable that names no field,
:mod:`zhizhi.console.settings_keys`); ``zhizhi config show`` prints the effective values with
their sources (:mod:`zhizhi.console.config_show`). Errors never echo the value given (it may be
a password).
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from zhizhi.alerts.forward.settings import ForwardSettings
from zhizhi.alerts.policy import AlertPolicy
from zhizhi.console.observability.settings import LogSettings, MetricsSettings
from zhizhi.console.ogc.settings import OgcSettings
from zhizhi.console.settings_keys import StrictEnvironment
from zhizhi.console.wall_presets import PresetSettings
from zhizhi.models.detector import SHIPPED_WEIGHTS
from zhizhi.models.warning.config import SHIPPED_MODEL
from zhizhi.telemetry.mqtt import MqttSettings
from zhizhi.video.detectors.gate_settings import MotionGateSettings
from zhizhi.video.detectors.tracking import TRACK_MARGIN

#: Where the settings file is named (``./zhizhi.toml`` when unset).
CONFIG_ENV = "ZHIZHI_CONFIG"
DEFAULT_CONFIG_FILE = Path("zhizhi.toml")


class Section(BaseModel):
    """A section of the settings: unknown keys are errors, and errors do not echo values."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class DemoSettings(Section):
    """The built-in demo district."""

    seed: int = Field(20261121, ge=0, description="Seed of the deterministic generator.")
    adcode: str = Field("320612", pattern=r"^\d{6}$", description="District adcode.")
    name: str = Field(
        "通州区（合成）", min_length=1, max_length=100, description="District name for the synthetic boundary."
    )
    boundary: Path | None = Field(
        None, description="A boundary file (GeoJSON, GCJ-02 by default) to build from."
    )
    boundary_crs: str = Field(
        "gcj02",
        min_length=1,
        max_length=40,
        description="Coordinates of the boundary file: wgs84, gcj02, bd09 or EPSG:n.",
    )
    towns: int | None = Field(
        None, ge=1, le=99, description="Towns of the district; default: 14 for the synthetic boundary, "
        "one per 100 km² of a real one."
    )
    villages_per_town: int | None = Field(
        None, ge=1, le=99, description="Villages of each town; default: 12 for the synthetic boundary, "
        "about 6 grids a village for a real one."
    )
    grids: int | None = Field(
        None, ge=1, le=50_000, description="Grid cells the district is divided into; default: 1,024 for the "
        "synthetic boundary, one per 1.2 km² of a real one (Haimen: 969 over 1,136 km²)."
    )
    cameras: int = Field(120, ge=0, le=5_000, description="Cameras placed in the district.")


class LayerLimits(Section):
    """Limits on imported layer files."""

    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0, description="Largest accepted file.")
    max_features: int = Field(200_000, gt=0, description="Most features in one import.")
    max_archive_bytes: int = Field(
        200 * 1024 * 1024, gt=0, description="Largest total size of an archive's contents."
    )


class DetectorSettings(Section):
    """Object detection and tracking of the frame-analysis workers."""

    kind: Literal["ultralytics", "motion"] = Field(
        "ultralytics", description="ultralytics (a YOLO model) or motion (background subtraction)."
    )
    weights: Path = Field(
        SHIPPED_WEIGHTS,
        description="Weights path (.pt, .onnx, OpenVINO folder, TensorRT .engine); "
        "default: the project's own detector trained on simulator output.",
    )
    device: str = Field("cpu", min_length=1, max_length=40, description="cpu, cuda, cuda:0 ...")
    imgsz: int = Field(416, ge=32, le=4096, description="Side in pixels a frame is resized to for detection.")
    conf: float = Field(0.3, gt=0, lt=1, description="Smallest detection confidence kept.")
    tracker: Literal["bytetrack", "botsort"] = Field("bytetrack", description="Multi-object tracker.")
    track_margin: float = Field(
        TRACK_MARGIN, ge=0, le=3,
        description="Boxes are matched from frame to frame grown by this share of their width and height "
        "on each side (buffered IoU), so a fast vehicle at a low analysis rate still overlaps itself; 0: "
        "the tracker's plain IoU.",
    )

    runtime: Literal["auto", "pytorch", "openvino", "onnx"] = Field(
        "auto",
        description="Inference runtime of the weights: auto (OpenVINO on a CPU, PyTorch on a GPU), pytorch, "
        "openvino or onnx; an export is made once, offline, and cached.",
    )
    int8: bool = Field(
        False, description="Quantise the OpenVINO export to INT8 (faster, slightly less accurate: docs/runtime.md)."
    )
    runtime_cache: Path | None = Field(
        None, description="Folder of the exported runtimes (docs/runtime.md); default: "
        "~/.cache/zhizhi/detector-runtime ($XDG_CACHE_HOME), shared by every data folder."
    )
    gate: MotionGateSettings = Field(default_factory=MotionGateSettings, description=MotionGateSettings.__doc__)

    def ultralytics_options(self) -> dict[str, object]:
        """The keyword arguments of :class:`~video.detectors.UltralyticsDetector` besides the weights."""
        return {"device": self.device, "imgsz": self.imgsz, "conf": self.conf, "tracker": self.tracker,
                "track_margin": self.track_margin, "runtime": self.runtime, "int8": self.int8,
                "cache_dir": self.runtime_cache}


class WorkerSettings(Section):
    """Which cameras a frame-analysis worker runs."""

    cameras_file: Path | None = Field(
        None, description="Camera-config file (JSON/YAML); default: simulated demo cameras."
    )
    jpeg_quality: int = Field(80, ge=10, le=100, description="JPEG quality of annotated frames and snapshots.")
    in_console: bool = Field(
        True, description="A console on the in-process bus analyses the camera registry's enabled cameras that have "
        "a main stream itself (with a Redis bus, `zhizhi worker` processes do)."
    )
    evidence_pre_s: float = Field(
        10, ge=0, le=120, description="Seconds of annotated frames kept per camera for alert clips."
    )
    evidence_post_s: float = Field(10, ge=0, le=120, description="Seconds recorded after a new alert.")
    evidence_buffer_bytes: int = Field(
        32 * 1024 * 1024, ge=1024 * 1024, description="Most JPEG bytes buffered per camera."
    )

    @property
    def evidence_options(self) -> dict[str, float | int]:
        """The keyword arguments of a worker's :class:`~video.evidence.EvidenceRecorder`."""
        return {"pre_s": self.evidence_pre_s, "post_s": self.evidence_post_s, "max_bytes": self.evidence_buffer_bytes}


class WarningSettings(Section):
    """The warning model the console runs over the frame batches on its bus."""

    enabled: bool = Field(True, description="Run the warning model (alerts from video).")
    model: Path = Field(
        SHIPPED_MODEL, description="Warning-model YAML; default: the shipped one. A bad file stops start-up."
    )
    queue_size: int = Field(
        1000, ge=1, le=1_000_000,
        description="Frames waiting for the model; beyond this the oldest are dropped.",
    )


class LiveSettings(Section):
    """The wall's websocket: replay buffer, per-screen queue, track rate."""

    buffer: int = Field(20_000, ge=100, le=1_000_000, description="Messages kept for clients that reconnect.")
    client_queue: int = Field(2_000, ge=10, le=100_000, description="Pending messages per screen before a resync.")
    send_timeout_s: float = Field(
        10.0, gt=0, le=300,
        description="A screen whose socket takes no message for this long (it stopped reading) is dropped; it "
        "reconnects and resumes from the replay buffer.",
    )
    tracks_hz: float = Field(2.0, gt=0, le=30, description="Live track messages per camera per second.")
    snapshot_alerts: int = Field(500, ge=1, le=10_000, description="Open alerts in a screen's snapshot.")
    ws_deflate: bool = Field(
        False,
        description="Compress the websocket (permessage-deflate). Off by default: it costs one compression per "
        "screen and message (27 % of the console's time at 1,000 screens); the center's LAN carries plain frames.",
    )


class MapSettings(Section):
    """What the map pages draw under the layers."""

    tile_url: str | None = Field(
        None,
        description="Basemap tile URL template on the center's own network; none by default.",
    )
    tile_attribution: str = Field("", max_length=500, description="Attribution shown with the basemap tiles.")


class AlarmSettings(Section):
    """The wall's alarm sound: new red and orange alerts ring until acknowledged or silenced."""

    screens: list[Literal["alerts", "map", "video"]] = Field(
        default_factory=lambda: ["alerts"], max_length=3,
        description="The wall screens that ring (the board always shows the silence button).",
    )
    repeat_s: float = Field(6.0, ge=2, le=120, description="Seconds between repeats of the sound.")
    silence_minutes: float = Field(10.0, ge=1, le=240, description="How long the silence button silences a wall.")


class RecordingSettings(Section):
    """Recordings of the cameras for playback: which cameras, segment length, how long and how much disk."""

    mode: Literal["off", "all", "some", "events"] = Field(
        "off",
        description="Record no camera, every camera a worker runs, those in camera_ids, or every camera "
        "keeping only what alerts show (events).",
    )
    camera_ids: list[str] = Field(
        default_factory=list, max_length=10_000, description="The cameras recorded in mode 'some'."
    )
    dir: Path | None = Field(None, description="Where the segments are written; default: data_dir/recordings.")
    segment_s: float = Field(60, ge=1, le=3600, description="Length of one segment file, seconds.")
    fps: float = Field(10, gt=0, le=30, description="Frames per second of cameras recorded from their frames.")
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast"] = Field(
        "veryfast",
        description="libx264 speed of cameras recorded from their frames: ultrafast encodes several times "
        "more cameras per core, in larger files (H.264 cameras are copied, never encoded).",
    )
    retention_days: float = Field(7, gt=0, le=3650, description="Segments older than this are deleted.")
    max_disk_share: float = Field(
        0.8, gt=0, le=0.95,
        description="The most of the recording volume the recordings may use; the oldest go first.",
    )
    event_pre_s: float = Field(30, ge=0, le=3600, description="Events mode: kept before an alert's first sighting.")
    event_post_s: float = Field(30, ge=0, le=3600, description="Events mode: kept after an alert's latest sighting.")
    event_hold_s: float = Field(
        600, ge=60, le=86_400,
        description="Events mode: how long a segment no alert marked waits for one (an alert raised later "
        "still gets its lead-in) before it is deleted.",
    )
    max_list_s: float = Field(
        2 * 86_400, ge=60, le=31 * 86_400, description="The longest range one recordings list may ask for."
    )
    max_export_s: float = Field(3600, ge=10, le=86_400, description="The longest range one export may ask for.")


class WallSettings(Section):
    """The command wall as a deployment shows it: one clock, one language policy, one text size."""

    time_zone: str = Field(
        "Asia/Shanghai",
        min_length=1,
        max_length=64,
        description="IANA time zone of every time on the wall, in reports and in exports.",
    )
    english_glosses: bool = Field(False, description="Show the small English gloss beside Chinese labels.")
    min_text_px: int = Field(28, ge=12, le=96, description="Smallest text on a wall screen, in CSS pixels.")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from exc
        return value


class AlertSettings(Section):
    """The alert lifecycle: policy, evidence files and the deadline watch."""

    policy: AlertPolicy = Field(
        default_factory=AlertPolicy, description="Cooldown, time limits, routing, suppression."
    )
    evidence_dir: Path | None = Field(
        None, description="Snapshots and clips of alerts; default: data_dir/evidence."
    )
    retention_days: float = Field(30, gt=0, le=3650, description="Evidence is kept this long.")
    label_track_days: float = Field(
        180, gt=0, le=3650,
        description="The observed tracks of alerts given a verdict (false alarm, confirmed) are kept this long "
        "for the false-alarm backtest, past retention_days.",
    )
    check_interval_s: float = Field(
        30, ge=0, le=3600,
        description="How often the console looks for overdue alerts (0: never, e.g. in tests).",
    )


class TelemetrySettings(Section):
    """Vehicle and drone positions: the HTTP batch limits, MQTT, and the trajectory rules."""

    enabled: bool = Field(True, description="Run the trajectory rules over accepted fixes.")
    model: Path | None = Field(
        None, description="Trajectory-rule YAML; default: the shipped one. A bad file stops start-up."
    )
    max_batch: int = Field(20_000, ge=1, le=1_000_000, description="Most reports in one POST.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest POST body.")
    max_backlog: int = Field(
        200_000, ge=1000, description="Fixes waiting for the rules before POSTs get 503 (retry later)."
    )
    tick_s: float = Field(5.0, gt=0, le=600, description="How often clock rules (signal loss) run.")
    only_registered: bool = Field(
        False, description="Refuse reports of vehicles missing from the registry (unknown_vehicle)."
    )
    max_age_s: float = Field(
        86_400, gt=0, le=30 * 86_400, description="Refuse reports older than this (too_old): history, not live."
    )
    mqtt_enabled: bool = Field(False, description="Subscribe to the MQTT broker below.")
    mqtt: MqttSettings = Field(default_factory=MqttSettings, description="The MQTT broker and its topics.")
    live_interval_s: float = Field(1.0, gt=0, le=60, description="How often the wall gets positions.")


class DroneSettings(Section):
    """Drone cameras (for footprints and geolocation of their video)."""

    hfov_deg: float = Field(72.0, gt=1, lt=170, description="Horizontal field of view of the camera.")
    vfov_deg: float = Field(44.5, gt=1, lt=170, description="Vertical field of view of the camera.")
    max_range_m: float = Field(1500, gt=10, le=20_000, description="Footprint cut-off towards the horizon.")
    min_battery_pct: float = Field(25, ge=0, le=100, description="Below this a drone is not offered.")


class IncidentSettings(Section):
    """Incident mode: what counts as near, how many shelters to list."""

    near_m: float = Field(500, ge=0, le=50_000, description="Cameras, drones and facilities this close count.")
    shelters: int = Field(5, ge=1, le=50, description="Nearest shelters listed.")


class BacktestSettings(Section):
    """The analysts' backtests run by the console."""

    datasets_dir: Path | None = Field(None, description="Datasets, one folder each; default: data_dir/datasets.")
    cache_dir: Path | None = Field(None, description="Detector-output cache; default: data_dir/backtest-cache.")
    jobs: int = Field(1, ge=1, le=64, description="Clips analysed in parallel processes per backtest.")
    parallel: int = Field(1, ge=1, le=8, description="Backtests run at once; more wait in order.")


class BusSettings(Section):
    """The message bus between workers and consoles: in-process by default, Redis to scale out."""

    url: str | None = Field(
        None,
        description="Redis URL (redis://host:6379/0) for several consoles and workers; default: one "
        "process, in-process bus.",
    )
    node: str | None = Field(
        None, description="This process's name on the bus and in leases; default: host name and process id."
    )
    prefix: str = Field("zhizhi", pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="Prefix of every Redis key.")
    lease_ttl_s: float = Field(
        5.0, ge=1, le=60,
        description="Camera and rule-model leases expire this long after their holder stops renewing them.",
    )
    claim_idle_s: float = Field(
        10.0, ge=1, le=600, description="Stream entries a dead consumer left unacknowledged are claimed after this."
    )

    @property
    def resolved_node(self) -> str:
        """This process's name: the setting, else ``host-pid``."""
        import socket

        return self.node or f"{socket.gethostname()}-{os.getpid()}"


class AuthSettings(Section):
    """Users' sessions and the guard on logins."""

    token_ttl_s: float = Field(
        12 * 3600, ge=60, le=30 * 24 * 3600, description="How long a login's token lasts (a shift)."
    )
    idle_timeout_s: float = Field(
        45 * 60, ge=60, le=24 * 3600,
        description="A token unused this long is refused (API calls and open live connections are use).",
    )
    ticket_ttl_s: float = Field(
        60, ge=5, le=600, description="How long a ticket for URLs (/ws, camera video) may be used."
    )
    max_failures: int = Field(
        5, ge=1, le=1000,
        description="Failed logins of one user name from one address before each further try waits (429).",
    )
    max_failures_per_address: int = Field(
        20, ge=1, le=100_000,
        description="Failed logins from one address, whatever the names, before each further try waits.",
    )
    max_failures_per_user: int = Field(
        30, ge=1, le=100_000,
        description="Failed logins of one user name from all addresses after which every address gets one "
        "free try for it (an address without failures is never refused).",
    )
    backoff_s: float = Field(1.0, gt=0, le=3600, description="First wait once over a limit; doubles per failure.")
    max_backoff_s: float = Field(300, gt=0, le=24 * 3600, description="Longest wait between tries.")
    failure_window_s: float = Field(
        3600, ge=1, le=7 * 24 * 3600, description="Failures are forgotten this long after the last one."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-For names the "
        "client; empty: the connecting address is the client's and X-Forwarded-For is ignored.",
    )
    min_password_length: int = Field(8, ge=6, le=128, description="Shortest accepted new password.")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry.strip(), strict=False)  # ValueError names the bad entry
        return [entry.strip() for entry in value]


class Settings(BaseSettings):
    """Settings of zhizhi; see the module docstring for where values come from."""

    model_config = SettingsConfigDict(
        env_prefix="ZHIZHI_", env_nested_delimiter="__", extra="forbid", hide_input_in_errors=True
    )

    data_dir: Path = Field(Path("var"), description="Database and evidence files live here.")
    database_url: str | None = Field(
        None, min_length=1, description="SQLAlchemy URL; default: SQLite in data_dir."
    )
    host: str = Field("127.0.0.1", min_length=1, max_length=253, description="Address the console listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the console listens on.")
    demo: DemoSettings = Field(default_factory=DemoSettings, description=DemoSettings.__doc__)
    layers: LayerLimits = Field(default_factory=LayerLimits, description=LayerLimits.__doc__)
    map: MapSettings = Field(default_factory=MapSettings, description=MapSettings.__doc__)
    live: LiveSettings = Field(default_factory=LiveSettings, description=LiveSettings.__doc__)
    detector: DetectorSettings = Field(default_factory=DetectorSettings, description=DetectorSettings.__doc__)
    worker: WorkerSettings = Field(default_factory=WorkerSettings, description=WorkerSettings.__doc__)
    warning: WarningSettings = Field(default_factory=WarningSettings, description=WarningSettings.__doc__)
    alerts: AlertSettings = Field(default_factory=AlertSettings, description=AlertSettings.__doc__)
    wall: WallSettings = Field(default_factory=WallSettings, description=WallSettings.__doc__)
    recording: RecordingSettings = Field(default_factory=RecordingSettings, description=RecordingSettings.__doc__)
    alarm: AlarmSettings = Field(default_factory=AlarmSettings, description=AlarmSettings.__doc__)
    presets: PresetSettings = Field(default_factory=PresetSettings, description=PresetSettings.__doc__)
    auth: AuthSettings = Field(default_factory=AuthSettings, description=AuthSettings.__doc__)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings, description=TelemetrySettings.__doc__)
    drones: DroneSettings = Field(default_factory=DroneSettings, description=DroneSettings.__doc__)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings, description=IncidentSettings.__doc__)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings, description=BacktestSettings.__doc__)
    bus: BusSettings = Field(default_factory=BusSettings, description=BusSettings.__doc__)
    ogc: OgcSettings = Field(default_factory=OgcSettings, description=OgcSettings.__doc__)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings, description=MetricsSettings.__doc__)
    logs: LogSettings = Field(default_factory=LogSettings, description=LogSettings.__doc__)
    forward: ForwardSettings = Field(default_factory=ForwardSettings, description=ForwardSettings.__doc__)
    demo_password: SecretStr | None = Field(
        None,
        description="Password of the demo users (ZHIZHI_DEMO_PASSWORD); default: generated once "
        "and printed when `zhizhi demo` first creates them.",
    )
    demo_basemap: bool = Field(
        True,
        description="With no basemap imported and no map.tile_url, render one from the district's layers at "
        "start-up (roads, water, boundaries, names; about 10 s once, again when the layers change) "
        "(ZHIZHI_DEMO_BASEMAP; the tests turn it off).",
    )
    assets_dir: Path = Field(
        Path(__file__).parent / "static" / "vendor",
        description="Front-end packages installed at set-up (Leaflet).",
    )

    @model_validator(mode="after")
    def _runtime_cache_in_user_cache(self) -> Settings:
        """The detector's exported runtimes live in the user's cache folder unless placed elsewhere:
        derived files, keyed by the weights' content, so every data folder of the machine (a test's,
        a second console's) shares the export set-up made."""
        if self.detector.runtime_cache is None:
            base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
            self.detector.runtime_cache = Path(base) / "zhizhi" / "detector-runtime"
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'zhizhi.db').resolve()}"

    @property
    def resolved_datasets_dir(self) -> Path:
        """Where the analysts' datasets are."""
        return self.backtest.datasets_dir or self.data_dir / "datasets"

    @property
    def resolved_recordings_dir(self) -> Path:
        """Where camera recordings are written (``recording.dir``, else ``data_dir/recordings``)."""
        return self.recording.dir or self.data_dir / "recordings"

    @property
    def resolved_evidence_dir(self) -> Path:
        """Where alert evidence is stored."""
        return self.alerts.evidence_dir or self.data_dir / "evidence"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            StrictEnvironment(settings_cls),
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )


def config_file() -> Path:
    """The settings file: ``ZHIZHI_CONFIG``, else ``./zhizhi.toml`` (absent: no file)."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_FILE)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
