"""Camera calibrations, versioned: every saved calibration of a camera is kept, the newest applies.

A calibration is what the calibration page saves for a camera: the clicked pairs (``px`` on the
frame, ``lonlat`` on the map), the fitted pixel -> ground homography (its frame origin with it),
the image size the pixels belong to, the mean reprojection error (pixels) and ground error
(metres), and the calibrated ground area (``footprint``: a GeoJSON Polygon, WGS-84) that replaces
the camera's nominal sector in "which cameras see this point". Each save is a new ``version``
(1, 2, ... per camera) in the ``camera_calibrations`` table, with who saved it and when; a
camera removed from the registry takes its calibrations with it (foreign key, cascade). A
calibration is part of its camera's record: saving one moves the camera's registry revision up in
the same transaction, so every reader that follows the registry (the other consoles' indexes,
the workers) notices it as a change of that camera.

This module stores and reads; fitting and the footprint are :mod:`video.calibration`'s.

>>> from zhizhi.layers import make_engine
>>> from zhizhi.layers.camera_registry import CameraInput, CameraRegistry
>>> engine = make_engine("sqlite://")
>>> _ = CameraRegistry(engine).add(CameraInput(id="C1", lon=121.0, lat=32.0, heading_deg=0, hfov_deg=60,
...                                            range_m=100).record("320612001001001"))
>>> store = CameraCalibrations(engine)
>>> square = {"type": "Polygon", "coordinates": [[[121.0, 32.0], [121.001, 32.0], [121.001, 32.001],
...                                                 [121.0, 32.0]]]}
>>> saved = store.save(NewCalibration(
...     camera_id="C1", points=[{"px": [0, 0], "lonlat": [121.0, 32.0]}] * 4, origin=(121.0, 32.0),
...     homography=[[1, 0, 0], [0, 1, 0], [0, 0, 1]], image_size=(1280, 720), reprojection_px=0.4,
...     ground_error_m=0.1, footprint=square), created_by="admin")
>>> saved.version, store.newest("C1").version, [v.version for v in store.versions("C1")]
(1, 1, [1])
>>> CameraRegistry(engine).get("C1").revision  # the camera's record changed with it
2
>>> sorted(store.footprints())
['C1']
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from zhizhi.layers.camera_registry import camera_registry
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata

camera_calibrations = Table(
    "camera_calibrations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("camera_id", String(64), ForeignKey("camera_registry.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("version", Integer, nullable=False),
    Column("points", JSON, nullable=False),
    Column("homography", JSON, nullable=False),
    Column("image_size", JSON, nullable=False),
    Column("reprojection_px", Float, nullable=False),
    Column("ground_error_m", Float, nullable=False),
    Column("footprint", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("camera_id", "version", name="uq_camera_calibrations_camera_version"),
)


class NewCalibration(BaseModel):
    """A calibration to store (what :meth:`CameraCalibrations.save` takes)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    camera_id: str = Field(min_length=1, max_length=64)
    points: list[dict[str, Any]] = Field(min_length=4, max_length=200,
                                         description="The pairs: {px: [x, y], lonlat: [lon, lat]} and their errors.")
    origin: tuple[float, float] = Field(description="(lon, lat) of the metric frame the homography maps into.")
    homography: list[list[float]] = Field(description="3x3 pixel -> frame-metres homography.")
    image_size: tuple[int, int] = Field(description="(width, height) of the frame the pixels belong to.")
    reprojection_px: float = Field(ge=0)
    ground_error_m: float = Field(ge=0)
    footprint: dict[str, Any] = Field(description="The calibrated ground area, a GeoJSON Polygon (WGS-84).")

    @field_validator("homography")
    @classmethod
    def _three_by_three(cls, value: list[list[float]]) -> list[list[float]]:
        if len(value) != 3 or any(len(row) != 3 for row in value):
            raise ValueError("homography must be 3x3")
        return value

    @field_validator("footprint")
    @classmethod
    def _polygon(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("type") != "Polygon":
            raise ValueError(f"footprint must be a GeoJSON Polygon, got {value.get('type')!r}")
        return value


class StoredCalibration(NewCalibration):
    """A stored calibration: its version, when and by whom."""

    version: int = Field(ge=1)
    created_at: datetime
    created_by: str

    @property
    def footprint_geometry(self) -> shapely.Polygon:
        return shapely.from_geojson(json.dumps(self.footprint))

    def summary(self) -> dict[str, Any]:
        """What a list of versions shows of it."""
        return {"version": self.version, "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "reprojection_px": self.reprojection_px, "ground_error_m": self.ground_error_m,
                "points": len(self.points), "image_size": list(self.image_size)}


def _stored(row: Any) -> StoredCalibration:
    homography = row["homography"]
    created = row["created_at"]
    return StoredCalibration(
        camera_id=row["camera_id"], points=row["points"], origin=tuple(homography["origin"]),
        homography=homography["matrix"], image_size=tuple(row["image_size"]), reprojection_px=row["reprojection_px"],
        ground_error_m=row["ground_error_m"], footprint=row["footprint"], version=row["version"],
        created_at=created if created.tzinfo is not None else created.replace(tzinfo=UTC),
        created_by=row["created_by"],
    )


class CameraCalibrations:
    """The ``camera_calibrations`` table (see the module). Nothing is cached: every process
    reading the database sees the same versions."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)

    def save(self, calibration: NewCalibration, *, created_by: str) -> StoredCalibration:
        """Store a new version (one more than the camera's newest) in one transaction.

        A camera that is not in the registry is refused by the foreign key (``IntegrityError``).
        """
        for attempt in range(3):  # two writers of one camera at once: the later takes the next version
            try:
                with self.engine.begin() as conn:
                    newest = conn.execute(
                        select(func.max(camera_calibrations.c.version)).where(
                            camera_calibrations.c.camera_id == calibration.camera_id)
                    ).scalar_one()
                    row = {
                        "camera_id": calibration.camera_id,
                        "version": (newest or 0) + 1,
                        "points": calibration.points,
                        "homography": {"origin": list(calibration.origin), "matrix": calibration.homography},
                        "image_size": list(calibration.image_size),
                        "reprojection_px": calibration.reprojection_px,
                        "ground_error_m": calibration.ground_error_m,
                        "footprint": calibration.footprint,
                        "created_at": datetime.now(UTC),
                        "created_by": created_by,
                    }
                    conn.execute(insert(camera_calibrations), [row])
                    conn.execute(update(camera_registry).where(camera_registry.c.id == calibration.camera_id)
                                 .values(revision=camera_registry.c.revision + 1, updated_at=row["created_at"]))
                return _stored(row)
            except IntegrityError:
                if attempt == 2 or not self._registered(calibration.camera_id):  # no such camera: refused
                    raise
        raise AssertionError("unreachable")

    def _registered(self, camera_id: str) -> bool:
        """Whether the camera is in the registry (then a failed insert lost a race for its version)."""
        with self.engine.connect() as conn:
            return conn.execute(select(camera_registry.c.id).where(camera_registry.c.id == camera_id)).first() \
                is not None

    def newest(self, camera_id: str) -> StoredCalibration | None:
        """The camera's newest calibration, or ``None``."""
        query = (select(camera_calibrations).where(camera_calibrations.c.camera_id == camera_id)
                 .order_by(camera_calibrations.c.version.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _stored(row)

    def get(self, camera_id: str, version: int) -> StoredCalibration | None:
        """One version of the camera's calibrations, or ``None``."""
        query = select(camera_calibrations).where(camera_calibrations.c.camera_id == camera_id,
                                                  camera_calibrations.c.version == version)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _stored(row)

    def versions(self, camera_id: str) -> list[StoredCalibration]:
        """Every version of the camera's calibrations, newest first."""
        query = (select(camera_calibrations).where(camera_calibrations.c.camera_id == camera_id)
                 .order_by(camera_calibrations.c.version.desc()))
        with self.engine.connect() as conn:
            return [_stored(row) for row in conn.execute(query).mappings()]

    def newest_all(self, camera_ids: Iterable[str] | None = None) -> dict[str, StoredCalibration]:
        """The newest calibration of every calibrated camera (or of ``camera_ids``), by camera id."""
        newest = (select(camera_calibrations.c.camera_id, func.max(camera_calibrations.c.version).label("v"))
                  .group_by(camera_calibrations.c.camera_id).subquery())
        table = camera_calibrations.c
        query = select(camera_calibrations).join(
            newest, (table.camera_id == newest.c.camera_id) & (table.version == newest.c.v))
        if camera_ids is not None:
            query = query.where(camera_calibrations.c.camera_id.in_(list(camera_ids)))
        with self.engine.connect() as conn:
            return {row["camera_id"]: _stored(row) for row in conn.execute(query).mappings()}

    def footprints(self) -> dict[str, shapely.Polygon]:
        """Each calibrated camera's newest footprint (WGS-84 polygons), by camera id."""
        return {cid: cal.footprint_geometry for cid, cal in self.newest_all().items()}

    def stamp(self) -> tuple[int, int]:
        """(number of calibrations, newest row id): changes whenever a calibration is saved or a
        camera's calibrations go with it (for a reader that polls)."""
        query = select(func.count(), func.max(camera_calibrations.c.id))
        with self.engine.connect() as conn:
            count, top = conn.execute(query).one()
        return int(count), int(top or 0)


__all__ = ["CameraCalibrations", "NewCalibration", "StoredCalibration", "camera_calibrations"]
