"""Alert storage on SQLAlchemy 2: tables ``alerts`` and ``alert_actions`` in the console's database.

Every change is one transaction — the alert row and its audit entries are written together
or not at all. Changes are optimistic: an update names the version it read and fails with
:class:`StaleAlert` when someone else stored a change in between. A partial unique index
keeps at most one *open* alert per dedup key, so a restart (or a second process) finds the
open alert of a key again instead of opening a duplicate.

Open the store on an engine from :func:`layers.make_engine` (SQLite: WAL, foreign keys and a
busy timeout on every connection).

>>> from zhizhi.layers import make_engine
>>> store = AlertStore(make_engine("sqlite://"))
>>> store.list()
[]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
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
    case,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from zhizhi.alerts.labels import AlertLabel, labels_table
from zhizhi.alerts.record import OPEN_STATUSES, Alert, AlertAction, AlertStatus
from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.layers.scope import Scope, within_clause
from zhizhi.models.warning.record import Severity

_OPEN = [s.value for s in OPEN_STATUSES]

alerts_table = Table(
    "alerts",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("key", String(300), nullable=False, index=True),
    Column("rule", String(64)),
    Column("rule_id", String(128)),
    Column("model", String(128), nullable=False, default=""),
    Column("severity", String(8), nullable=False),
    Column("source", String(32), nullable=False),
    Column("category", String(64), nullable=False),
    Column("cameras", JSON, nullable=False),
    Column("camera_id", String(128)),
    Column("track_id", Integer),
    Column("cls", String(64)),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid", String(CODE_LENGTH), index=True),
    Column("village", String(CODE_LENGTH)),
    Column("town", String(CODE_LENGTH)),
    Column("district", String(CODE_LENGTH)),
    Column("evidence", JSON, nullable=False),
    Column("first_ts", Float, nullable=False),
    Column("last_ts", Float, nullable=False, index=True),
    Column("active", Boolean, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("assignee_unit", String(CODE_LENGTH), nullable=False, index=True),
    Column("deadline_ts", Float),
    Column("reminded_ts", Float),
    Column("supervised_ts", Float),
    Column("done_ts", Float),
    Column("text", Text),
    Column("reporter", String(100)),
    Column("channel", String(32)),
    Column("details", JSON, nullable=False),
    Column("members", JSON, nullable=False),
    Column("track_ids", JSON, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("verdict", String(16)),
    Column("duplicate_of", String(16)),
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    Column("version", Integer, nullable=False),
)
# At most one open alert per key: the database itself refuses a duplicate.
Index(
    "ux_alerts_open_key",
    alerts_table.c.key,
    unique=True,
    sqlite_where=alerts_table.c.status.in_(_OPEN),
    postgresql_where=alerts_table.c.status.in_(_OPEN),
)

actions_table = Table(
    "alert_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(16), ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("ts", Float, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16)),
    Column("from_unit", String(CODE_LENGTH)),
    Column("unit", String(CODE_LENGTH)),
    Column("note", Text, nullable=False),
)

# Every warning key folded into an alert (its own key too): where a later warning of a key finds
# the alert it joined.
keys_table = Table(
    "alert_keys",
    metadata,
    Column("alert_id", String(16), ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(300), primary_key=True, index=True),
)

_A = alerts_table.c
_K = keys_table.c


class StaleAlert(RuntimeError):
    """The alert changed since it was read (or is gone); read it again and retry."""


class DuplicateOpenKey(RuntimeError):
    """An open alert with this key exists already."""


def scope_clause(scope: Scope | str | None) -> ColumnElement[bool]:
    """SQL twin of :meth:`Alert.visible_to`: grid or assignee within the scope's code."""
    code = scope.code if isinstance(scope, Scope) else (scope or "")
    if code == "":
        return true()
    return or_(
        within_clause(_A.grid, code),
        within_clause(_A.assignee_unit, code),
    )


