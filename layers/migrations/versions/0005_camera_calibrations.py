"""Camera calibrations, versioned (``layers/camera_calibrations.py``).

``camera_calibrations`` holds one row per saved calibration of a camera: its ``version`` (1, 2,
... per camera, unique with the camera), the clicked pairs, the pixel -> ground homography (with
its frame origin), the image size, the reprojection and ground errors, the calibrated ground area
(GeoJSON) and who saved it when. A camera removed from ``camera_registry`` takes its
calibrations with it. A table that exists already is kept as it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("camera_calibrations"):
        return
    op.create_table(
        "camera_calibrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("homography", sa.JSON(), nullable=False),
        sa.Column("image_size", sa.JSON(), nullable=False),
        sa.Column("reprojection_px", sa.Float(), nullable=False),
        sa.Column("ground_error_m", sa.Float(), nullable=False),
        sa.Column("footprint", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["camera_registry.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "version", name="uq_camera_calibrations_camera_version"),
    )
    op.create_index("ix_camera_calibrations_camera_id", "camera_calibrations", ["camera_id"])


def downgrade() -> None:
    op.drop_index("ix_camera_calibrations_camera_id", table_name="camera_calibrations")
    op.drop_table("camera_calibrations")
