"""Object filters per camera (``layers/camera_filters.py``): ``camera_registry.filters``.

A JSON column holding the camera's filters per class (min score, track threshold, box area and
ratio, ground size, masks), ``{}`` for every camera already registered (no filters: every
detection is kept, as before). A column that exists already is kept as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("camera_registry")}
    if "filters" in columns:
        return
    op.add_column(
        "camera_registry", sa.Column("filters", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
    )


def downgrade() -> None:
    with op.batch_alter_table("camera_registry") as batch:
        batch.drop_column("filters")
