"""The camera registry: every camera of the county as a record in the store.

:class:`CameraRecord` is the boundary type (what the console's index, the workers, the cameras
API and the calibration page all read): id, name, main and sub stream URLs, kind (fixed, PTZ,
drone), WGS-84 position, mounting height, heading, tilt, horizontal field of view, range, the
owner jurisdiction, the analysis rate, whether it is enabled, masks (pixel polygons where
detections are ignored), zones, object filters per class (:mod:`layers.camera_filters`) and
``updated_at``/``revision`` (the revision starts at 1 and goes up by one on every change of the
record, so a writer can refuse a stale edit).
:class:`CameraInput` is what a writer gives: the same fields without the bookkeeping, with the
owner optional (the console derives it by locating the position).

:class:`CameraRegistry` stores them in the ``camera_registry`` table (SQLite or PostgreSQL):
add, update, delete, one all-or-nothing batch (imports) and the seeding of an empty registry.
:meth:`CameraRegistry.fingerprint` changes whenever any record is added, changed or removed,
so another process notices changes by polling it. :func:`registry_cameras` reads every record.

Stream URLs may carry credentials (``rtsp://admin:pw@host/...``): :func:`mask_stream_url`
hides them, and no message of this module shows a URL unmasked.

>>> cam = CameraInput(id="C1", name="东门", lon=120.86, lat=32.01, heading_deg=90, hfov_deg=60,
...                   range_m=200, stream_main="rtsp://admin:Pa55@10.0.0.9:554/h264/ch1/main")
>>> cam.kind, cam.analysis_fps, cam.enabled
('fixed', 5.0, True)
>>> mask_stream_url(cam.stream_main)
'rtsp://admin:***@10.0.0.9:554/h264/ch1/main'
>>> CameraInput(id="C1", lon=190, lat=32, heading_deg=0, hfov_deg=0, range_m=100)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 2 validation errors for CameraInput
lon
  Input should be less than or equal to 180 ...
hfov_deg
  Input should be greater than 0 ...
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from zhizhi.layers.camera_filters import CameraFilters, check_pixel_polygons
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata

log = logging.getLogger(__name__)

#: Kinds of camera.
KINDS = ("fixed", "ptz", "drone")
#: Path segments of ``/api/cameras/...`` that are not camera ids.
RESERVED_IDS = frozenset({"covering", "fov", "import"})
#: What a camera id may hold: letters (any script), digits, ``_ . : -``; GB/T 28181 ids are 20 digits.
ID_PATTERN = r"^[\w.:-]+$"
#: Stream URL schemes a worker can open (besides an absolute path of a file or image folder).
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
MASK = "***"
#: Query parameters of a stream URL that carry credentials.
SECRET_QUERY = re.compile(
    r"^(key|apikey|api_key|tk|token|access_token|auth|password|passwd|pwd|pass|secret|sig|signature)$",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
_QUERY_PAIR = re.compile(r"(?P<head>[?&;](?P<name>[^=&;?#]+)=)(?P<value>[^&;#]*)")

camera_registry = Table(
    "camera_registry",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("stream_main", String(2000), nullable=True),
    Column("stream_sub", String(2000), nullable=True),
    Column("kind", String(8), nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("height_m", Float, nullable=True),
    Column("heading_deg", Float, nullable=False),
    Column("tilt_deg", Float, nullable=True),
    Column("hfov_deg", Float, nullable=False),
    Column("range_m", Float, nullable=False),
    Column("owner_code", String(64), nullable=False),
    Column("analysis_fps", Float, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("masks", JSON, nullable=False),
    Column("zones", JSON, nullable=False),
    Column("filters", JSON, nullable=False, server_default=text("'{}'")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("revision", Integer, nullable=False),
    Index("ix_camera_registry_owner_code", "owner_code"),
)


def mask_stream_url(url: str | None) -> str | None:
    """``url`` with the password of its user info and credential query parameters as ``***``.

    The user info ends at the *last* ``@`` before the path, so a password holding ``@``, ``/``
    or ``#`` (VMS exports do not always percent-encode it) is hidden whole.

    >>> mask_stream_url("rtsp://admin:p@ss/w#rd@192.168.1.64:554/Streaming/Channels/101")
    'rtsp://admin:***@192.168.1.64:554/Streaming/Channels/101'
    >>> mask_stream_url("http://10.0.0.5/mjpg/video.mjpg?user=ops&pwd=secret")
    'http://10.0.0.5/mjpg/video.mjpg?user=ops&pwd=***'
    >>> mask_stream_url("rtsp://10.0.0.9/live"), mask_stream_url("/srv/clips/gate.mp4")
    ('rtsp://10.0.0.9/live', '/srv/clips/gate.mp4')
    """
    if url is None:
        return None
    match = _SCHEME.match(url)
    if match is None:
        return url
    scheme, rest = match["scheme"], match["rest"]
    at = _userinfo_end(rest)
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}:{MASK}@{rest}" if colon else f"{userinfo}@{rest}"

    def hide(pair: re.Match) -> str:
        return pair["head"] + MASK if SECRET_QUERY.match(pair["name"]) and pair["value"] else pair[0]

    return f"{scheme}://{_QUERY_PAIR.sub(hide, rest)}"


def _userinfo_end(rest: str) -> int:
    """Index in ``rest`` (what follows ``scheme://``) of the ``@`` ending the user info, or -1.

    That is the last ``@`` after which the authority (host, port) holds no ``/``, ``?`` or ``@``;
    failing that (no host after it), the last ``@`` of all, so that a password is never shown.
    """
    last = at = rest.rfind("@")
    while at >= 0:
        host = re.split(r"[/?#]", rest[at + 1 :], maxsplit=1)[0]
        if host and "@" not in host:
            return at
        at = rest.rfind("@", 0, at)
    return last


def has_credentials(url: str | None) -> bool:
    """Whether a stream URL carries a password or a credential parameter."""
    return url is not None and mask_stream_url(url) != url


def _stream(value: object) -> object:
    """A stream URL checked without ever echoing it (it may carry a password)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError("must be a URL string")  # noqa: TRY004 - pydantic wants ValueError
    value = value.strip()
    if any(ord(c) < 32 or ord(c) == 127 or c.isspace() for c in value):
        raise ValueError("must not contain spaces or control characters")
    match = _SCHEME.match(value)
    if match is None:
        if not value.startswith("/"):
            raise ValueError(
                f"must be a URL ({', '.join(s + '://' for s in STREAM_SCHEMES)}) or an absolute path"
            )
        return value
    scheme = match["scheme"].lower()
    if scheme not in STREAM_SCHEMES:
        raise ValueError(f"scheme {scheme!r} is not one of {', '.join(STREAM_SCHEMES)}")
    at = _userinfo_end(match["rest"])
    host = re.split(r"[/?#]", match["rest"][at + 1 :] if at >= 0 else match["rest"], maxsplit=1)[0]
    if not host or "@" in host:
        raise ValueError("has no host")
    return value


PixelPoint = tuple[float, float]


class CameraZone(BaseModel):
    """An area in the camera's view that warning rules can name (as a worker's zone config)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=128)
    kind: str = Field(min_length=1, max_length=64, description="e.g. school, hazmat_parking, crowd_area.")
    polygon: list[tuple[float, float]] = Field(min_length=3, max_length=1000, description="WGS-84 ring [lon, lat].")
    speed_limit_kmh: float | None = Field(None, gt=0, le=200)

    @field_validator("polygon")
    @classmethod
    def _lonlat(cls, ring: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for i, (lon, lat) in enumerate(ring):
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise ValueError(f"point {i} is not a [lon, lat] in range")
        return ring


class CameraInput(BaseModel):
    """A camera as a writer gives it (``POST /api/cameras``, an import row): every field but the
    bookkeeping; ``owner_code`` derived from the position when not given."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN,
                    description="Camera id (a GB/T 28181 device id is 20 digits).")
    name: str = Field("", max_length=200, description="Name shown on the map and the wall; default: the id.")
    stream_main: str | None = Field(None, max_length=2000, description="Main stream URL (may hold credentials).")
    stream_sub: str | None = Field(None, max_length=2000, description="Sub stream URL (may hold credentials).")
    kind: Literal["fixed", "ptz", "drone"] = Field("fixed", description="fixed, ptz or drone.")
    lon: float = Field(ge=-180.0, le=180.0, description="Longitude, WGS-84.")
    lat: float = Field(ge=-90.0, le=90.0, description="Latitude, WGS-84.")
    height_m: float | None = Field(None, gt=0, le=1000, description="Mounting height above the ground, metres.")
    heading_deg: float = Field(ge=0.0, le=360.0, description="Optical axis, degrees clockwise from north.")
    tilt_deg: float | None = Field(None, gt=0.0, lt=90.0, description="Optical axis below the horizon, degrees.")
    hfov_deg: float = Field(gt=0.0, le=360.0, description="Horizontal field of view, degrees.")
    range_m: float = Field(gt=0.0, le=20_000.0, description="How far it usefully sees, metres.")
    owner_code: str | None = Field(None, min_length=1, max_length=64,
                                   description="Jurisdiction code of its owner; default: the grid it stands in.")
    analysis_fps: float = Field(5.0, gt=0, le=60, description="Frames analysed per second.")
    enabled: bool = Field(True, description="Analysed by the workers (when it has a main stream).")
    masks: list[list[PixelPoint]] = Field(default_factory=list, max_length=100,
                                          description="Pixel polygons where detections are ignored.")
    zones: list[CameraZone] = Field(default_factory=list, max_length=100,
                                    description="Areas in view for warning rules.")
    filters: CameraFilters = Field(default_factory=CameraFilters,
                                   description="Object filters per class (min score, track threshold, area, ratio, "
                                   "ground size, masks); '*' for every other class.")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.lower() in RESERVED_IDS:
            raise ValueError(f"{value!r} is reserved (a path of /api/cameras)")
        return value

    @field_validator("stream_main", "stream_sub", mode="before")
    @classmethod
    def _stream_url(cls, value: object) -> object:
        return _stream(value)

    @field_validator("masks")
    @classmethod
    def _masks(cls, masks: list[list[PixelPoint]]) -> list[list[PixelPoint]]:
        check_pixel_polygons(masks)  # a worker refuses any other (video.masks): check it here
        return masks

    def record(self, owner_code: str, *, revision: int = 1, updated_at: datetime | None = None) -> CameraRecord:
        """This input as a stored record with its owner."""
        data = self.model_dump()
        data.update(name=self.name or self.id, owner_code=owner_code, revision=revision,
                    updated_at=updated_at or datetime.now(UTC))
        return CameraRecord.model_validate(data)


