"""Standard operating procedures per alert category, versioned, and the steps ticked on each alert.

``alert_procedures`` holds every saved version of a category's checklist (title, steps with
their required flag, who saved it, when, why); ``alert_procedure_ticks`` the latest state of
each step of each alert (done or not, who, when; it goes with its alert). The store is
``alerts/procedures.py``. Tables that exist already are kept.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "alert_procedures" not in tables:
        op.create_table(
            "alert_procedures",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("category", sa.String(64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("title", sa.String(100), nullable=False),
            sa.Column("steps", sa.JSON(), nullable=False),
            sa.Column("author", sa.String(100), nullable=False),
            sa.Column("ts", sa.Float(), nullable=False),
            sa.Column("note", sa.Text(), nullable=False),
            sa.UniqueConstraint("category", "version", name="uq_alert_procedures_version"),
        )
        op.create_index("ix_alert_procedures_category", "alert_procedures", ["category"])
    if "alert_procedure_ticks" not in tables:
        op.create_table(
            "alert_procedure_ticks",
            sa.Column("alert_id", sa.String(16), sa.ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("step", sa.Integer(), primary_key=True),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("done", sa.Boolean(), nullable=False),
            sa.Column("actor", sa.String(100), nullable=False),
            sa.Column("ts", sa.Float(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("alert_procedure_ticks")
    op.drop_index("ix_alert_procedures_category", table_name="alert_procedures")
    op.drop_table("alert_procedures")
