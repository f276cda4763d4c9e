"""Camera tours (视频巡航) and their patrol log: tables ``camera_tours`` and ``tour_log``.

A tour is a named list of stops, each a camera and how long the wall dwells on it (seconds),
owned by one jurisdiction (its creator's): a jurisdiction sees its own tours and those of the
units below it, never a sibling's or an ancestor's (an ancestor's tour may hold cameras it may
not watch). The video screen that runs a tour reports every stop; the console then writes a
patrol log entry with the time, the camera and a JPEG of the camera's newest frame (taken here,
from the workers, never sent by the screen), which the shift report lists by time range.
Entries go with their tour (``ON DELETE CASCADE``); those older than the retention are purged as
new ones are written. Times are epoch seconds.

>>> from zhizhi.layers import make_engine
>>> store = TourStore(make_engine("sqlite://"))
>>> tour = store.create("320612001", TourInput(name="北线", stops=[TourStop(camera_id="C1", dwell_s=10)]), "duty")
>>> [t.name for t in store.list("320612")], store.list("320612002")
(['北线'], [])
>>> entry = store.log(tour, "C1", "main", b"\\xff\\xd8jpeg", "duty", now=100.0)
>>> [e.camera_id for e in store.entries(tour.id, start=0, end=200)], store.snapshot(tour.id, entry.id)[:2]
(['C1'], b'\\xff\\xd8')
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.layers.scope import within_clause

#: A stop's dwell: at least a second (a frame must arrive), at most an hour.
MIN_DWELL_S, MAX_DWELL_S = 1, 3600
#: Stops of one tour (a 16-tile wall cycles at most this many cameras).
MAX_STOPS = 256
#: Patrol log entries older than this are purged as new ones are written (seconds; 30 days).
LOG_RETENTION_S = 30 * 86_400

camera_tours = Table(
    "camera_tours",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(CODE_LENGTH), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("stops", JSON, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
)

tour_log = Table(
    "tour_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tour_id", Integer, ForeignKey("camera_tours.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("ts", Float, nullable=False, index=True),
    Column("camera_id", String(64), nullable=False),
    Column("wall", String(64), nullable=False),
    Column("by", String(64), nullable=False),
    Column("snapshot", LargeBinary, nullable=True),
)


class TourStop(BaseModel):
    """One stop of a tour: the camera and how long it stays on the tile."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(min_length=1, max_length=64)
    dwell_s: int = Field(ge=MIN_DWELL_S, le=MAX_DWELL_S, description="Seconds on the tile.")


