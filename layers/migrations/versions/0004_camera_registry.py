"""The camera registry: every camera of the county as a record (``layers/camera_registry.py``).

``camera_registry`` holds one row per camera: id, name, main and sub stream URLs, kind, WGS-84
position, mounting height, heading, tilt, horizontal field of view, range, owner jurisdiction
(indexed: a town's cameras are read by it), analysis rate, enabled, masks and zones (JSON),
``updated_at`` and ``revision``. A console fills an empty registry from the stored ``cameras``
layer when it starts. A table that exists already is kept as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("camera_registry"):
        return
    op.create_table(
        "camera_registry",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("stream_main", sa.String(length=2000), nullable=True),
        sa.Column("stream_sub", sa.String(length=2000), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=False),
        sa.Column("tilt_deg", sa.Float(), nullable=True),
        sa.Column("hfov_deg", sa.Float(), nullable=False),
        sa.Column("range_m", sa.Float(), nullable=False),
        sa.Column("owner_code", sa.String(length=64), nullable=False),
        sa.Column("analysis_fps", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("masks", sa.JSON(), nullable=False),
        sa.Column("zones", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_camera_registry_owner_code", "camera_registry", ["owner_code"])


def downgrade() -> None:
    op.drop_index("ix_camera_registry_owner_code", table_name="camera_registry")
    op.drop_table("camera_registry")
