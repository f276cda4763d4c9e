"""The console's cameras: the camera registry behind ``state.cameras``, and who may write what.

- **Seeding.** A console whose registry is empty fills it from the stored ``cameras`` layer (the
  demo district's cameras: position, heading, field of view, range, grid) when it starts
  (:func:`open_camera_registry`); from then on the registry is the source of truth and the
  layer is not read again.
- **The index.** :func:`camera_index` builds the :class:`~gis.cameras.CameraIndex` of every
  registry camera (the owner code is the camera's ``grid``, so the scoping of
  ``/api/cameras/covering`` and ``/fov`` is unchanged); ``state.reload_cameras()`` rebuilds it
  after every change: this console's own writes at once, other processes' through the bus
  (``Topic.CAMERAS``) or, without a bus message, within :data:`CAMERA_POLL_S`.
- **Owners.** A camera's owner is the grid its position lies in unless the writer names a unit;
  either way it must lie within the writer's jurisdiction (:func:`owner_for`): 403 otherwise, a
  town never registers, changes or sees another town's cameras.
- **Secrets.** Stream URLs go out whole only to admins (:func:`camera_json`); a writer that
  sends a URL back as it was shown (``rtsp://user:***@host/...``) keeps the stored password
  (:func:`unmask_stream_url`).
- **Imports.** :func:`import_cameras` checks a VMS or GB/T 28181 export row by row
  (:mod:`layers.camera_import`), decides each row's owner and action (add, update, unchanged)
  and stores all rows in one transaction, or nothing when a row is wrong or it is a dry run.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from zhizhi.gis.cameras import Camera, CameraIndex
from zhizhi.gis.codes import is_within
from zhizhi.gis.jurisdiction import Jurisdictions, OutsideDistrictError
from zhizhi.layers import LayerRegistry, Scope
from zhizhi.layers.camera_import import CameraRow
from zhizhi.layers.camera_registry import (
    MASK,
    CameraInput,
    CameraRecord,
    CameraRegistry,
    mask_stream_url,
)

log = logging.getLogger(__name__)
#: How often a console looks for camera changes another process made without a bus message.
CAMERA_POLL_S = 5.0
#: The index's status of a camera taken out of service (the map draws it in amber).
DISABLED_STATUS = "maintenance"


class CameraWriteError(Exception):
    """A camera write refused: HTTP ``status`` (403, 404, 409, 422), the ``field`` at fault."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def detail(self) -> list[dict[str, Any]] | str:
        if self.status == 422:
            return [{"loc": ["body", self.field], "msg": self.message, "type": "value_error"}]
        return self.message


# --- seeding and the index ----------------------------------------------------------------------


def records_from_layer(layers: LayerRegistry, jurisdictions: Jurisdictions) -> list[CameraRecord]:
    """The stored ``cameras`` layer as registry records (none when there is no such layer)."""
    everything = Scope.everything()
    if not any(info.name == "cameras" for info in layers.list_layers(everything)):
        return []
    table = layers.read_features("cameras", everything)
    records = []
    for row, geom in zip(table.drop(columns="geometry").to_dict("records"), table.geometry.values):
        grid = row.get("grid")
        owner = grid if isinstance(grid, str) and grid in jurisdictions else _locate(jurisdictions, geom.x, geom.y)
        kind = str(row.get("kind") or "fixed").lower()
        records.append(CameraInput(
            id=str(row["id"]),
            name=str(row.get("name") or row["id"]),
            kind=kind if kind in ("fixed", "ptz", "drone") else "fixed",
            lon=geom.x,
            lat=geom.y,
            heading_deg=float(row["heading_deg"]) % 360.0,
            hfov_deg=float(row["hfov_deg"]),
            range_m=float(row["range_m"]),
        ).record(owner or jurisdictions.district_code))
    return records


