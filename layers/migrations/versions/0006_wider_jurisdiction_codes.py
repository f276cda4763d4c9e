"""Jurisdiction codes up to 40 characters: a county's own grid code table may have longer codes
(micro-grids below 15-digit grids, dedicated grids coded ``HM-ZS-001``) than the 15 digits of the
generated hierarchy. PostgreSQL widens the code columns in place; SQLite never enforces a
string's length (and ``layers.db.compare_type`` does not count it), so nothing is copied there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = 15, 40
COLUMNS = {
    "layers": ("owner_code",),
    "layer_features": ("code",),
    "alerts": ("grid", "village", "town", "district", "assignee_unit"),
    "alert_actions": ("from_unit", "unit"),
    "incidents": ("owner_unit",),
    "incident_codes": ("code",),
    "users": ("code",),
}


def _alter(width_from: int, width_to: int) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.String(width_to), existing_type=sa.String(width_from))


def upgrade() -> None:
    _alter(OLD, NEW)


def downgrade() -> None:
    _alter(NEW, OLD)