def _row(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json")


def _alert(row: Any) -> Alert:
    return Alert.model_validate(dict(row._mapping))


def _values(kinds: Iterable[str] | None, enum: type) -> list[str] | None:
    if kinds is None:
        return None
    return [enum(k).value for k in kinds]


class AlertStore:
    """Alerts and their audit trail in one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)  # the one way the schema is made: layers.db.migrate

    # --- writes ---------------------------------------------------------------------------

    def create(self, alert: Alert, actions: Sequence[AlertAction] = ()) -> Alert:
        """Store a new alert with its first audit entries; :class:`DuplicateOpenKey` if open."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(alerts_table).values(_row(alert)))
                keys = sorted({alert.key, *(m.key for m in alert.members)})
                conn.execute(insert(keys_table), [{"alert_id": alert.id, "key": k} for k in keys])
                self._add_actions(conn, actions)
        except IntegrityError as exc:
            if alert.is_open and self.open_by_key(alert.key) is not None:
                raise DuplicateOpenKey(f"an open alert with key {alert.key!r} exists") from exc
            raise
        return alert

    def update(
        self, alert: Alert, actions: Sequence[AlertAction] = (), *, label: AlertLabel | None = None,
        joined: Sequence[str] = (), label_evidence: dict[str, Any] | None = None,
    ) -> Alert:
        """Store ``alert`` (read at ``alert.version``) and its new audit entries together.

        Returns the alert at its new version (``label``, a verdict given by the change, and
        ``joined``, warning keys folded into it, are stored in the same transaction, as is
        ``label_evidence``: evidence that arrived after the verdict, copied to its labels);
        :class:`StaleAlert` when the stored version is no longer the one read,
        :class:`DuplicateOpenKey` when reopening collides with an open alert of the same key.
        """
        stored = alert.model_copy(update={"version": alert.version + 1})
        values = _row(stored)
        values.pop("id")
        try:
            with self.engine.begin() as conn:
                done = conn.execute(
                    update(alerts_table)
                    .where(and_(_A.id == alert.id, _A.version == alert.version))
                    .values(values)
                )
                if done.rowcount != 1:
                    raise StaleAlert(f"alert {alert.id} changed since version {alert.version}")
                if joined:
                    self._add_keys(conn, stored.id, joined)
                self._add_actions(conn, actions)
                if label is not None:
                    conn.execute(insert(labels_table).values(label.model_dump(mode="json", exclude={"id"})))
                if label_evidence is not None:
                    conn.execute(
                        update(labels_table).where(labels_table.c.alert_id == alert.id).values(evidence=label_evidence)
                    )
        except IntegrityError as exc:
            if stored.is_open and self.open_by_key(stored.key) is not None:
                raise DuplicateOpenKey(f"an open alert with key {alert.key!r} exists") from exc
            raise
        return stored

    def _add_keys(self, conn: Connection, alert_id: str, keys: Iterable[str]) -> None:
        """Record warning keys folded into an alert (those it has already are skipped)."""
        known = set(conn.execute(select(_K.key).where(_K.alert_id == alert_id)).scalars())
        fresh = sorted(set(keys) - known)
        if fresh:
            conn.execute(insert(keys_table), [{"alert_id": alert_id, "key": k} for k in fresh])

    def _add_actions(self, conn: Connection, actions: Sequence[AlertAction]) -> None:
        for action in actions:
            values = action.model_dump(mode="json", exclude={"id"})
            action.id = conn.execute(insert(actions_table).values(values)).inserted_primary_key[0]

    # --- reads ----------------------------------------------------------------------------

    def get(self, alert_id: str, scope: Scope | str | None = None) -> Alert | None:
        """The alert, or ``None`` when there is none or ``scope`` may not see it."""
        query = select(alerts_table).where(_A.id == alert_id, scope_clause(scope))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)

    def history(self, alert_id: str) -> list[AlertAction]:
        """The audit trail of an alert, oldest first."""
        query = (
            select(actions_table)
            .where(actions_table.c.alert_id == alert_id)
            .order_by(actions_table.c.ts, actions_table.c.id)
        )
        with self.engine.connect() as conn:
            return [AlertAction.model_validate(dict(r._mapping)) for r in conn.execute(query)]

    def open_by_key(self, key: str) -> Alert | None:
        """The open alert of a dedup key, if any."""
        query = select(alerts_table).where(_A.key == key, _A.status.in_(_OPEN))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)

    def open_joined(self, key: str) -> Alert | None:
        """The open alert a warning key was folded into (its own key or a joined one), if any."""
        query = (
            select(alerts_table)
            .join(keys_table, _K.alert_id == _A.id)
            .where(_K.key == key, _A.status.in_(_OPEN))
            .order_by(_A.created_ts.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)

    def open_near(
        self, category: str, lon: float, lat: float, radius_m: float, since: float
    ) -> list[Alert]:
        """Open machine alerts of ``category`` last seen at or after ``since`` whose position lies
        in the box of ``radius_m`` around (``lon``, ``lat``): candidates for grouping (the
        caller measures the exact distance)."""
        dlat = radius_m / 111_000.0
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        query = select(alerts_table).where(
            _A.status.in_(_OPEN),
            _A.rule.is_not(None),
            _A.category == category,
            _A.last_ts >= since,
            _A.lat.between(lat - dlat, lat + dlat),
            _A.lon.between(lon - dlon, lon + dlon),
        ).order_by(_A.created_ts)
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def last_done_by_key(self, key: str) -> Alert | None:
        """The alert of a key most recently resolved or closed (its cooldown runs from then)."""
        query = (
            select(alerts_table)
            .where(_A.key == key)
            .order_by(_A.done_ts.desc(), _A.created_ts.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _alert(row)

    def list(
        self,
        *,
        status: Iterable[AlertStatus | str] | None = None,
        severity: Iterable[Severity | str] | None = None,
        scope: Scope | str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts the scope may see, filtered, newest ``last_ts`` first (``since <= last_ts <= until``)."""
        query = select(alerts_table).where(scope_clause(scope))
        statuses = _values(status, AlertStatus)
        if statuses is not None:
            query = query.where(_A.status.in_(statuses))
        severities = _values(severity, Severity)
        if severities is not None:
            query = query.where(_A.severity.in_(severities))
        if since is not None:
            query = query.where(_A.last_ts >= since)
        if until is not None:
            query = query.where(_A.last_ts <= until)
        query = query.order_by(_A.last_ts.desc(), _A.created_ts.desc(), _A.id).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query)]

    def verdict_counts(
        self, scope: Scope | str | None, since: float
    ) -> dict[tuple[str | None, str | None, str | None], tuple[int, int]]:
        """Machine alerts created since ``since`` that ``scope`` may see, per (rule, rule_id,
        camera): (how many, how many closed as false alarms)."""
        false = func.sum(case((_A.verdict == "false_alarm", 1), else_=0))
        query = (
            select(_A.rule, _A.rule_id, _A.camera_id, func.count(), false)
            .where(scope_clause(scope), _A.rule.is_not(None), _A.created_ts >= since)
            .group_by(_A.rule, _A.rule_id, _A.camera_id)
        )
        with self.engine.connect() as conn:
            return {(r[0], r[1], r[2]): (int(r[3]), int(r[4] or 0)) for r in conn.execute(query)}

    def overdue(self, now: float) -> list[Alert]:
        """Open alerts past their deadline that still lack a reminder or a supervision order."""
        query = (
            select(alerts_table)
            .where(
                _A.status.in_(_OPEN),
                _A.deadline_ts.is_not(None),
                _A.deadline_ts <= now,
                or_(_A.reminded_ts.is_(None), _A.supervised_ts.is_(None)),
            )
            .order_by(_A.deadline_ts, _A.id)
        )
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(query)]


__all__ = [
    "AlertStore",
    "DuplicateOpenKey",
    "StaleAlert",
    "actions_table",
    "alerts_table",
    "keys_table",
    "scope_clause",
]