class CameraRecord(CameraInput):
    """A stored camera (the boundary type between the registry and its readers)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    owner_code: str = Field(min_length=1, max_length=64, description="Jurisdiction code of its owner.")
    updated_at: datetime = Field(description="When the record last changed (UTC).")
    revision: int = Field(ge=1, description="1 when added, one more on every change.")

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return value  # stored records are read back as they are

    @field_validator("updated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @property
    def analysed(self) -> bool:
        """Whether a worker runs it: enabled and with a main stream."""
        return self.enabled and bool(self.stream_main)

    def as_input(self) -> dict[str, Any]:
        """The writable fields (for an update merged over this record)."""
        return self.model_dump(exclude={"updated_at", "revision"})

    def masked(self) -> dict[str, Any]:
        """The record as JSON with its stream URLs' credentials masked."""
        data = self.model_dump(mode="json")
        data["stream_main"] = mask_stream_url(self.stream_main)
        data["stream_sub"] = mask_stream_url(self.stream_sub)
        return data


class CameraRegistryError(ValueError):
    """A write the registry refuses (the message names the camera and why)."""


class DuplicateCameraError(CameraRegistryError):
    """A camera id that is registered already."""


class UnknownCameraError(LookupError):
    """No camera with this id."""


class StaleRevisionError(CameraRegistryError):
    """An update made against an older revision than the stored one."""


