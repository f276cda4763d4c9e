"""The incident tables (incidents, the codes they touch, their timelines) and their store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from zhizhi.alerts.incidents.errors import DuplicateLink, StaleIncident
from zhizhi.alerts.incidents.record import (
    Incident,
    IncidentStatus,
    ScopeLike,
    TimelineEntry,
    TimelineKind,
    code_of,
)
from zhizhi.alerts.store import alerts_table
from zhizhi.alerts.store import scope_clause as alert_scope_clause
from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.layers.scope import within_clause

incidents_table = Table(
    "incidents",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("area", JSON, nullable=False),
    Column("geometry", JSON, nullable=False),
    Column("owner_unit", String(CODE_LENGTH), nullable=False, index=True),
    Column("codes", JSON, nullable=False),
    Column("impact", JSON, nullable=False),
    Column("created_ts", Float, nullable=False, index=True),
    Column("created_by", String(100), nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("closed_ts", Float),
    Column("version", Integer, nullable=False),
)

# The touched codes once more, one row each: the SQL side of visibility (a prefix test per code).
incident_codes_table = Table(
    "incident_codes",
    metadata,
    Column("incident_id", String(16), ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True),
    Column("code", String(CODE_LENGTH), primary_key=True, index=True),
)

incident_log_table = Table(
    "incident_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "incident_id", String(16), ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("ts", Float, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("alert_id", String(16)),
    Column("data", JSON, nullable=False),
)
_L = incident_log_table.c
# An alert is linked to an incident once: the database refuses a second "alert" entry.
Index(
    "ux_incident_log_alert",
    _L.incident_id,
    _L.alert_id,
    unique=True,
    sqlite_where=_L.kind == TimelineKind.ALERT.value,
    postgresql_where=_L.kind == TimelineKind.ALERT.value,
)
_I = incidents_table.c
_C = incident_codes_table.c


def create_schema(engine: Engine) -> None:
    """Bring the database to the current schema, incident tables included (:func:`layers.db.migrate`)."""
    migrate(engine)



def scope_clause(scope: ScopeLike) -> ColumnElement[bool]:
    """SQL twin of :meth:`Incident.visible_to`."""
    code = code_of(scope)
    if code == "":
        return true()
    touched = exists(
        select(_C.incident_id).where(_C.incident_id == _I.id, within_clause(_C.code, code))
    )
    return or_(within_clause(_I.owner_unit, code), touched)


def _incident(row: Any) -> Incident:
    return Incident.model_validate(dict(row._mapping))


class IncidentStore:
    """Incidents, the codes they touch and their timelines, in the console's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(engine)

    # --- writes ---------------------------------------------------------------------------

    def create(self, incident: Incident, entries: Sequence[TimelineEntry] = ()) -> Incident:
        """Store a new incident with its first timeline entries, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(insert(incidents_table).values(incident.model_dump(mode="json")))
            self._set_codes(conn, incident)
            self._add(conn, entries)
        return incident

    def update(self, incident: Incident, entries: Sequence[TimelineEntry] = ()) -> Incident:
        """Store ``incident`` (read at ``incident.version``) with new entries; :class:`StaleIncident`
        when someone stored a change in between. Returns it at its new version."""
        stored = incident.model_copy(update={"version": incident.version + 1})
        values = stored.model_dump(mode="json")
        values.pop("id")
        with self.engine.begin() as conn:
            done = conn.execute(
                update(incidents_table)
                .where(and_(_I.id == incident.id, _I.version == incident.version))
                .values(values)
            )
            if done.rowcount != 1:
                raise StaleIncident(f"incident {incident.id} changed since version {incident.version}")
            self._set_codes(conn, stored)
            self._add(conn, entries)
        return stored

    def add_entries(self, entries: Sequence[TimelineEntry]) -> None:
        """Append timeline entries; :class:`DuplicateLink` for an alert linked already."""
        try:
            with self.engine.begin() as conn:
                self._add(conn, entries)
        except IntegrityError as exc:
            linked = [e for e in entries if e.kind == TimelineKind.ALERT]
            if any(self.link_of(e.incident_id, e.alert_id) is not None for e in linked):
                raise DuplicateLink("alert already linked to the incident") from exc
            raise

    def _set_codes(self, conn: Connection, incident: Incident) -> None:
        conn.execute(delete(incident_codes_table).where(_C.incident_id == incident.id))
        codes = sorted(set(incident.codes))
        if codes:
            conn.execute(insert(incident_codes_table), [{"incident_id": incident.id, "code": c} for c in codes])

    def _add(self, conn: Connection, entries: Sequence[TimelineEntry]) -> None:
        for entry in entries:
            values = entry.model_dump(mode="json", exclude={"id"})
            entry.id = conn.execute(insert(incident_log_table).values(values)).inserted_primary_key[0]

    # --- reads ----------------------------------------------------------------------------

    def get(self, incident_id: str, scope: ScopeLike = None) -> Incident | None:
        """The incident, or ``None`` when there is none or ``scope`` may not see it."""
        query = select(incidents_table).where(_I.id == incident_id, scope_clause(scope))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _incident(row)

    def list(
        self, scope: ScopeLike = None, status: IncidentStatus | str | None = None,
        *, limit: int = 100, offset: int = 0,
    ) -> list[Incident]:
        """Incidents ``scope`` sees, newest first."""
        query = select(incidents_table).where(scope_clause(scope))
        if status is not None:
            query = query.where(_I.status == IncidentStatus(status).value)
        query = query.order_by(_I.created_ts.desc(), _I.id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_incident(r) for r in conn.execute(query)]

    def timeline(self, incident_id: str, scope: ScopeLike = None) -> list[TimelineEntry]:
        """The incident's timeline, oldest first (ties in the order written); with ``scope``,
        without the entries about alerts that ``scope`` may not see."""
        query = select(incident_log_table).where(_L.incident_id == incident_id)
        if code_of(scope):
            alert_id = alerts_table.c.id
            seen = exists(select(alert_id).where(alert_id == _L.alert_id, alert_scope_clause(scope)))
            query = query.where(or_(_L.alert_id.is_(None), seen))
        query = query.order_by(_L.ts, _L.id)
        with self.engine.connect() as conn:
            return [TimelineEntry.model_validate(dict(r._mapping)) for r in conn.execute(query)]

    def link_of(self, incident_id: str, alert_id: str | None) -> TimelineEntry | None:
        """The latest entry about ``alert_id`` in the incident's timeline (its last known status)."""
        query = (
            select(incident_log_table)
            .where(_L.incident_id == incident_id, _L.alert_id == alert_id)
            .order_by(_L.ts.desc(), _L.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else TimelineEntry.model_validate(dict(row._mapping))

    def active_versions(self) -> dict[str, int]:
        """``{id: version}`` of the active incidents (cheap: no geometry read)."""
        query = select(_I.id, _I.version).where(_I.status == IncidentStatus.ACTIVE.value)
        with self.engine.connect() as conn:
            return {r.id: r.version for r in conn.execute(query)}
