"""Camera tours, their patrol log, and each wall's remembered tile layout.

``camera_tours`` (a named list of camera stops per jurisdiction), ``tour_log`` (every stop a
video screen made on a tour: time, camera, wall, who, the camera's JPEG; it goes with its tour)
and ``wall_tiles`` (per jurisdiction and wall name: the layout and each tile's camera); the
stores are ``console/tours.py`` and ``console/wall_tiles.py``. Tables that exist already are kept.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = 40  # gis.codes.CODE_LENGTH since 0006


def upgrade() -> None:
    tables = set(sa.inspect(op.get_bind()).get_table_names())
    if "camera_tours" not in tables:
        op.create_table(
            "camera_tours",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("code", sa.String(CODE), nullable=False),
            sa.Column("name", sa.String(100), nullable=False),
            sa.Column("stops", sa.JSON(), nullable=False),
            sa.Column("created_by", sa.String(64), nullable=False),
            sa.Column("created_ts", sa.Float(), nullable=False),
            sa.Column("updated_ts", sa.Float(), nullable=False),
        )
        op.create_index("ix_camera_tours_code", "camera_tours", ["code"])
    if "tour_log" not in tables:
        op.create_table(
            "tour_log",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("tour_id", sa.Integer(), sa.ForeignKey("camera_tours.id", ondelete="CASCADE"), nullable=False),
            sa.Column("ts", sa.Float(), nullable=False),
            sa.Column("camera_id", sa.String(64), nullable=False),
            sa.Column("wall", sa.String(64), nullable=False),
            sa.Column("by", sa.String(64), nullable=False),
            sa.Column("snapshot", sa.LargeBinary(), nullable=True),
        )
        op.create_index("ix_tour_log_tour_id", "tour_log", ["tour_id"])
        op.create_index("ix_tour_log_ts", "tour_log", ["ts"])
    if "wall_tiles" not in tables:
        op.create_table(
            "wall_tiles",
            sa.Column("code", sa.String(CODE), primary_key=True),
            sa.Column("wall", sa.String(64), primary_key=True),
            sa.Column("layout", sa.Integer(), nullable=False),
            sa.Column("tiles", sa.JSON(), nullable=False),
            sa.Column("updated_by", sa.String(64), nullable=False),
            sa.Column("updated_ts", sa.Float(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("wall_tiles")
    op.drop_table("tour_log")
    op.drop_table("camera_tours")