class TourInput(BaseModel):
    """A tour as ``POST``/``PUT /api/tours`` take it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    stops: list[TourStop] = Field(min_length=1, max_length=MAX_STOPS)

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(not ch.isprintable() for ch in value):
            raise ValueError("the name must hold no control characters")
        return value


@dataclass(frozen=True)
class Tour:
    """A stored tour."""

    id: int
    code: str
    name: str
    stops: tuple[TourStop, ...]
    created_by: str
    created_ts: float
    updated_ts: float

    def to_dict(self) -> dict:
        return {"id": self.id, "code": self.code, "name": self.name,
                "stops": [s.model_dump() for s in self.stops], "created_by": self.created_by,
                "created_ts": self.created_ts, "updated_ts": self.updated_ts}


@dataclass(frozen=True)
class LogEntry:
    """A patrol log entry (its snapshot is read on its own: :meth:`TourStore.snapshot`)."""

    id: int
    tour_id: int
    ts: float
    camera_id: str
    wall: str
    by: str
    has_snapshot: bool


def _tour(row) -> Tour:
    return Tour(row.id, row.code, row.name, tuple(TourStop.model_validate(s) for s in row.stops), row.created_by,
                row.created_ts, row.updated_ts)


class TourStore:
    """The two tables (see the module); nothing is cached, so every console sees the same tours."""

    def __init__(self, engine: Engine, retention_s: float = LOG_RETENTION_S) -> None:
        self.engine = engine
        self.retention_s = retention_s
        migrate(engine)

    # --- tours

    def create(self, code: str, tour: TourInput, by: str, *, now: float | None = None) -> Tour:
        """Store a new tour of jurisdiction ``code``."""
        now = time.time() if now is None else now
        row = {"code": code, "name": tour.name, "stops": [s.model_dump() for s in tour.stops],
               "created_by": by, "created_ts": now, "updated_ts": now}
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(camera_tours).values(**row)).inserted_primary_key[0]
        return self.get(int(new_id), code)  # type: ignore[return-value]

    def list(self, code: str) -> list[Tour]:
        """The tours ``code`` may see, by name."""
        query = select(camera_tours).where(within_clause(camera_tours.c.code, code)).order_by(
            camera_tours.c.name, camera_tours.c.id)
        with self.engine.connect() as conn:
            return [_tour(r) for r in conn.execute(query)]

    def get(self, tour_id: int, code: str) -> Tour | None:
        """The tour, or ``None`` when there is none or ``code`` may not see it."""
        query = select(camera_tours).where(camera_tours.c.id == tour_id, within_clause(camera_tours.c.code, code))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _tour(row)

    def replace(self, tour_id: int, code: str, tour: TourInput, *, now: float | None = None) -> Tour | None:
        """Change a tour's name and stops (``None``: no such tour for ``code``)."""
        values = {"name": tour.name, "stops": [s.model_dump() for s in tour.stops],
                  "updated_ts": time.time() if now is None else now}
        with self.engine.begin() as conn:
            changed = conn.execute(update(camera_tours).where(
                camera_tours.c.id == tour_id, within_clause(camera_tours.c.code, code)).values(**values)).rowcount
        return self.get(tour_id, code) if changed else None

    def delete(self, tour_id: int, code: str) -> bool:
        """Remove a tour with its log; whether there was one ``code`` may see."""
        with self.engine.begin() as conn:
            conn.execute(delete(tour_log).where(tour_log.c.tour_id.in_(
                select(camera_tours.c.id).where(camera_tours.c.id == tour_id,
                                                within_clause(camera_tours.c.code, code)))))
            return bool(conn.execute(delete(camera_tours).where(
                camera_tours.c.id == tour_id, within_clause(camera_tours.c.code, code))).rowcount)

    # --- the patrol log

    def log(self, tour: Tour, camera_id: str, wall: str, snapshot: bytes | None, by: str, *,
            now: float | None = None) -> LogEntry:
        """Record a stop of ``tour`` (purging entries past the retention)."""
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            conn.execute(delete(tour_log).where(tour_log.c.ts < now - self.retention_s))
            new_id = conn.execute(insert(tour_log).values(
                tour_id=tour.id, ts=now, camera_id=camera_id, wall=wall, by=by, snapshot=snapshot,
            )).inserted_primary_key[0]
        return LogEntry(int(new_id), tour.id, now, camera_id, wall, by, snapshot is not None)

    def entries(self, tour_id: int, *, start: float, end: float, limit: int = 10_000) -> list[LogEntry]:
        """The tour's entries with ``start <= ts < end``, oldest first."""
        query = (select(tour_log.c.id, tour_log.c.tour_id, tour_log.c.ts, tour_log.c.camera_id, tour_log.c.wall,
                        tour_log.c.by, tour_log.c.snapshot.is_not(None).label("has_snapshot"))
                 .where(tour_log.c.tour_id == tour_id, tour_log.c.ts >= start, tour_log.c.ts < end)
                 .order_by(tour_log.c.ts, tour_log.c.id).limit(limit))
        with self.engine.connect() as conn:
            return [LogEntry(r.id, r.tour_id, r.ts, r.camera_id, r.wall, r.by, bool(r.has_snapshot))
                    for r in conn.execute(query)]

    def snapshot(self, tour_id: int, entry_id: int) -> bytes | None:
        """The JPEG of an entry of the tour, or ``None``."""
        query = select(tour_log.c.snapshot).where(tour_log.c.id == entry_id, tour_log.c.tour_id == tour_id)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()


__all__ = ["MAX_DWELL_S", "MAX_STOPS", "MIN_DWELL_S", "LogEntry", "Tour", "TourInput", "TourStop", "TourStore",
           "camera_tours", "tour_log"]