def _locate(jurisdictions: Jurisdictions, lon: float, lat: float) -> str | None:
    try:
        return jurisdictions.locate(lon, lat).grid
    except (OutsideDistrictError, ValueError):
        return None


def open_camera_registry(engine: Engine, layers: LayerRegistry, jurisdictions: Jurisdictions) -> CameraRegistry:
    """The console's camera registry, filled from the ``cameras`` layer when it is empty."""
    registry = CameraRegistry(engine)
    if len(registry) == 0:
        seeded = registry.seed(records_from_layer(layers, jurisdictions))
        if seeded:
            log.info("camera registry seeded with the %d cameras of the stored cameras layer", seeded)
    return registry


def camera_of(record: CameraRecord, status: str = "unknown") -> Camera:
    """A registry camera as the index holds it (its owner as its grid)."""
    return Camera(
        id=record.id,
        name=record.name,
        lon=record.lon,
        lat=record.lat,
        heading_deg=record.heading_deg,
        hfov_deg=record.hfov_deg,
        range_m=record.range_m,
        grid=record.owner_code,
        kind=record.kind,
        status=status if record.enabled else DISABLED_STATUS,
        height_m=record.height_m,
        tilt_deg=record.tilt_deg,
    )


def camera_index(records: list[CameraRecord]) -> CameraIndex:
    """The index of every registry camera (disabled ones too: they are still on the map)."""
    return CameraIndex([camera_of(r) for r in records])


# --- writes: owner, access, secrets --------------------------------------------------------------


def owner_for(camera: CameraInput, jurisdictions: Jurisdictions, writer_code: str) -> str:
    """The owner of a camera a writer of ``writer_code`` gives: the named unit, else the grid
    its position lies in; :class:`CameraWriteError` 422 for an unknown unit or a position outside
    the district, 403 for an owner outside the writer's jurisdiction."""
    if camera.owner_code is not None:
        owner = camera.owner_code
        if owner not in jurisdictions:
            raise CameraWriteError(422, "owner_code", f"{owner!r} is not a unit of district "
                                                      f"{jurisdictions.district_code}")
    else:
        owner = _locate(jurisdictions, camera.lon, camera.lat)
        if owner is None:
            raise CameraWriteError(
                422, "lon", f"({camera.lon:.6f}, {camera.lat:.6f}) is outside district {jurisdictions.district_code}: "
                "check the coordinates (and their CRS), or name the owner_code")
    if not is_within(owner, writer_code):  # (the other unit is not named: a town learns nothing of another)
        where = "owner_code" if camera.owner_code is not None else "lon"
        raise CameraWriteError(403, where, f"camera {camera.id!r} would belong to a unit outside your jurisdiction "
                                           f"{writer_code}")
    return owner


def check_access(record: CameraRecord, writer_code: str) -> None:
    """403 unless the camera belongs to the writer's jurisdiction."""
    if not is_within(record.owner_code, writer_code):
        raise CameraWriteError(403, "id", f"camera {record.id!r} belongs to another jurisdiction, outside yours "
                                          f"({writer_code})")


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>.*)@(?P<rest>[^@]*)$",
                       re.DOTALL)


def unmask_stream_url(new: str | None, old: str | None) -> str | None:
    """``new`` with the stored password put back where it is shown masked (a form that sends a
    URL back as it read it); ``new`` itself otherwise.

    >>> old = "rtsp://admin:Pa55@10.0.0.9:554/ch1"
    >>> unmask_stream_url("rtsp://admin:***@10.0.0.9:554/ch1", old) == old
    True
    >>> unmask_stream_url("rtsp://admin:***@10.0.0.10:554/ch1", old)
    'rtsp://admin:Pa55@10.0.0.10:554/ch1'
    """
    if new is None or old is None or MASK not in new:
        return new
    if new == mask_stream_url(old):
        return old
    fresh, stored = _USERINFO.match(new), _USERINFO.match(old)
    if fresh is not None and stored is not None and fresh["pw"] == MASK and fresh["user"] == stored["user"]:
        return f"{fresh['scheme']}{fresh['user']}:{stored['pw']}@{fresh['rest']}"
    return new


