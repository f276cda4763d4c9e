"""SQLite: an R*Tree over the features' bounding boxes, kept by triggers.

SQLite's B-tree indexes on ``minx``/``maxx``/``miny``/``maxy`` narrow a bounding-box query to
one band of the layer only (a 100,000-feature layer took ~22 ms a query); the R*Tree finds the
boxes that meet a window directly. ``layer_features_rtree`` holds ``(id, minx, maxx, miny,
maxy)`` of every feature (SQLite stores them as 32-bit floats rounded outwards, so it is a
superset pre-filter and the registry still compares the exact bounds). Triggers keep it in step
with ``layer_features`` on insert, update and delete, so no writer has to know it exists.
PostgreSQL has the GiST index on ``geom`` instead: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RTREE = "layer_features_rtree"
STATEMENTS = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {RTREE} USING rtree(id, minx, maxx, miny, maxy)",
    f"INSERT INTO {RTREE} (id, minx, maxx, miny, maxy) SELECT id, minx, maxx, miny, maxy FROM layer_features",
    f"""CREATE TRIGGER IF NOT EXISTS {RTREE}_insert AFTER INSERT ON layer_features BEGIN
        INSERT INTO {RTREE} (id, minx, maxx, miny, maxy) VALUES (new.id, new.minx, new.maxx, new.miny, new.maxy);
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {RTREE}_update AFTER UPDATE OF minx, miny, maxx, maxy ON layer_features BEGIN
        UPDATE {RTREE} SET minx = new.minx, maxx = new.maxx, miny = new.miny, maxy = new.maxy WHERE id = new.id;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS {RTREE}_delete AFTER DELETE ON layer_features BEGIN
        DELETE FROM {RTREE} WHERE id = old.id;
    END""",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {RTREE}_{trigger}")
    op.execute(f"DROP TABLE IF EXISTS {RTREE}")
