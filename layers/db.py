"""Database engine and schema for every store (SQLite or PostgreSQL with PostGIS).

The schema is made one way only: :func:`migrate`, Alembic's ``upgrade head`` with the
migrations shipped in :mod:`layers.migrations`. Every store calls it from its constructor; it is
cheap once the database is at head (one ``SELECT`` of ``alembic_version``, then nothing), and on
PostgreSQL two processes starting at once take turns under an advisory lock.
"""

from __future__ import annotations

import json
import threading
import weakref
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, String, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: ``pg_advisory_lock`` key held while a process upgrades a PostgreSQL database ("zhizhi").
MIGRATION_LOCK_KEY = 0x7A68697A6869

# Strict JSON: no NaN/Infinity (not JSON), Chinese text stored readable.
json_dumps = partial(json.dumps, ensure_ascii=False, allow_nan=False)


class DatabaseError(RuntimeError):
    """The database cannot be reached or prepared; the message says which URL and why."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite every connection gets WAL, foreign keys and a busy timeout.

    PostgreSQL URLs take the psycopg 3 driver: ``postgresql+psycopg://user@host:5432/db``
    (a bare ``postgresql://`` is read as that too).
    """
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("postgresql"):
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, json_serializer=json_dumps, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def is_postgis(engine_or_connection: Engine | Connection) -> bool:
    """Whether the database is PostgreSQL (where layer features carry a PostGIS ``geom``)."""
    return engine_or_connection.dialect.name == "postgresql"


# --- migrations ---------------------------------------------------------------------------

_migrated: weakref.WeakSet[Engine] = weakref.WeakSet()
_migrate_lock = threading.Lock()
_head: list[str] = []


def alembic_config(connection: Connection | None = None) -> Any:
    """An Alembic ``Config`` for the shipped migrations (no ``alembic.ini`` needed).

    ``connection``, when given, is the one the migrations run on (``config.attributes``).
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision of the shipped migrations."""
    if not _head:
        from alembic.script import ScriptDirectory

        _head.append(ScriptDirectory.from_config(alembic_config()).get_current_head())
    return _head[0]


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring ``engine``'s database to the newest schema (Alembic ``upgrade head``).

    Idempotent: a database at head costs one query, and only the first call per engine in a
    process. Works on in-memory ``sqlite://`` (the migrations run on the engine's own
    connection). On PostgreSQL the upgrade runs under ``pg_advisory_lock`` so that processes
    starting together take turns, and creates the ``postgis`` extension when missing.
    Raises :class:`DatabaseError` with the URL (password hidden) when the database cannot be
    reached or prepared.
    """
    if engine in _migrated:
        return
    with _migrate_lock:
        if engine in _migrated:
            return
        try:
            _upgrade(engine)
        except (DBAPIError, DatabaseError) as exc:
            url = engine.url.render_as_string(hide_password=True)
            reason = (exc.orig or exc) if isinstance(exc, DBAPIError) else exc
            raise DatabaseError(f"cannot prepare the database {url}: {reason}".strip()) from exc
        _migrated.add(engine)


def _upgrade(engine: Engine) -> None:
    from alembic import command

    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            conn.rollback()
            return
        postgres = is_postgis(conn)
        if postgres:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
        try:
            if current_revision(conn) != head:  # another process may have done it meanwhile
                conn.rollback()
                command.upgrade(alembic_config(conn), "head")
            conn.commit()
        finally:
            if postgres:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()


def forget_migrated(engine: Engine) -> None:
    """Make the next :func:`migrate` on ``engine`` look at the database again (tests)."""
    _migrated.discard(engine)


#: PostGIS's own tables (not the stores'): left out when the schema is compared.
POSTGIS_TABLES = frozenset({"spatial_ref_sys", "geometry_columns", "geography_columns"})
#: The PostGIS-only column and index of ``layer_features`` (not in the stores' metadata).
#: SQLite's R*Tree of feature boxes and its shadow tables (made by migration 0002, not in the ORM).
SQLITE_RTREE = "layer_features_rtree"
POSTGIS_ONLY = frozenset({("column", "geom"), ("index", "ix_layer_features_geom")})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object``: everything but PostGIS's own tables and ``geom``, and SQLite's
    R*Tree tables."""
    if type_ == "table" and (name in POSTGIS_TABLES or (name or "").startswith(SQLITE_RTREE)):
        return False
    return (type_, name) not in POSTGIS_ONLY


def compare_type(context: Any, inspected_column: Any, metadata_column: Any, inspected_type: Any,
                 metadata_type: Any) -> bool | None:
    """Alembic ``compare_type``: the default comparison, except that on SQLite a string's length is
    no difference (SQLite never enforces it, and changing it would mean copying every table)."""
    if context.dialect.name == "sqlite" and isinstance(inspected_type, String) and isinstance(metadata_type, String):
        return False
    return None


def create_schema(engine: Engine) -> None:
    """The schema of every store, made by :func:`migrate` (kept for callers of the old name)."""
    migrate(engine)
