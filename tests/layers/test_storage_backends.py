"""Storage backends: the one set of migrations on SQLite and PostgreSQL/PostGIS, the schema they
make against every store's metadata, concurrent starts, PostGIS spatial reads equal to SQLite's,
and a clear error for a database that cannot be used."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect, text

from tests import db_support
from tests.db_support import backend_of, database, postgres_database
from tests.layers_fixtures import DISTRICT, GEOMS, TOWN_A, TOWN_B, VILLAGE_A2, scope
from zhizhi.alerts.store import AlertStore
from zhizhi.console.auth.store import AuthStore
from zhizhi.layers import LayerRegistry, Scope, make_engine
from zhizhi.layers.db import (
    MIGRATION_LOCK_KEY,
    DatabaseError,
    compare_type,
    current_revision,
    forget_migrated,
    head_revision,
    include_object,
    migrate,
)
from zhizhi.layers.schema import schema_metadata

ROOT = Path(__file__).resolve().parents[2]
STORE_TABLES = {
    "layers", "layer_features", "hazmat_vehicles", "alerts", "alert_actions", "incidents",
    "alert_keys", "alert_labels", "incident_codes", "incident_log", "users", "auth_tokens", "auth_tickets",
    "model_versions", "model_audit",
    "camera_registry", "camera_calibrations",
    "alert_procedures", "alert_procedure_ticks",
    "camera_tours", "tour_log", "wall_tiles", "wall_tile_layouts",
    "walls", "wall_devices", "wall_device_tickets", "wall_pairings",
    "forward_dead_letters",
}
empty_db_url = db_support.empty_db_url  # a fresh, never migrated database per backend


def schema_differences(engine) -> list:
    """What autogenerate would change to make the database match every store's metadata."""
    import geoalchemy2  # noqa: F401 - lets reflection recognise PostGIS's geometry type

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": compare_type}
        )
        return compare_metadata(context, schema_metadata())


# --- migrations ---------------------------------------------------------------------------


def test_migrations_from_empty_make_every_stores_schema(empty_db_url):
    engine = make_engine(empty_db_url)
    try:
        assert not inspect(engine).get_table_names()
        migrate(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        tables = set(inspect(engine).get_table_names())
        assert STORE_TABLES | {"alembic_version"} <= tables
        assert schema_differences(engine) == []
        columns = {c["name"] for c in inspect(engine).get_columns("layer_features")}
        indexes = {i["name"] for i in inspect(engine).get_indexes("layer_features")}
        if backend_of(empty_db_url) == "postgresql":
            assert "geom" in columns
            with engine.connect() as conn:
                assert conn.execute(
                    text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
                ).scalar()
                access = conn.execute(
                    text(
                        "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
                        "WHERE c.relname = 'ix_layer_features_geom'"
                    )
                ).scalar()
            assert access == "gist"
        else:
            assert "geom" not in columns and "ix_layer_features_geom" not in indexes
            rtree = {"layer_features_rtree", *(f"layer_features_rtree_{t}" for t in ("node", "parent", "rowid"))}
            assert tables == STORE_TABLES | {"alembic_version"} | rtree  # the R*Tree and its shadow tables
    finally:
        engine.dispose()


def test_the_test_databases_match_the_metadata(db_url):
    """``db_url`` (a copy of a migrated template on PostgreSQL) is at head, like a fresh one."""
    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_migrate_twice_is_a_noop(empty_db_url):
    engine = make_engine(empty_db_url)
    statements: list[str] = []
    try:
        migrate(engine)
        with engine.connect() as conn:
            before = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        migrate(engine)  # the same engine: nothing at all
        assert statements == []
        forget_migrated(engine)
        migrate(engine)  # as a new process would: one look at alembic_version, no DDL
        writes = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE")
        assert statements and not [s for s in statements if s.lstrip().upper().startswith(writes)]
        assert len(statements) <= 4, statements
        with engine.connect() as conn:
            after = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        assert before == after == [head_revision()]
    finally:
        engine.dispose()


def test_in_memory_sqlite_is_migrated_on_its_own_connection():
    engine = make_engine("sqlite://")
    store = AlertStore(engine)  # the doctests' way
    assert store.list() == []
    assert schema_differences(engine) == []


def test_a_database_made_by_the_former_create_all_is_adopted(empty_db_url):
    """Tables made by the stores' old ``metadata.create_all`` are kept; the rest is added."""
    engine = make_engine(empty_db_url)
    try:
        tables = schema_metadata().tables
        legacy_tables = ("layers", "layer_features", "users", "auth_tokens", "auth_tickets")
        schema_metadata().create_all(engine, tables=[tables[name] for name in legacy_tables])
        legacy = AuthStore.__new__(AuthStore)
        legacy.engine = engine
        legacy.add_user("old", "hash", "admin", DISTRICT, now=1.0)
        migrate(engine)
        assert schema_differences(engine) == []
        assert AuthStore(engine).get_user("old").role == "admin"
    finally:
        engine.dispose()


def test_processes_starting_together_on_postgresql_migrate_once():
    with postgres_database(migrated=False) as url:
        code = (
            "import sys; from zhizhi.layers.db import make_engine, migrate; "
            "e = make_engine(sys.argv[1]); migrate(e); e.dispose(); print('ok')"
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, url], cwd=ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            )
            for _ in range(3)
        ]
        results = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, results):
            assert p.returncode == 0 and out.strip() == "ok", err
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            assert [v[0] for v in versions] == [head_revision()]
            assert schema_differences(engine) == []
        finally:
            engine.dispose()