def _row(record: CameraRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    data["updated_at"] = record.updated_at
    return data


def _record(row: Mapping[str, Any]) -> CameraRecord:
    return CameraRecord.model_validate(dict(row))


class CameraRegistry:
    """The ``camera_registry`` table: reads, writes, batches (see the module).

    Every write runs in one transaction; nothing is cached here, so every process reading the
    same database sees the same cameras (the console keeps its own index, rebuilt on changes).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)

    # --- reads ---------------------------------------------------------------------------
    def list(self, ids: Iterable[str] | None = None) -> list[CameraRecord]:
        """Every record (or those of ``ids``), by id."""
        query = select(camera_registry).order_by(camera_registry.c.id)
        if ids is not None:
            query = query.where(camera_registry.c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query).mappings()]

    def get(self, camera_id: str) -> CameraRecord | None:
        """One record, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(camera_registry).where(camera_registry.c.id == camera_id)).mappings().first()
        return None if row is None else _record(row)

    def __len__(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(camera_registry)).scalar_one())

    def fingerprint(self) -> str:
        """A digest of every record's id, revision and time: it changes with any add, change or
        removal (a camera removed and added again under its id has a new time)."""
        query = select(camera_registry.c.id, camera_registry.c.revision, camera_registry.c.updated_at).order_by(
            camera_registry.c.id
        )
        digest = hashlib.sha256()
        with self.engine.connect() as conn:
            for cid, revision, updated in conn.execute(query):
                stamp = updated.replace(tzinfo=None).isoformat() if updated is not None else ""
                digest.update(f"{cid}\x1f{revision}\x1f{stamp}\x1e".encode())
        return digest.hexdigest()

    # --- writes --------------------------------------------------------------------------
    def add(self, record: CameraRecord) -> CameraRecord:
        """Register a new camera (revision 1); :class:`DuplicateCameraError` when its id is taken."""
        record = record.model_copy(update={"revision": 1, "updated_at": datetime.now(UTC)})
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(camera_registry.c.id).where(camera_registry.c.id == record.id)).first():
                    raise DuplicateCameraError(f"camera {record.id!r} is registered already")
                conn.execute(insert(camera_registry), [_row(record)])
        except IntegrityError:  # another writer added it between the check and the insert
            raise DuplicateCameraError(f"camera {record.id!r} is registered already") from None
        return record

    def replace(self, record: CameraRecord, *, expect_revision: int | None = None) -> CameraRecord:
        """Store ``record`` over the camera of its id, one revision up; :class:`UnknownCameraError`
        when there is none, :class:`StaleRevisionError` when ``expect_revision`` is not the stored
        one (someone changed it meanwhile). An identical record is returned unchanged."""
        with self.engine.begin() as conn:
            row = conn.execute(
                select(camera_registry).where(camera_registry.c.id == record.id).with_for_update()
            ).mappings().first()
            if row is None:
                raise UnknownCameraError(f"no camera {record.id!r}")
            current = _record(row)
            if expect_revision is not None and expect_revision != current.revision:
                raise StaleRevisionError(
                    f"camera {record.id!r} is at revision {current.revision}, not {expect_revision}: "
                    "it was changed meanwhile; reload it"
                )
            if current.as_input() == record.as_input():
                return current
            stored = record.model_copy(update={"revision": current.revision + 1, "updated_at": datetime.now(UTC)})
            conn.execute(update(camera_registry).where(camera_registry.c.id == record.id).values(**_row(stored)))
        return stored

    def delete(self, camera_id: str) -> bool:
        """Remove a camera; whether there was one."""
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(camera_registry).where(camera_registry.c.id == camera_id)).rowcount)

    def put_many(self, records: Sequence[CameraRecord]) -> tuple[list[str], list[str]]:
        """Add or replace many cameras in one transaction (an import): ids ``(added, updated)``.

        A camera whose fields are all the same is left as it is (in neither list).
        """
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise CameraRegistryError("the same camera id twice in one batch")
        now = datetime.now(UTC)
        added: list[str] = []
        updated: list[str] = []
        with self.engine.begin() as conn:
            current: dict[str, CameraRecord] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(select(camera_registry).where(camera_registry.c.id.in_(chunk))).mappings()
                current.update({row["id"]: _record(row) for row in rows})
            new_rows = []
            for record in records:
                old = current.get(record.id)
                if old is None:
                    new_rows.append(_row(record.model_copy(update={"revision": 1, "updated_at": now})))
                    added.append(record.id)
                elif old.as_input() != record.as_input():
                    stored = record.model_copy(update={"revision": old.revision + 1, "updated_at": now})
                    where = camera_registry.c.id == record.id
                    conn.execute(update(camera_registry).where(where).values(**_row(stored)))
                    updated.append(record.id)
            if new_rows:
                conn.execute(insert(camera_registry), new_rows)
        return added, updated

    def seed(self, records: Sequence[CameraRecord]) -> int:
        """Fill an empty registry with ``records`` (the first start of a console); how many were
        stored: 0 when it holds cameras already (also when another process seeded it first)."""
        if not records:
            return 0
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(func.count()).select_from(camera_registry)).scalar_one():
                    return 0
                now = datetime.now(UTC)
                conn.execute(insert(camera_registry),
                             [_row(r.model_copy(update={"revision": 1, "updated_at": now})) for r in records])
        except IntegrityError:  # two consoles starting together: the other one seeded it
            return 0
        return len(records)


