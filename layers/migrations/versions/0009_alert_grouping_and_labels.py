"""One alert per physical event, and what closed alerts turned out to be.

``alerts`` gets ``members`` (every warning folded into the alert: track, camera, source),
``track_ids``, ``sources``, ``verdict`` (false_alarm, duplicate, confirmed) and
``duplicate_of``; ``alert_keys`` maps every warning key folded into an alert to it (the open
alert's own key is kept there too, filled for the alerts already stored); ``alert_labels``
holds the verdicts with what a backtest needs to replay them (``alerts/labels.py``). Columns
and tables that exist already are kept as they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = 40  # gis.codes.CODE_LENGTH since 0006
EMPTY_LIST = sa.text("'[]'")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("alerts")}
    for name in ("members", "track_ids", "sources"):
        if name not in columns:
            op.add_column("alerts", sa.Column(name, sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    for name in ("verdict", "duplicate_of"):
        if name not in columns:
            op.add_column("alerts", sa.Column(name, sa.String(16)))
    tables = set(inspector.get_table_names())
    if "alert_keys" not in tables:
        op.create_table(
            "alert_keys",
            sa.Column("alert_id", sa.String(16), sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("key", sa.String(300), primary_key=True),
        )
        op.create_index("ix_alert_keys_key", "alert_keys", ["key"])
        op.execute("INSERT INTO alert_keys (alert_id, key) SELECT id, key FROM alerts")
    if "alert_labels" not in tables:
        op.create_table(
            "alert_labels",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("alert_id", sa.String(16), nullable=False),
            sa.Column("verdict", sa.String(16), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.Column("actor", sa.String(100), nullable=False),
            sa.Column("ts", sa.Float(), nullable=False),
            sa.Column("category", sa.String(64), nullable=False),
            sa.Column("rule", sa.String(64)),
            sa.Column("rule_id", sa.String(128)),
            sa.Column("model", sa.String(128), nullable=False),
            sa.Column("source", sa.String(32), nullable=False),
            sa.Column("camera_id", sa.String(128)),
            sa.Column("cameras", sa.JSON(), nullable=False),
            sa.Column("track_ids", sa.JSON(), nullable=False),
            sa.Column("lon", sa.Float(), nullable=False),
            sa.Column("lat", sa.Float(), nullable=False),
            sa.Column("grid", sa.String(CODE)),
            sa.Column("town", sa.String(CODE)),
            sa.Column("assignee_unit", sa.String(CODE), nullable=False),
            sa.Column("first_ts", sa.Float(), nullable=False),
            sa.Column("last_ts", sa.Float(), nullable=False),
            sa.Column("evidence", sa.JSON(), nullable=False),
            sa.Column("params", sa.JSON(), nullable=False),
            sa.Column("camera", sa.JSON()),
        )
        for column in ("alert_id", "verdict", "ts"):
            op.create_index(f"ix_alert_labels_{column}", "alert_labels", [column])


def downgrade() -> None:
    op.drop_table("alert_labels")
    op.drop_table("alert_keys")
    with op.batch_alter_table("alerts") as batch:
        for name in ("duplicate_of", "verdict", "sources", "track_ids", "members"):
            batch.drop_column(name)