def test_a_migration_waits_for_the_advisory_lock_on_postgresql():
    with postgres_database(migrated=False) as url:
        holder, engine = make_engine(url), make_engine(url)
        done = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                migrate(engine)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            done.set()

        try:
            with holder.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()
                worker = threading.Thread(target=run)
                worker.start()
                assert not done.wait(1.5)  # another "process" holds the lock: it waits
                assert "alembic_version" not in inspect(holder).get_table_names()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                conn.commit()
            assert done.wait(60) and not errors, errors
            worker.join()
            assert schema_differences(engine) == []
        finally:
            holder.dispose()
            engine.dispose()


# --- errors ---------------------------------------------------------------------------------


def test_an_unreachable_postgresql_gives_a_clear_error():
    engine = make_engine("postgresql+psycopg://zz:secret@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as info:
        AlertStore(engine)
    message = str(info.value)
    assert "cannot prepare the database postgresql+psycopg://zz:***@127.0.0.1:1/nowhere" in message
    assert "secret" not in message and "connect" in message.lower()


def test_a_missing_postgresql_database_gives_a_clear_error():
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/zhizhi_t_does_not_exist")
    assert engine.dialect.driver == "psycopg"  # a bare postgresql:// URL takes psycopg 3
    with pytest.raises(DatabaseError, match='database "zhizhi_t_does_not_exist" does not exist'):
        migrate(engine)


# --- every store on both --------------------------------------------------------------------


def test_auth_store_on_each_backend(db_url):
    store = AuthStore(make_engine(db_url))
    store.add_user("duty", "h1", "duty_officer", "320612", now=1.0)
    store.add_user("town", "h2", "town_operator", "320612001", now=2.0)
    assert [u.username for u in store.list_users()] == ["duty", "town"]
    assert [u.username for u in store.list_users("320612001")] == ["town"]
    store.add_token("t-1", "town", now=3.0, expires_ts=100.0, address="10.0.0.1")
    assert store.token_owner("t-1").code == "320612001"
    assert store.set_password_hash("town", "h3", now=4.0)  # revokes its tokens
    assert store.token_owner("t-1") is None and store.get_user("town").password_hash == "h3"


def test_long_imported_codes_are_stored_on_each_backend(db_url):
    """A county's micro-grid codes are longer than 15 digits: users, layers and alerts keep them."""
    from zhizhi.gis.codes import CODE_LENGTH

    long_code = "32068400900400204" + "M" * (CODE_LENGTH - 17)
    engine = make_engine(db_url)
    store = AuthStore(engine)
    store.add_user("micro", "h1", "town_operator", long_code, now=1.0)
    assert store.get_user("micro").code == long_code
    registry = LayerRegistry(engine)
    layer = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.box(120.0, 32.0, 120.1, 32.1)], crs=4326)
    registry.save_layer("micro_grids", layer, kind="micro_grid", owner_code="320684", codes=["320684"])
    assert registry.read_features("micro_grids", Scope.everything())["code"].tolist() == ["320684"]


