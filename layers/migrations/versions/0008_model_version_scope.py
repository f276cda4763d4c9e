"""Camera-scoped model versions (``models/versions/store.py``): ``model_versions.scope``.

A detector adapted to one camera's site (``zhizhi adapt``) is that camera's version: ``scope``
holds the camera id (``''``: every camera, as every version before). One production version per
kind *and scope*: the unique index on production versions takes the scope, so a camera's
adapted detector goes into production beside the district-wide one. A column that exists already
is kept as it is.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ux_model_versions_production"
PRODUCTION = sa.text("status = 'production'")


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("model_versions")}
    if "scope" not in columns:
        op.add_column("model_versions", sa.Column("scope", sa.String(64), nullable=False, server_default=""))
    op.drop_index(INDEX, table_name="model_versions")
    op.create_index(INDEX, "model_versions", ["kind", "scope"], unique=True, sqlite_where=PRODUCTION,
                    postgresql_where=PRODUCTION)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="model_versions")
    op.create_index(INDEX, "model_versions", ["kind"], unique=True, sqlite_where=PRODUCTION,
                    postgresql_where=PRODUCTION)
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("scope")