def camera_json(record: CameraRecord, *, secrets: bool, status: str | None = None) -> dict[str, Any]:
    """A camera as the API answers: stream URLs whole only with ``secrets`` (admins)."""
    data = record.model_dump(mode="json") if secrets else record.masked()
    data["status"] = status or ("disabled" if not record.enabled else "unknown")
    return data


# --- the registry's cameras analysed in the console's process ------------------------------------


class RegistryWorker:
    """The registry's analysed cameras (enabled, with a main stream) run by a worker in the
    console's process, following the registry's changes while it runs
    (:class:`~video.registry_feed.RegistryFeed`). The worker (and its detector) is made when the
    first such camera appears; it publishes on the console's bus like the demo's workers, and its
    frames reach the wall through ``state.workers``."""

    def __init__(self, state: Any) -> None:
        from zhizhi.video.registry_feed import RegistryFeed

        self.state = state
        self.worker: Any = None
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.failed: str | None = None  # why the worker could not be made (its detector)
        self.site_detectors = None  # the cameras' own promoted detectors (models.detector.site.serving)
        self._lock = threading.Lock()
        self.feed = RegistryFeed(state.camera_registry, self.apply, subscribe=state.bus.subscribe,
                                 interval_s=CAMERA_POLL_S)

    @property
    def camera_ids(self) -> list[str]:
        return self.worker.camera_ids if self.worker is not None else []

    def apply(self, configs: list) -> None:
        """Run exactly ``configs`` (the first ones make the worker)."""
        with self._lock:
            if self.stop_event.is_set():
                return
            if self.worker is None:
                if not configs or self.failed is not None:
                    return
                self.worker = self._make_worker()
                if self.worker is None:
                    return
            change = self.worker.set_cameras(configs)
            if change.added or change.removed:
                log.info("registry cameras in this console: started %s, stopped %s",
                         ", ".join(change.added) or "none", ", ".join(change.removed) or "none")

    def _make_worker(self) -> Any:
        from zhizhi.video.detectors import DetectorError, detector_for
        from zhizhi.video.worker import Worker

        settings = self.state.settings
        d = settings.detector
        try:
            detector = detector_for(d)  # behind the motion gate unless d.gate.enabled is off
        except (DetectorError, FileNotFoundError, OSError) as exc:
            self.failed = str(exc)
            log.error("the registry's cameras are not analysed: the detector cannot load: %s", exc)
            return None
        from zhizhi.console.state import MODEL_POLL_S
        from zhizhi.models.detector.site.serving import serve_site_detectors

        # a camera with a promoted site detector (zhizhi adapt) runs its own weights
        detector, self.site_detectors = serve_site_detectors(detector, self.state.models, settings,
                                                             subscribe=self.state.bus.subscribe,
                                                             interval_s=MODEL_POLL_S)
        worker = Worker([], detector, self.state.bus.publish, evidence=self.state.evidence_recorder(),
                        subscribe=self.state.bus.subscribe, jpeg_quality=settings.worker.jpeg_quality)
        self.thread = threading.Thread(target=worker.run, args=(self.stop_event,), name="registry-worker",
                                       daemon=True)
        self.thread.start()
        self.state.workers.append(worker)
        return worker

    def start(self) -> RegistryWorker:
        self.feed.start()
        return self

    def stop(self) -> None:
        self.feed.stop()
        if self.site_detectors is not None:
            self.site_detectors.stop()
        with self._lock:
            self.stop_event.set()
            worker, thread = self.worker, self.thread
        if thread is not None:
            thread.join(timeout=10)
        if worker is not None:
            worker.close()


# --- imports ------------------------------------------------------------------------------------


