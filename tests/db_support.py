"""Databases for the store tests, one per backend: SQLite (a file in ``tmp_path``) and
PostgreSQL with PostGIS (a fresh database per test on the machine's server).

``db_url`` is parametrised over ``["sqlite", "postgresql"]``: a test that takes it runs once on
each. Import it in a test module (``tests/conftest.py`` does, so every module has it)::

    def test_something(db_url):
        store = AlertStore(make_engine(db_url))

PostgreSQL is ``ZHIZHI_TEST_POSTGRES`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/
postgres``, the maintenance database the test databases are made from). Each test gets a
database ``zhizhi_t_<random>``, copied from a template migrated once per session (so a test
costs a ``CREATE DATABASE``, not the migrations), dropped afterwards with ``DROP DATABASE ...
WITH (FORCE)``. :func:`postgres_database` with ``migrated=False`` gives an empty one. The
tests never skip: without a reachable PostgreSQL with PostGIS they fail saying what to do
(``scripts/setup.sh --test`` installs and starts it).
"""

from __future__ import annotations

import atexit
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

BACKENDS = ["sqlite", "postgresql"]
ADMIN_URL = os.environ.get(
    "ZHIZHI_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PREFIX = "zhizhi_t_"
_template: list[str] = []


def _admin():
    """An autocommit engine on the maintenance database; fails the test when unreachable."""
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            available = conn.execute(
                text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
            ).scalar()
    except Exception as exc:  # noqa: BLE001 - any reason the server cannot be used
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({type(exc).__name__}: {exc}); "
            "the store tests run on SQLite and PostgreSQL: run scripts/setup.sh --test "
            "(installs PostGIS, starts the server) or set ZHIZHI_TEST_POSTGRES",
            pytrace=False,
        )
    if not available:
        engine.dispose()
        pytest.fail(
            f"PostGIS is not installed on the PostgreSQL server at {ADMIN_URL}: run "
            "scripts/setup.sh --test (apt-get install postgresql-<version>-postgis-3)",
            pytrace=False,
        )
    return engine


def _url_of(database: str) -> str:
    return make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)


def _create(template: str | None = None) -> str:
    name = PREFIX + secrets.token_hex(6)
    engine = _admin()
    try:
        with engine.connect() as conn:
            clause = f" TEMPLATE {template}" if template else ""
            conn.execute(text(f"CREATE DATABASE {name}{clause}"))
    finally:
        engine.dispose()
    return name


def drop_database(name: str) -> None:
    """Drop a test database, ending whatever connections are still open on it."""
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        engine.dispose()


def _migrated_template() -> str:
    """A database at the migrations' head, made once per session, to copy for each test."""
    if not _template:
        from zhizhi.layers.db import make_engine, migrate

        name = _create()
        engine = make_engine(_url_of(name))
        try:
            migrate(engine)
        finally:
            engine.dispose()
        _template.append(name)
        atexit.register(drop_template)  # however the template came to be made
    return _template[0]


def drop_template() -> None:
    """Drop the session's template database (at the end of the session)."""
    while _template:
        drop_database(_template.pop())


@contextmanager
def postgres_database(*, migrated: bool = True) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database: migrated to head, or empty; dropped afterwards."""
    name = _create(_migrated_template() if migrated else None)
    try:
        yield _url_of(name)
    finally:
        drop_database(name)


@contextmanager
def database(backend: str, tmp_path: Path, *, migrated: bool = True) -> Iterator[str]:
    """The URL of a fresh database of ``backend`` (``sqlite``: a file in ``tmp_path``)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'zhizhi-{secrets.token_hex(4)}.db'}"
    elif backend == "postgresql":
        with postgres_database(migrated=migrated) as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}; one of {BACKENDS}")


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db_url(request, tmp_path) -> Iterator[str]:
    """A fresh database URL, once per backend (SQLite file; PostgreSQL with PostGIS)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def empty_db_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty (never migrated) database URL, once per backend."""
    with database(request.param, tmp_path, migrated=False) as url:
        yield url


def backend_of(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return make_url(url).get_backend_name()


def upgrade_with_rows(engine: Engine, revision: str, insert_sql: str) -> None:
    """Bring an empty database to migration ``revision``, store rows written then (``insert_sql``),
    then migrate to the head as a console starting on it would; the head is checked."""
    from alembic import command

    from zhizhi.layers.db import alembic_config, forget_migrated, head_revision, migrate

    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()
        conn.execute(text(insert_sql))
        conn.commit()
    forget_migrated(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
