"""What closed alerts turned out to be: labels the warning models are tested against.

When a duty officer closes an alert as a false alarm or a duplicate, or resolves it (a true
event), the alert service stores an :class:`AlertLabel`: the verdict and the officer's note
with everything needed to replay the case later — the rule and its parameters at the time, the
camera's configuration, the evidence files (snapshot, clip, observed tracks), the tracks and
the place. ``zhizhi backtest --dataset labels:false-alarms`` turns them into a backtest
dataset (:mod:`models.backtest.labels`); the board's false-alarm rates count them.

>>> from zhizhi.layers import make_engine
>>> LabelStore(make_engine("sqlite://")).list()
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, Engine, Float, Integer, String, Table, Text, insert, or_, select

from zhizhi.alerts.record import Alert, Verdict
from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.layers.scope import Scope, within_clause

labels_table = Table(
    "alert_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(16), nullable=False, index=True),
    Column("verdict", String(16), nullable=False, index=True),
    Column("note", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("ts", Float, nullable=False, index=True),
    Column("category", String(64), nullable=False),
    Column("rule", String(64)),
    Column("rule_id", String(128)),
    Column("model", String(128), nullable=False),
    Column("source", String(32), nullable=False),
    Column("camera_id", String(128)),
    Column("cameras", JSON, nullable=False),
    Column("track_ids", JSON, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("grid", String(CODE_LENGTH)),
    Column("town", String(CODE_LENGTH)),
    Column("assignee_unit", String(CODE_LENGTH), nullable=False),
    Column("first_ts", Float, nullable=False),
    Column("last_ts", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("params", JSON, nullable=False),
    Column("camera", JSON),
)

_L = labels_table.c


class AlertLabel(BaseModel):
    """One closed alert's verdict with what is needed to replay it."""

    id: int | None = None
    alert_id: str
    verdict: Verdict
    note: str = ""
    actor: str
    ts: float = Field(description="When the verdict was given.")
    category: str
    rule: str | None = None
    rule_id: str | None = None
    model: str = ""
    source: str
    camera_id: str | None = None
    cameras: list[str] = Field(default_factory=list)
    track_ids: list[int] = Field(default_factory=list)
    lon: float
    lat: float
    grid: str | None = None
    town: str | None = None
    assignee_unit: str
    first_ts: float
    last_ts: float
    evidence: dict[str, Any] = Field(default_factory=dict, description="snapshot, clip, track paths.")
    params: dict[str, Any] = Field(default_factory=dict, description="The rule's parameters then.")
    camera: dict[str, Any] | None = Field(None, description="The camera's configuration then.")

    @classmethod
    def of_alert(
        cls, alert: Alert, verdict: Verdict, *, note: str, actor: str, ts: float,
        params: dict[str, Any] | None = None, camera: dict[str, Any] | None = None,
    ) -> AlertLabel:
        """The label of ``alert`` closed with ``verdict``."""
        return cls(
            alert_id=alert.id, verdict=verdict, note=note, actor=actor, ts=ts,
            category=alert.category, rule=alert.rule, rule_id=alert.rule_id, model=alert.model,
            source=alert.source, camera_id=alert.camera_id, cameras=list(alert.cameras),
            track_ids=list(alert.track_ids or ([alert.track_id] if alert.track_id is not None else [])),
            lon=alert.lon, lat=alert.lat, grid=alert.grid, town=alert.town,
            assignee_unit=alert.assignee_unit, first_ts=alert.first_ts, last_ts=alert.last_ts,
            evidence=alert.evidence.model_dump(), params=params or {}, camera=camera,
        )


def _scope(scope: Scope | str | None):
    code = scope.code if isinstance(scope, Scope) else (scope or "")
    if not code:
        return None
    return or_(within_clause(_L.grid, code), within_clause(_L.assignee_unit, code))


class LabelStore:
    """Alert labels in the console's database (table ``alert_labels``)."""

    def __init__(self, engine: Engine, *, migrated: bool = False) -> None:
        self.engine = engine
        if not migrated:
            migrate(engine)

    def add(self, label: AlertLabel) -> AlertLabel:
        """Store a label; returns it with its id."""
        values = label.model_dump(mode="json", exclude={"id"})
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(labels_table).values(values)).inserted_primary_key[0]
        return label.model_copy(update={"id": new_id})

    def list(
        self,
        *,
        verdicts: Iterable[Verdict | str] | None = None,
        since: float | None = None,
        until: float | None = None,
        scope: Scope | str | None = None,
        limit: int = 10_000,
    ) -> list[AlertLabel]:
        """Labels ``scope`` may see (grid or assignee within it), oldest first."""
        query = select(labels_table)
        if verdicts is not None:
            query = query.where(_L.verdict.in_([Verdict(v).value for v in verdicts]))
        if since is not None:
            query = query.where(_L.ts >= since)
        if until is not None:
            query = query.where(_L.ts <= until)
        clause = _scope(scope)
        if clause is not None:
            query = query.where(clause)
        query = query.order_by(_L.ts, _L.id).limit(limit)
        with self.engine.connect() as conn:
            return [AlertLabel.model_validate(dict(r._mapping)) for r in conn.execute(query)]


__all__ = ["AlertLabel", "LabelStore", "labels_table"]
