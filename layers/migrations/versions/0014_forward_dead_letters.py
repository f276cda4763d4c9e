"""Alert forwarding's dead letters (``forward_dead_letters``).

Webhook deliveries given up on (after their last attempt, refused by the receiver, a full queue,
a console stopping with them queued), with the exact body and delivery id so that a re-send is
the same message; the store is ``alerts/forward/store.py``. A table that exists already is kept.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = 40  # gis.codes.CODE_LENGTH since 0006


def upgrade() -> None:
    if "forward_dead_letters" in set(sa.inspect(op.get_bind()).get_table_names()):
        return
    op.create_table(
        "forward_dead_letters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery", sa.String(40), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.String(16), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("grid", sa.String(CODE)),
        sa.Column("assignee_unit", sa.String(CODE)),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_ts", sa.Float(), nullable=False),
        sa.Column("failed_ts", sa.Float(), nullable=False),
    )
    for column in ("delivery", "target", "alert_id", "failed_ts"):
        op.create_index(f"ix_forward_dead_letters_{column}", "forward_dead_letters", [column])


def downgrade() -> None:
    op.drop_table("forward_dead_letters")
