"""The hazardous-chemical vehicle registry: who may carry what, where and when.

:class:`HazmatVehicle` is the contract of ``POST /api/hazmat/vehicles``: a registered vehicle,
its cargo (UN number, hazard class), its approved route (a WGS-84 GeoJSON LineString) with the
corridor around it in metres, and its permitted daily hours (local time, ``"HH:MM-HH:MM"``, may
pass midnight). :class:`HazmatRegistry` stores them in the ``hazmat_vehicles`` table (SQLite or
PostgreSQL), imports CSV and GeoJSON all-or-nothing, and tells a jurisdiction which vehicles it
sees: those whose route meets its geometry.

>>> v = HazmatVehicle.model_validate({
...     "vehicle_id": "V1", "plate": "苏F·D1234", "company": "通州危运", "un_number": "1203",
...     "hazard_class": "3", "corridor_m": 200, "permitted_hours": "22:00-06:00",
...     "route": {"type": "LineString", "coordinates": [[120.90, 32.00], [120.95, 32.01]]}})
>>> v.line.length > 0, v.window
(True, (1320, 360))
>>> HazmatVehicle.model_validate({**v.model_dump(), "un_number": "12A3"})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for HazmatVehicle
un_number
  String should match pattern '^[0-9]{4}$' ...
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Engine,
    Float,
    String,
    Table,
    delete,
    insert,
    select,
)

from zhizhi.gis.metric import MetricFrame
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.layers.scope import Scope

FIELDS = (
    "vehicle_id",
    "plate",
    "company",
    "un_number",
    "hazard_class",
    "route",
    "corridor_m",
    "permitted_hours",
)
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")

hazmat_vehicles = Table(
    "hazmat_vehicles",
    metadata,
    Column("vehicle_id", String(64), primary_key=True),
    Column("plate", String(16), nullable=False),
    Column("company", String(200), nullable=False),
    Column("un_number", String(4), nullable=False),
    Column("hazard_class", String(8), nullable=False),
    Column("route", JSON, nullable=False),
    Column("corridor_m", Float, nullable=False),
    Column("permitted_hours", String(11), nullable=False),
    Column("minx", Float, nullable=False),
    Column("miny", Float, nullable=False),
    Column("maxx", Float, nullable=False),
    Column("maxy", Float, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def parse_hours(text: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` to (start, end) minutes of the day; the end may be 24:00 or pass midnight.

    >>> parse_hours("06:00-22:00"), parse_hours("20:00-06:00"), parse_hours("00:00-24:00")
    ((360, 1320), (1200, 360), (0, 1440))
    """
    match = _HOURS.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM (e.g. 06:00-22:00)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 1440:
        raise ValueError(f"{text!r}: the end is after 24:00")
    if start == end:
        raise ValueError(f"{text!r} is an empty window (start equals end)")
    return start, end