# --- PostGIS spatial reads equal SQLite's ---------------------------------------------------


def _grid_layer(n_side: int = 142) -> tuple[gpd.GeoDataFrame, list[str]]:
    """~20k small squares over the test district, a few district-level lines across towns."""
    xs = np.linspace(120.0, 121.0, n_side, endpoint=False)
    ys = np.linspace(32.0, 33.0, n_side, endpoint=False)
    d = 1.0 / n_side * 0.8
    x, y = (a.ravel() for a in np.meshgrid(xs, ys))
    squares = shapely.box(x, y, x + d, y + d)
    codes = np.where(x + d <= 120.5, TOWN_A, TOWN_B).astype(object)
    codes[(x < 120.5) & (x + d > 120.5)] = DISTRICT
    roads = [shapely.LineString([(120.05, 32.1 + i * 0.2), (120.95, 32.15 + i * 0.2)]) for i in range(4)]
    geoms = np.concatenate([squares, np.array(roads, dtype=object)])
    codes = list(codes) + [DISTRICT] * len(roads)
    rng = np.random.default_rng(1)
    gdf = gpd.GeoDataFrame(
        {
            "名称": [f"格{i}" for i in range(len(geoms))],
            "value": rng.random(len(geoms)).round(6),
            "tags": [{"k": int(i % 7), "层": ["a", "b"]} for i in range(len(geoms))],
        },
        geometry=geoms,
        crs=4326,
    )
    return gdf, codes


def _info(info) -> dict:
    """A layer's info without its timestamps (the two databases were written moments apart)."""
    return info.model_dump(exclude={"created_at", "updated_at"})


def _explain_last_spatial_query(registry: LayerRegistry, call) -> str:
    """EXPLAIN of the statement with ST_Intersects that ``call()`` ran on ``registry``."""
    seen: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "ST_Intersects" in statement:
            seen.append((statement, parameters))

    event.listen(registry.engine, "before_cursor_execute", grab)
    try:
        call()
    finally:
        event.remove(registry.engine, "before_cursor_execute", grab)
    statement, parameters = seen[-1]
    with registry.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    return "\n".join(r[0] for r in rows)


def test_postgis_reads_equal_sqlite_and_use_the_gist_index(tmp_path):
    gdf, codes = _grid_layer()
    assert len(gdf) > 20_000
    with database("sqlite", tmp_path) as lite_url, postgres_database() as pg_url:
        lite = LayerRegistry(make_engine(lite_url))
        pg = LayerRegistry(make_engine(pg_url))
        try:
            migrate(lite.engine)
            migrate(pg.engine)
            assert pg.postgis and not lite.postgis
            for reg in (lite, pg):
                reg.save_layer("cells", gdf, kind="custom", owner_code=DISTRICT, codes=codes)
                reg.save_layer("cells-b", gdf.iloc[:50], kind="custom", owner_code=DISTRICT)
            with pg.engine.begin() as conn:
                stored = conn.execute(
                    text(
                        "SELECT count(*), count(geom), "
                        "bool_and(ST_Equals(geom, ST_GeomFromWKB(geometry, 4326))), "
                        "min(ST_SRID(geom)), max(ST_SRID(geom)) FROM layer_features"
                    )
                ).one()
                conn.execute(text("ANALYZE layer_features"))
            assert stored == (len(gdf) + 50, len(gdf) + 50, True, 4326, 4326)

            # The GiST index answers a bbox read, a scoped read and a query.
            small = (120.30, 32.40, 120.36, 32.46)
            plan = _explain_last_spatial_query(
                pg, lambda: pg.read_features("cells", Scope.everything(), bbox=small)
            )
            assert "ix_layer_features_geom" in plan, plan
            probe = shapely.Point(120.71, 32.52).buffer(0.02)
            plan = _explain_last_spatial_query(
                pg, lambda: pg.query_intersects("cells", probe, scope(TOWN_B))
            )
            assert "ix_layer_features_geom" in plan, plan

            scopes = [Scope.everything(), scope(DISTRICT), scope(TOWN_A), scope(TOWN_B),
                      scope(VILLAGE_A2)]
            boxes = [small, (120.45, 32.0, 120.55, 33.0), (120.2, 32.2, 120.8, 32.3),
                     GEOMS[TOWN_B].bounds]
            whole = scope(TOWN_A)  # the whole layer as town A sees it: district lines clipped
            assert lite.feature_collection("cells", whole) == pg.feature_collection("cells", whole)
            checked = 0
            for s in scopes:
                assert _info(lite.get_layer("cells", s)) == _info(pg.get_layer("cells", s))
                assert list(map(_info, lite.list_layers(s))) == list(map(_info, pg.list_layers(s)))
                for box in boxes:
                    a = lite.feature_collection("cells", s, bbox=box)
                    b = pg.feature_collection("cells", s, bbox=box)
                    assert a == b
                    checked += len(a["features"])
                    fa = lite.read_features("cells", s, bbox=box)
                    fb = pg.read_features("cells", s, bbox=box)
                    assert fa.drop(columns="geometry").equals(fb.drop(columns="geometry"))
                    assert shapely.equals_exact(fa.geometry.values, fb.geometry.values, 0).all()
                for probe in (
                    shapely.Point(120.71, 32.52).buffer(0.02),
                    shapely.box(120.45, 32.05, 120.55, 32.95),
                    shapely.LineString([(120.0, 32.0), (121.0, 33.0)]),
                ):
                    got = pg.query_intersects("cells", probe, s)
                    np.testing.assert_array_equal(lite.query_intersects("cells", probe, s), got)
                    checked += len(got)
            assert checked > 40_000
            assert lite.export("cells", scope(TOWN_A), "geojson") == pg.export(
                "cells", scope(TOWN_A), "geojson"
            )
            for reg in (lite, pg):  # timezone-aware UTC on both
                info = reg.get_layer("cells", Scope.everything())
                assert info.created_at.tzinfo == UTC and info.updated_at.tzinfo == UTC
        finally:
            lite.engine.dispose()
            pg.engine.dispose()