@dataclass
class ImportPlan:
    """What an import would store: the report, and the records when every row is good."""

    report: dict[str, Any]
    records: list[CameraRecord]
    actions: list[str]  # each record's: add, update, unchanged

    @property
    def valid(self) -> bool:
        return self.report["errors"] == 0


def plan_import(rows: list[CameraRow], registry: CameraRegistry, jurisdictions: Jurisdictions,
                writer_code: str) -> ImportPlan:
    """Each row's owner and action (add, update, unchanged), or its errors (row and field)."""
    existing = {r.id: r for r in registry.list(ids=[row.camera.id for row in rows if row.camera is not None])}
    items: list[dict[str, Any]] = []
    records: list[CameraRecord] = []
    actions: list[str] = []
    counts = {"added": 0, "updated": 0, "unchanged": 0, "skipped": 0, "errors": 0}
    for row in rows:
        item: dict[str, Any] = {"row": row.number, "id": row.camera.id if row.camera else row.raw_id,
                                "action": None, "owner_code": None, "errors": [], "warnings": list(row.warnings)}
        errors = [{"field": f, "message": m} for f, m in row.errors]
        if row.skipped is not None:
            item["action"] = "skip"
            item["warnings"].append(row.skipped)
            counts["skipped"] += 1
        elif row.camera is not None and not errors:
            camera = row.camera
            old = existing.get(camera.id)
            try:
                if old is not None:
                    check_access(old, writer_code)
                    merged = {**old.as_input(), **{k: getattr(camera, k) for k in row.given}}
                    if "owner_code" not in row.given and ({"lon", "lat"} & row.given):
                        merged["owner_code"] = None  # moved: its owner follows its position
                    for key in ("stream_main", "stream_sub"):
                        merged[key] = unmask_stream_url(merged[key], getattr(old, key))
                    camera = CameraInput.model_validate({**merged, "id": camera.id})
                owner = owner_for(camera, jurisdictions, writer_code)
            except CameraWriteError as exc:
                errors.append({"field": exc.field, "message": exc.message})
            else:
                record = camera.record(owner)
                item["owner_code"] = owner
                if old is None:
                    item["action"] = "add"
                elif old.as_input() == record.as_input():
                    item["action"] = "unchanged"
                else:
                    item["action"] = "update"
                counts[{"add": "added", "update": "updated"}.get(item["action"], "unchanged")] += 1
                records.append(record)
                actions.append(item["action"])
        if errors:
            item["action"] = "error"
            item["errors"] = errors
            counts["errors"] += 1
        items.append(item)
    report = {"rows": len(rows), **counts, "stored": False, "items": items}
    return ImportPlan(report, records, actions)


def import_cameras(rows: list[CameraRow], registry: CameraRegistry, jurisdictions: Jurisdictions,
                   writer_code: str, *, dry_run: bool = True) -> ImportPlan:
    """Check an import and, unless ``dry_run`` or a row is wrong, store it in one transaction."""
    plan = plan_import(rows, registry, jurisdictions, writer_code)
    if not plan.records and plan.valid and plan.report["skipped"] == 0:
        plan.report["errors"] = 1
        plan.report["items"].append({"row": 0, "id": None, "action": "error", "owner_code": None, "warnings": [],
                                     "errors": [{"field": "(file)", "message": "no cameras in the file"}]})
    if dry_run or not plan.valid:
        return plan
    changed = [r for r, action in zip(plan.records, plan.actions) if action != "unchanged"]
    if changed:
        registry.put_many(changed)
    plan.report["stored"] = True
    return plan


__all__ = [
    "CAMERA_POLL_S",
    "CameraWriteError",
    "ImportPlan",
    "RegistryWorker",
    "camera_index",
    "camera_json",
    "camera_of",
    "check_access",
    "import_cameras",
    "open_camera_registry",
    "owner_for",
    "plan_import",
    "records_from_layer",
    "unmask_stream_url",
]
