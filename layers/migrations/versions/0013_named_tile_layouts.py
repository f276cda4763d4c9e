"""A wall's named tile layouts (the ``custom`` slot's ``layout``).

``wall_tile_layouts``: per jurisdiction, wall and layout name (``危化专线``), the layout (1, 4, 9
or 16 tiles) and each tile's camera, like ``wall_tiles`` keeps a wall's main layout; the store
is ``console/wall_tiles.py``. A table that exists already is kept.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODE = 40  # gis.codes.CODE_LENGTH since 0006


def upgrade() -> None:
    if "wall_tile_layouts" not in set(sa.inspect(op.get_bind()).get_table_names()):
        op.create_table(
            "wall_tile_layouts",
            sa.Column("code", sa.String(CODE), primary_key=True),
            sa.Column("wall", sa.String(64), primary_key=True),
            sa.Column("name", sa.String(64), primary_key=True),
            sa.Column("layout", sa.Integer(), nullable=False),
            sa.Column("tiles", sa.JSON(), nullable=False),
            sa.Column("updated_by", sa.String(64), nullable=False),
            sa.Column("updated_ts", sa.Float(), nullable=False),
        )


def downgrade() -> None:
    op.drop_table("wall_tile_layouts")
