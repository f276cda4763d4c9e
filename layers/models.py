"""ORM tables of the layer registry: one row per layer, one row per feature.

Feature geometries are WKB in WGS-84 lon/lat; their bounds are stored beside them so that
bounding-box reads pre-filter in SQL before the exact shapely test.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers import schema

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
VISIBILITIES = ("shared", "private")


def utcnow() -> datetime:
    """Timezone-aware now (UTC)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that reads back timezone-aware UTC on every backend.

    SQLite keeps no offset (it stores the UTC wall clock and returns it naive); PostgreSQL
    returns ``timestamptz`` in the session's time zone. Both come back as UTC-aware here, so a
    layer's ``created_at``/``updated_at`` read the same on either.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the registry's tables (on every store's one :data:`.schema.metadata`)."""

    metadata = schema.metadata


class Layer(Base):
    """A named layer: metadata, style and the jurisdiction that owns it."""

    __tablename__ = "layers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    geometry_type: Mapped[str] = mapped_column(String(32))
    style: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    owner_code: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    visibility: Mapped[str] = mapped_column(String(8), default="shared")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fields: Mapped[list[str]] = mapped_column(JSON, default=list)
    feature_count: Mapped[int] = mapped_column(Integer, default=0)
    minx: Mapped[float | None] = mapped_column(Float)
    miny: Mapped[float | None] = mapped_column(Float)
    maxx: Mapped[float | None] = mapped_column(Float)
    maxy: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feature(Base):
    """One feature of a layer: jurisdiction code, properties and WGS-84 WKB geometry."""

    __tablename__ = "layer_features"
    __table_args__ = (
        Index("ix_layer_features_layer_fid", "layer_id", "fid", unique=True),
        Index("ix_layer_features_layer_code", "layer_id", "code"),
        Index("ix_layer_features_minx", "layer_id", "minx"),
        Index("ix_layer_features_maxx", "layer_id", "maxx"),
        Index("ix_layer_features_miny", "layer_id", "miny"),
        Index("ix_layer_features_maxy", "layer_id", "maxy"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"))
    fid: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), index=True)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    geometry: Mapped[bytes] = mapped_column(LargeBinary)
    minx: Mapped[float] = mapped_column(Float)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)


__all__ = [
    "KIND_PATTERN",
    "NAME_PATTERN",
    "VISIBILITIES",
    "Base",
    "Feature",
    "Layer",
    "UTCDateTime",
]
