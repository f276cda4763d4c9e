"""Alembic environment of zhizhi's one set of migrations (SQLite and PostgreSQL/PostGIS).

Run through :func:`layers.db.migrate` (the connection comes in ``config.attributes``), or
from the command line with ``sqlalchemy.url`` set in the config.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from zhizhi.layers.db import compare_type, include_object, make_engine
from zhizhi.layers.schema import schema_metadata

config = context.config

def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=schema_metadata(),
        include_object=include_object,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=compare_type,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("zhizhi's migrations run online only (they look at the database)")
run_migrations_online()
