"""Database engine and schema for the layer registry (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event

from layers.models import Base

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Strict JSON: no NaN/Infinity (not JSON), Chinese text stored readable.
json_dumps = partial(json.dumps, ensure_ascii=False, allow_nan=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite every connection gets WAL, foreign keys and a busy timeout."""
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


def create_schema(engine: Engine) -> None:
    """Create the registry's tables and indexes if they do not exist."""
    Base.metadata.create_all(engine)