def test_query_intersects_matches_a_brute_force_read(db_url):
    gdf, codes = _grid_layer(40)
    reg = LayerRegistry(make_engine(db_url))
    migrate(reg.engine)
    reg.save_layer("cells", gdf, kind="custom", owner_code=DISTRICT, codes=codes)
    probe = shapely.Polygon([(120.3, 32.3), (120.7, 32.35), (120.6, 32.7), (120.35, 32.6)])
    for s in (Scope.everything(), scope(TOWN_A), scope(TOWN_B), scope(VILLAGE_A2)):
        seen = reg.read_features("cells", s)
        expected = seen.index[shapely.intersects(seen.geometry.values, probe)].to_numpy()
        np.testing.assert_array_equal(reg.query_intersects("cells", probe, s), expected)
        assert len(expected) > 0


def test_sqlite_keeps_an_rtree_of_the_feature_boxes_in_step(tmp_path):
    """Migration 0002: every insert, update and delete of ``layer_features`` reaches the R*Tree
    (triggers), and a bbox read goes through it."""
    import geopandas as gpd
    from shapely.geometry import box

    from zhizhi.layers import LayerRegistry, Scope

    engine = make_engine(f"sqlite:///{tmp_path / 'rtree.db'}")
    registry = LayerRegistry(engine)
    squares = gpd.GeoDataFrame({"n": range(50)}, geometry=[box(120 + i * 0.01, 32, 120.005 + i * 0.01, 32.005)
                                                            for i in range(50)], crs="EPSG:4326")
    registry.save_layer("squares", squares, owner_code="320612", kind="poi")

    def rtree_rows() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM layer_features_rtree")).scalar()

    assert rtree_rows() == 50
    window = registry.read_features("squares", Scope.everything(), bbox=(120.0975, 31.9, 120.2025, 32.1))
    assert sorted(window["n"]) == list(range(10, 21))
    with engine.connect() as conn:
        plan = " ".join(str(r) for r in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT id FROM layer_features_rtree WHERE maxx >= 1 AND minx <= 2")))
    assert "VIRTUAL TABLE INDEX" in plan
    registry.save_layer("squares", squares.iloc[:5], owner_code="320612", kind="poi", replace=True)
    assert rtree_rows() == 5
    registry.delete_layer("squares")
    assert rtree_rows() == 0