class RegistryWatch:
    """Calls ``on_change()`` when the registry's :meth:`~CameraRegistry.fingerprint` changes.

    It looks every ``interval_s`` seconds (changes another process made without telling this
    one) and at once after :meth:`poke` (a change announced on the bus). ``on_change`` runs in
    the watch's thread, never in the caller's; :meth:`note` records a fingerprint this process
    has applied already, so its own writes are not reported back to it.
    """

    def __init__(self, registry: CameraRegistry, on_change: Callable[[], None], *, interval_s: float = 5.0,
                 name: str = "camera-registry-watch") -> None:
        self.registry = registry
        self.on_change = on_change
        self.interval_s = interval_s
        self.name = name
        self.seen: str | None = None
        self.checks = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, fingerprint: str) -> None:
        """This fingerprint has been applied (by this process)."""
        with self._lock:
            self.seen = fingerprint

    def check(self) -> bool:
        """Look once; whether ``on_change`` was called."""
        current = self.registry.fingerprint()
        with self._lock:
            self.checks += 1
            if current == self.seen:
                return False
        try:
            self.on_change()
        except Exception:
            log.exception("%s: applying a change of the camera registry failed", self.name)
            return False
        self.note(current)
        return True

    def poke(self, *_: object) -> None:
        """Look now (a bus handler: returns at once)."""
        self._wake.set()

    def start(self) -> RegistryWatch:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval_s if self.interval_s > 0 else None)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:
                log.warning("%s: reading the camera registry failed; trying again in %.0f s", self.name,
                            self.interval_s, exc_info=True)


def registry_cameras(engine: Engine) -> list[CameraRecord]:
    """Every camera of the registry in ``engine``'s database, by id."""
    return CameraRegistry(engine).list()


__all__ = [
    "KINDS",
    "CameraInput",
    "CameraRecord",
    "CameraRegistry",
    "CameraRegistryError",
    "CameraZone",
    "DuplicateCameraError",
    "RegistryWatch",
    "StaleRevisionError",
    "UnknownCameraError",
    "camera_registry",
    "has_credentials",
    "mask_stream_url",
    "registry_cameras",
]
