"""A worker's cameras from the camera registry, kept current while it runs.

Every camera of the registry that is enabled and has a main stream becomes a
:class:`~video.camera_config.CameraConfig` (:func:`camera_config`: source, analysis rate,
placement, zones, masks, object filters, the newest calibration). A :class:`RegistryFeed` hands
the list to ``apply`` when it starts and again after every change of the registry: announced on
the bus (``Topic.CAMERAS``, from the console that wrote it) or noticed by polling (a change made
by a process without a bus). Given ``Worker.set_cameras`` as ``apply``, a running worker starts
an added camera, stops a disabled or removed one and restarts one whose stream, placement, masks
or filters changed, the others untouched.

>>> from datetime import UTC, datetime
>>> from zhizhi.layers.camera_registry import CameraRecord
>>> record = CameraRecord(id="C1", name="东门", lon=120.86, lat=32.01, heading_deg=90, hfov_deg=60,
...     range_m=200, owner_code="320612001001001", stream_main="rtsp://10.0.0.9/ch1",
...     updated_at=datetime.now(UTC), revision=1)
>>> config = camera_config(record)
>>> config.source.resolved_kind, config.analysis_fps, config.heading_deg
('rtsp', 5.0, 90.0)
>>> worker_configs([record.model_copy(update={"enabled": False})])
[]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Engine

from zhizhi.bus import Topic
from zhizhi.layers.camera_calibrations import CameraCalibrations, StoredCalibration
from zhizhi.layers.camera_registry import CameraRecord, CameraRegistry, RegistryWatch, mask_stream_url
from zhizhi.video.calibration import Calibration
from zhizhi.video.camera_config import CameraConfig, DroneCamera, SourceConfig, ZoneConfig
from zhizhi.video.object_filters import ObjectFilters

log = logging.getLogger(__name__)
Subscribe = Callable[[str, Callable[[Any], None]], Any]  # returns something with cancel()


def stored_calibration(stored: StoredCalibration) -> Calibration:
    """A calibration version of the store as the worker's :class:`Calibration`."""
    return Calibration(
        pixels=[tuple(p["px"]) for p in stored.points], lonlats=[tuple(p["lonlat"]) for p in stored.points],
        origin=stored.origin, homography=stored.homography, reprojection_error_px=stored.reprojection_px,
        ground_error_m=stored.ground_error_m, image_size=stored.image_size,
    )


def newest_calibrations(engine: Engine) -> dict[str, Calibration]:
    """Each calibrated camera's newest calibration (:mod:`layers.camera_calibrations`), by id."""
    return {cid: stored_calibration(s) for cid, s in CameraCalibrations(engine).newest_all().items()}


def camera_config(record: CameraRecord, calibration: Calibration | None = None) -> CameraConfig:
    """How a worker runs a registry camera (its main stream; files loop, as recorded streams),
    geolocating through ``calibration`` (its newest, saved on the calibration page) when given."""
    source = SourceConfig(url=record.stream_main or "")
    if source.resolved_kind in ("file", "images"):
        source = source.model_copy(update={"loop": True})
    extra: dict[str, Any] = {}
    if "masks" in CameraConfig.model_fields:  # detections inside are dropped (the calibration page draws them)
        extra["masks"] = [list(map(tuple, ring)) for ring in record.masks]
    drone = None
    if record.kind == "drone":  # geolocated through the drone's telemetry, reported under the camera's id
        drone = DroneCamera(drone_id=record.id, hfov_deg=min(record.hfov_deg, 170.0))
    return CameraConfig(
        id=record.id,
        name=record.name,
        source=source,
        analysis_fps=record.analysis_fps,
        lon=record.lon,
        lat=record.lat,
        heading_deg=record.heading_deg,
        hfov_deg=record.hfov_deg,
        range_m=record.range_m,
        zones=[ZoneConfig.model_validate(zone.model_dump()) for zone in record.zones],
        drone=drone,
        calibration=calibration if drone is None else None,
        filters=ObjectFilters.model_validate(record.filters.model_dump()),  # the record's are the same model
        **extra,
    )


def worker_configs(records: Iterable[CameraRecord],
                   calibrations: Mapping[str, Calibration] | None = None) -> list[CameraConfig]:
    """The configs of the cameras a worker runs: enabled and with a main stream, by id (each
    with its calibration in ``calibrations``, by camera id)."""
    calibrations = calibrations or {}
    configs = []
    for record in sorted(records, key=lambda r: r.id):
        if not record.analysed:
            continue
        try:
            configs.append(camera_config(record, calibrations.get(record.id)))
        except ValueError as exc:  # a record the worker cannot run: said once per change, never fatal
            log.warning("camera %s (%s) cannot be run: %s", record.id, mask_stream_url(record.stream_main),
                        exc.__class__.__name__)
    return configs


class RegistryFeed:
    """Hands ``apply`` the registry's analysed cameras at start and after every change (see the
    module). ``subscribe`` is the bus's (``None``: polling only, every ``interval_s``)."""

    def __init__(self, registry: CameraRegistry, apply: Callable[[list[CameraConfig]], Any], *,
                 subscribe: Subscribe | None = None, interval_s: float = 5.0) -> None:
        self.registry = registry
        self.apply = apply
        self.subscribe = subscribe
        self.configs: dict[str, CameraConfig] = {}
        self.changes = 0
        self.watch = RegistryWatch(registry, self.refresh, interval_s=interval_s, name="worker-cameras")
        self._subscription = None

    def refresh(self) -> list[CameraConfig]:
        """Read the registry and hand its analysed cameras to ``apply`` (when they changed)."""
        fingerprint = self.registry.fingerprint()
        configs = worker_configs(self.registry.list(), newest_calibrations(self.registry.engine))
        by_id = {c.id: c for c in configs}
        if by_id != self.configs or self.changes == 0:
            self.configs = by_id
            self.changes += 1
            log.info("cameras from the registry: %s", ", ".join(by_id) or "none")
            self.apply(configs)
        self.watch.note(fingerprint)
        return configs

    def start(self) -> RegistryFeed:
        """Apply the registry's cameras now, then follow its changes."""
        self.refresh()
        if self.subscribe is not None:
            self._subscription = self.subscribe(Topic.CAMERAS, self.watch.poke)
        self.watch.start()
        return self

    def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        self.watch.stop()


__all__ = ["RegistryFeed", "camera_config", "newest_calibrations", "stored_calibration", "worker_configs"]