def _route_dict(value: object) -> dict[str, Any]:
    """A GeoJSON LineString checked point by point; returned with 2-D coordinates."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"route is not GeoJSON: {exc.msg}") from None
        except (ValueError, RecursionError):
            raise ValueError("route is not GeoJSON (nested too deeply, or a number too long)") from None
    if not isinstance(value, dict):
        raise ValueError("route must be a GeoJSON LineString object")  # noqa: TRY004 (pydantic)
    if value.get("type") != "LineString":
        raise ValueError(f"route type must be LineString, got {value.get('type')!r}")
    coords = value.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise ValueError("route needs at least 2 positions in coordinates")
    out = []
    for i, pos in enumerate(coords):
        if not isinstance(pos, (list, tuple)) or len(pos) not in (2, 3):
            raise ValueError(f"route position {i} must be [lon, lat]")
        if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in pos):
            raise ValueError(f"route position {i} holds a non-number")
        lon, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise ValueError(f"route position {i} is not finite")
        if not -180.0 <= lon <= 180.0:
            raise ValueError(f"route position {i}: longitude {lon} is outside -180..180")
        if not -90.0 <= lat <= 90.0:
            raise ValueError(f"route position {i}: latitude {lat} is outside -90..90")
        out.append([lon, lat])
    line = shapely.LineString(out)
    if line.length == 0 or not line.is_valid:
        raise ValueError("route is degenerate (all positions are the same)")
    return {"type": "LineString", "coordinates": out}


class HazmatVehicle(BaseModel):
    """A registered hazardous-chemical vehicle (contract of ``POST /api/hazmat/vehicles``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    vehicle_id: str = Field(min_length=1, max_length=64, description="Id its telemetry reports.")
    plate: str = Field(min_length=1, max_length=16, description="Number plate, e.g. 苏F·D1234.")
    company: str = Field(min_length=1, max_length=200, description="Carrier company.")
    un_number: str = Field(pattern=r"^[0-9]{4}$", description="UN number of the cargo, e.g. 1203.")
    hazard_class: str = Field(
        pattern=r"^[1-9](\.[1-6])?$", description="UN hazard class or division, e.g. 3, 2.1, 8."
    )
    route: dict[str, Any] = Field(description="Approved route: GeoJSON LineString, WGS-84.")
    corridor_m: float = Field(
        ge=10, le=5000, allow_inf_nan=False, description="Half-width of the corridor."
    )
    permitted_hours: str = Field(description="Local daily window, HH:MM-HH:MM (may pass midnight).")

    @field_validator("un_number", mode="before")
    @classmethod
    def _un_as_text(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10_000:
            return f"{value:04d}"  # UN0004 read as the number 4 by a spreadsheet
        return value

    @field_validator("hazard_class", mode="before")
    @classmethod
    def _class_as_text(cls, value: object) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:g}"
        return value

    @field_validator("route", mode="before")
    @classmethod
    def _route(cls, value: object) -> dict[str, Any]:
        return _route_dict(value)

    @field_validator("permitted_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @cached_property
    def line(self) -> shapely.LineString:
        """The route as a shapely line (WGS-84)."""
        return shapely.LineString(self.route["coordinates"])

    @cached_property
    def window(self) -> tuple[int, int]:
        """Permitted hours as (start, end) minutes of the local day."""
        return parse_hours(self.permitted_hours)

    def permitted_at(self, minute: int) -> bool:
        """Whether a minute of the local day is within the permitted hours."""
        start, end = self.window
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end

    def corridor(self) -> shapely.Polygon:
        """The corridor: the route buffered by ``corridor_m`` metres (WGS-84)."""
        frame = MetricFrame.for_geometry(self.line)
        return frame.buffer_m(self.line, self.corridor_m)


def visible_to(vehicle: HazmatVehicle, scope: Scope) -> bool:
    """Whether a jurisdiction sees a vehicle: its route meets the scope's geometry.

    :meth:`Scope.everything` sees all; a scope without geometry sees none.
    """
    if scope.is_everything:
        return True
    if scope.geometry is None:
        return False
    return bool(shapely.intersects(vehicle.line, scope.geometry))


@dataclass(frozen=True)
class ImportProblem:
    """What is wrong in an import: the row (CSV, from 1 after the header) or feature number."""

    number: int
    field: str
    reason: str


class HazmatImportError(ValueError):
    """An import refused as a whole; ``problems`` names each bad row/feature and field."""

    def __init__(self, unit: str, problems: list[ImportProblem]) -> None:
        self.unit = unit
        self.problems = problems
        shown = "\n".join(
            f"  {unit} {p.number}: {p.field}: {p.reason}"
            if p.number
            else f"  {p.field}: {p.reason}"
            for p in problems[:20]
        )
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"hazmat import refused, nothing stored:\n{shown}{more}")


def _problems(number: int, exc: ValidationError) -> list[ImportProblem]:
    out = []
    for e in exc.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(row)"
        out.append(ImportProblem(number, field, e["msg"]))
    return out


def _route_text(text: str) -> object:
    """A CSV route cell: GeoJSON text or WKT LINESTRING, as a GeoJSON dict for validation."""
    text = text.strip()
    if text.startswith("{"):
        return text
    try:
        geom = shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise ValueError(f"route is neither GeoJSON nor WKT: {exc}") from None
    if geom is None or geom.geom_type != "LineString":
        raise ValueError(
            f"route WKT must be a LINESTRING, got {getattr(geom, 'geom_type', 'nothing')}"
        )
    return json.loads(shapely.to_geojson(geom))


class HazmatRegistry:
    """Registered hazmat vehicles in one database, with an in-memory copy for fast lookups.

    The copy is loaded at start and kept current by this object's writes; :meth:`refresh`
    re-reads the table (when another process wrote to it).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.create_schema(engine)
        self._lock = threading.Lock()
        self._cache: dict[str, HazmatVehicle] = {}
        self.refresh()

    @staticmethod
    def create_schema(engine: Engine) -> None:
        """Bring the database to the current schema (:func:`layers.db.migrate`), this table included."""
        migrate(engine)

    def refresh(self) -> None:
        """Reload the in-memory copy from the table."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(hazmat_vehicles)).mappings().all()
        cache = {
            row["vehicle_id"]: HazmatVehicle.model_validate({k: row[k] for k in FIELDS})
            for row in rows
        }
        with self._lock:
            self._cache = cache

    # --- reads ----------------------------------------------------------------------------
    def known(self, vehicle_id: str) -> bool:
        """Whether a vehicle is registered (from memory)."""
        return vehicle_id in self._cache

    def get(self, vehicle_id: str) -> HazmatVehicle | None:
        """A registered vehicle, or None."""
        return self._cache.get(vehicle_id)

    def __len__(self) -> int:
        return len(self._cache)

    def list(self, scope: Scope | None = None) -> list[HazmatVehicle]:
        """The vehicles a scope sees (routes meeting its geometry), by vehicle id."""
        vehicles = sorted(self._cache.values(), key=lambda v: v.vehicle_id)
        scope = scope or Scope.everything()
        if scope.is_everything or not vehicles:
            return vehicles
        if scope.geometry is None:
            return []
        lines = np.array([v.line for v in vehicles], dtype=object)
        hit = shapely.intersects(lines, scope.geometry)
        return [v for v, h in zip(vehicles, hit) if h]

    def visible(self, vehicle_id: str, scope: Scope) -> bool:
        """Whether a registered vehicle is visible to a scope (False when unknown)."""
        vehicle = self.get(vehicle_id)
        return vehicle is not None and visible_to(vehicle, scope)

    def route_corridor(self, vehicle_id: str) -> shapely.Polygon:
        """The vehicle's corridor polygon (WGS-84); KeyError when unknown."""
        vehicle = self.get(vehicle_id)
        if vehicle is None:
            raise KeyError(f"no hazmat vehicle {vehicle_id!r}")
        return vehicle.corridor()

    # --- writes ---------------------------------------------------------------------------
    def upsert(self, vehicle: HazmatVehicle) -> None:
        """Register a vehicle, replacing any earlier registration of its id."""
        self._write([vehicle])

    def delete(self, vehicle_id: str) -> bool:
        """Remove a registration; whether there was one."""
        with self.engine.begin() as conn:
            n = conn.execute(
                delete(hazmat_vehicles).where(hazmat_vehicles.c.vehicle_id == vehicle_id)
            ).rowcount
        with self._lock:
            self._cache.pop(vehicle_id, None)
        return bool(n)

    def _write(self, vehicles: Iterable[HazmatVehicle]) -> int:
        vehicles = list(vehicles)
        now = datetime.now(UTC)
        rows = []
        for v in vehicles:
            minx, miny, maxx, maxy = v.line.bounds
            rows.append(
                {
                    **v.model_dump(),
                    "minx": minx,
                    "miny": miny,
                    "maxx": maxx,
                    "maxy": maxy,
                    "updated_at": now,
                }
            )
        ids = [v.vehicle_id for v in vehicles]
        with self.engine.begin() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                conn.execute(delete(hazmat_vehicles).where(hazmat_vehicles.c.vehicle_id.in_(chunk)))
            if rows:
                conn.execute(insert(hazmat_vehicles), rows)
        with self._lock:
            self._cache.update({v.vehicle_id: v for v in vehicles})
        return len(vehicles)

    # --- imports --------------------------------------------------------------------------
    def import_csv(self, data: bytes) -> int:
        """Import a CSV (UTF-8, header row with :data:`FIELDS`; route as WKT or GeoJSON text).

        All or nothing: any bad row raises :class:`HazmatImportError` and nothing is stored.
        Returns the number of vehicles registered.
        """
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise HazmatImportError(
                "row", [ImportProblem(0, "(file)", f"not UTF-8: {exc}")]
            ) from None
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [f for f in FIELDS if f not in header]
        extra = [h for h in header if h not in FIELDS]
        if missing or extra:
            reason = "; ".join(
                s
                for s in (
                    f"missing columns {missing}" if missing else "",
                    f"unknown columns {extra}" if extra else "",
                )
                if s
            )
            raise HazmatImportError("row", [ImportProblem(0, "(header)", reason)])
        reader.fieldnames = header
        records = []
        for n, row in enumerate(reader, start=1):
            if None in row:
                records.append((n, ValueError("more cells than columns")))
                continue
            record: dict[str, object] = {k: (v or "").strip() for k, v in row.items()}
            try:
                record["route"] = _route_text(str(record["route"]))
            except ValueError as exc:
                records.append((n, exc))
                continue
            records.append((n, record))
        return self._import("row", records)

    def import_geojson(self, data: bytes) -> int:
        """Import a GeoJSON FeatureCollection of LineString features with the fields as properties.

        All or nothing, like :meth:`import_csv`; problems name the feature (from 1).
        """
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested too deeply
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise HazmatImportError(
                "feature", [ImportProblem(0, "(file)", f"not JSON: {reason}")]
            ) from None
        if (
            not isinstance(doc, dict)
            or doc.get("type") != "FeatureCollection"
            or not isinstance(doc.get("features"), list)
        ):
            raise HazmatImportError(
                "feature", [ImportProblem(0, "(file)", "expected a GeoJSON FeatureCollection")]
            )
        records: list[tuple[int, object]] = []
        for n, feature in enumerate(doc["features"], start=1):
            if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
                records.append((n, ValueError("not a Feature with properties")))
                continue
            props = dict(feature["properties"])
            if "route" in props:
                records.append(
                    (n, ValueError("route comes from the feature's geometry, not a property"))
                )
                continue
            records.append((n, {**props, "route": feature.get("geometry")}))
        return self._import("feature", records)

    def _import(self, unit: str, records: list[tuple[int, object]]) -> int:
        problems: list[ImportProblem] = []
        vehicles: list[HazmatVehicle] = []
        seen: dict[str, int] = {}
        for n, record in records:
            if isinstance(record, ValueError):
                field = "route" if "route" in str(record) else "(row)"
                problems.append(ImportProblem(n, field, str(record)))
                continue
            try:
                vehicle = HazmatVehicle.model_validate(record)
            except ValidationError as exc:
                problems.extend(_problems(n, exc))
                continue
            if vehicle.vehicle_id in seen:
                problems.append(
                    ImportProblem(
                        n,
                        "vehicle_id",
                        f"{vehicle.vehicle_id!r} repeats {unit} {seen[vehicle.vehicle_id]}",
                    )
                )
                continue
            seen[vehicle.vehicle_id] = n
            vehicles.append(vehicle)
        if problems:
            raise HazmatImportError(unit, problems)
        if not vehicles:
            raise HazmatImportError(unit, [ImportProblem(0, "(file)", "no vehicles in the file")])
        return self._write(vehicles)


__all__ = [
    "FIELDS",
    "HazmatImportError",
    "HazmatRegistry",
    "HazmatVehicle",
    "ImportProblem",
    "hazmat_vehicles",
    "parse_hours",
    "visible_to",
]
