"""The initial schema of every store: layers, hazmat vehicles, alerts, incidents, users, models.

One revision for SQLite and PostgreSQL. On PostgreSQL ``layer_features`` also gets a PostGIS
``geom geometry(Geometry, 4326)`` column (written by the layer registry beside the WKB) with a
GiST index, and the ``postgis`` extension is created when missing. Tables that exist already
(databases made by the stores' former ``metadata.create_all``) are kept as they are.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from zhizhi.layers.db import DatabaseError

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = [
    "layers",
    "layer_features",
    "hazmat_vehicles",
    "alerts",
    "alert_actions",
    "incidents",
    "incident_codes",
    "incident_log",
    "users",
    "auth_tokens",
    "model_audit",
    "model_versions",
]


def _create(table: str) -> bool:
    """Whether ``table`` is missing (and so to be created with its indexes)."""
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _create('layers'):
        op.create_table(
            'layers',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('name', sa.String(length=64), nullable=False),
            sa.Column('title', sa.String(length=200), nullable=False),
            sa.Column('kind', sa.String(length=32), nullable=False),
            sa.Column('geometry_type', sa.String(length=32), nullable=False),
            sa.Column('style', sa.JSON(), nullable=False),
            sa.Column('owner_code', sa.String(length=15), nullable=False),
            sa.Column('visibility', sa.String(length=8), nullable=False),
            sa.Column('meta', sa.JSON(), nullable=False),
            sa.Column('fields', sa.JSON(), nullable=False),
            sa.Column('feature_count', sa.Integer(), nullable=False),
            sa.Column('minx', sa.Float(), nullable=True),
            sa.Column('miny', sa.Float(), nullable=True),
            sa.Column('maxx', sa.Float(), nullable=True),
            sa.Column('maxy', sa.Float(), nullable=True),
            sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('name'),
        )
        op.create_index('ix_layers_owner_code', 'layers', ['owner_code'])

    if _create('layer_features'):
        op.create_table(
            'layer_features',
            sa.Column('id', sa.Integer(), nullable=False),
            sa.Column('layer_id', sa.Integer(), nullable=False),
            sa.Column('fid', sa.Integer(), nullable=False),
            sa.Column('code', sa.String(length=15), nullable=False),
            sa.Column('properties', sa.JSON(), nullable=False),
            sa.Column('geometry', sa.LargeBinary(), nullable=False),
            sa.Column('minx', sa.Float(), nullable=False),
            sa.Column('miny', sa.Float(), nullable=False),
            sa.Column('maxx', sa.Float(), nullable=False),
            sa.Column('maxy', sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(['layer_id'], ['layers.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_layer_features_code', 'layer_features', ['code'])
        op.create_index('ix_layer_features_layer_code', 'layer_features', ['layer_id', 'code'])
        op.create_index('ix_layer_features_layer_fid', 'layer_features', ['layer_id', 'fid'], unique=True)
        op.create_index('ix_layer_features_maxx', 'layer_features', ['layer_id', 'maxx'])
        op.create_index('ix_layer_features_maxy', 'layer_features', ['layer_id', 'maxy'])
        op.create_index('ix_layer_features_minx', 'layer_features', ['layer_id', 'minx'])
        op.create_index('ix_layer_features_miny', 'layer_features', ['layer_id', 'miny'])

    if _create('hazmat_vehicles'):
        op.create_table(
            'hazmat_vehicles',
            sa.Column('vehicle_id', sa.String(length=64), nullable=False),
            sa.Column('plate', sa.String(length=16), nullable=False),
            sa.Column('company', sa.String(length=200), nullable=False),
            sa.Column('un_number', sa.String(length=4), nullable=False),
            sa.Column('hazard_class', sa.String(length=8), nullable=False),
            sa.Column('route', sa.JSON(), nullable=False),
            sa.Column('corridor_m', sa.Float(), nullable=False),
            sa.Column('permitted_hours', sa.String(length=11), nullable=False),
            sa.Column('minx', sa.Float(), nullable=False),
            sa.Column('miny', sa.Float(), nullable=False),
            sa.Column('maxx', sa.Float(), nullable=False),
            sa.Column('maxy', sa.Float(), nullable=False),
            sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint('vehicle_id'),
        )

    if _create('alerts'):
        op.create_table(
            'alerts',
            sa.Column('id', sa.String(length=16), nullable=False),
            sa.Column('key', sa.String(length=300), nullable=False),
            sa.Column('rule', sa.String(length=64), nullable=True),
            sa.Column('rule_id', sa.String(length=128), nullable=True),
            sa.Column('model', sa.String(length=128), nullable=False),
            sa.Column('severity', sa.String(length=8), nullable=False),
            sa.Column('source', sa.String(length=32), nullable=False),
            sa.Column('category', sa.String(length=64), nullable=False),
            sa.Column('cameras', sa.JSON(), nullable=False),
            sa.Column('camera_id', sa.String(length=128), nullable=True),
            sa.Column('track_id', sa.Integer(), nullable=True),
            sa.Column('cls', sa.String(length=64), nullable=True),
            sa.Column('lon', sa.Float(), nullable=False),
            sa.Column('lat', sa.Float(), nullable=False),
            sa.Column('grid', sa.String(length=15), nullable=True),
            sa.Column('village', sa.String(length=15), nullable=True),
            sa.Column('town', sa.String(length=15), nullable=True),
            sa.Column('district', sa.String(length=15), nullable=True),
            sa.Column('evidence', sa.JSON(), nullable=False),
            sa.Column('first_ts', sa.Float(), nullable=False),
            sa.Column('last_ts', sa.Float(), nullable=False),
            sa.Column('active', sa.Boolean(), nullable=False),
            sa.Column('status', sa.String(length=16), nullable=False),
            sa.Column('assignee_unit', sa.String(length=15), nullable=False),
            sa.Column('deadline_ts', sa.Float(), nullable=True),
            sa.Column('reminded_ts', sa.Float(), nullable=True),
            sa.Column('supervised_ts', sa.Float(), nullable=True),
            sa.Column('done_ts', sa.Float(), nullable=True),
            sa.Column('text', sa.Text(), nullable=True),
            sa.Column('reporter', sa.String(length=100), nullable=True),
            sa.Column('channel', sa.String(length=32), nullable=True),
            sa.Column('details', sa.JSON(), nullable=False),
            sa.Column('created_ts', sa.Float(), nullable=False),
            sa.Column('updated_ts', sa.Float(), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_alerts_assignee_unit', 'alerts', ['assignee_unit'])
        op.create_index('ix_alerts_grid', 'alerts', ['grid'])
        op.create_index('ix_alerts_key', 'alerts', ['key'])
        op.create_index('ix_alerts_last_ts', 'alerts', ['last_ts'])
        op.create_index('ix_alerts_status', 'alerts', ['status'])
        op.create_index(
            "ux_alerts_open_key",
            "alerts",
            ["key"],
            unique=True,
            sqlite_where=sa.text("status IN ('new', 'acknowledged', 'dispatched', 'on_scene', 'reopened')"),
            postgresql_where=sa.text("status IN ('new', 'acknowledged', 'dispatched', 'on_scene', 'reopened')"),
        )

    if _create('alert_actions'):
        op.create_table(
            'alert_actions',
            sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
            sa.Column('alert_id', sa.String(length=16), nullable=False),
            sa.Column('ts', sa.Float(), nullable=False),
            sa.Column('actor', sa.String(length=100), nullable=False),
            sa.Column('action', sa.String(length=16), nullable=False),
            sa.Column('from_status', sa.String(length=16), nullable=True),
            sa.Column('to_status', sa.String(length=16), nullable=True),
            sa.Column('from_unit', sa.String(length=15), nullable=True),
            sa.Column('unit', sa.String(length=15), nullable=True),
            sa.Column('note', sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_alert_actions_alert_id', 'alert_actions', ['alert_id'])

    if _create('incidents'):
        op.create_table(
            'incidents',
            sa.Column('id', sa.String(length=16), nullable=False),
            sa.Column('type', sa.String(length=32), nullable=False),
            sa.Column('title', sa.String(length=200), nullable=False),
            sa.Column('status', sa.String(length=16), nullable=False),
            sa.Column('area', sa.JSON(), nullable=False),
            sa.Column('geometry', sa.JSON(), nullable=False),
            sa.Column('owner_unit', sa.String(length=15), nullable=False),
            sa.Column('codes', sa.JSON(), nullable=False),
            sa.Column('impact', sa.JSON(), nullable=False),
            sa.Column('created_ts', sa.Float(), nullable=False),
            sa.Column('created_by', sa.String(length=100), nullable=False),
            sa.Column('updated_ts', sa.Float(), nullable=False),
            sa.Column('closed_ts', sa.Float(), nullable=True),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_incidents_created_ts', 'incidents', ['created_ts'])
        op.create_index('ix_incidents_owner_unit', 'incidents', ['owner_unit'])
        op.create_index('ix_incidents_status', 'incidents', ['status'])

    if _create('incident_codes'):
        op.create_table(
            'incident_codes',
            sa.Column('incident_id', sa.String(length=16), nullable=False),
            sa.Column('code', sa.String(length=15), nullable=False),
            sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('incident_id', 'code'),
        )
        op.create_index('ix_incident_codes_code', 'incident_codes', ['code'])

    if _create('incident_log'):
        op.create_table(
            'incident_log',
            sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
            sa.Column('incident_id', sa.String(length=16), nullable=False),
            sa.Column('ts', sa.Float(), nullable=False),
            sa.Column('kind', sa.String(length=16), nullable=False),
            sa.Column('actor', sa.String(length=100), nullable=False),
            sa.Column('text', sa.Text(), nullable=False),
            sa.Column('alert_id', sa.String(length=16), nullable=True),
            sa.Column('data', sa.JSON(), nullable=False),
            sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_incident_log_incident_id', 'incident_log', ['incident_id'])
        op.create_index(
            "ux_incident_log_alert",
            "incident_log",
            ["incident_id", "alert_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'alert'"),
            postgresql_where=sa.text("kind = 'alert'"),
        )

    if _create('users'):
        op.create_table(
            'users',
            sa.Column('username', sa.String(length=64), nullable=False),
            sa.Column('password_hash', sa.String(length=256), nullable=False),
            sa.Column('role', sa.String(length=32), nullable=False),
            sa.Column('code', sa.String(length=15), nullable=False),
            sa.Column('created_ts', sa.Float(), nullable=False),
            sa.Column('updated_ts', sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint('username'),
        )
        op.create_index('ix_users_code', 'users', ['code'])

    if _create('auth_tokens'):
        op.create_table(
            'auth_tokens',
            sa.Column('token_hash', sa.String(length=64), nullable=False),
            sa.Column('username', sa.String(length=64), nullable=False),
            sa.Column('created_ts', sa.Float(), nullable=False),
            sa.Column('expires_ts', sa.Float(), nullable=False),
            sa.Column('address', sa.String(length=64), nullable=True),
            sa.ForeignKeyConstraint(['username'], ['users.username'], ondelete='CASCADE'),
            sa.PrimaryKeyConstraint('token_hash'),
        )
        op.create_index('ix_auth_tokens_expires_ts', 'auth_tokens', ['expires_ts'])
        op.create_index('ix_auth_tokens_username', 'auth_tokens', ['username'])

    if _create('model_audit'):
        op.create_table(
            'model_audit',
            sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
            sa.Column('ts', sa.Float(), nullable=False),
            sa.Column('actor', sa.String(length=100), nullable=False),
            sa.Column('action', sa.String(length=16), nullable=False),
            sa.Column('kind', sa.String(length=16), nullable=False),
            sa.Column('name', sa.String(length=64), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.Column('from_name', sa.String(length=64), nullable=True),
            sa.Column('from_version', sa.Integer(), nullable=True),
            sa.Column('reason', sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint('id'),
        )
        op.create_index('ix_model_audit_kind', 'model_audit', ['kind'])

    if _create('model_versions'):
        op.create_table(
            'model_versions',
            sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
            sa.Column('kind', sa.String(length=16), nullable=False),
            sa.Column('name', sa.String(length=64), nullable=False),
            sa.Column('version', sa.Integer(), nullable=False),
            sa.Column('content', sa.Text(), nullable=False),
            sa.Column('status', sa.String(length=16), nullable=False),
            sa.Column('author', sa.String(length=100), nullable=False),
            sa.Column('reason', sa.Text(), nullable=False),
            sa.Column('created_ts', sa.Float(), nullable=False),
            sa.Column('checksum', sa.String(length=64), nullable=False),
            sa.PrimaryKeyConstraint('id'),
            sa.UniqueConstraint('kind', 'name', 'version', name='ux_model_versions_kind_name_version'),
        )
        op.create_index(
            "ux_model_versions_production",
            "model_versions",
            ["kind"],
            unique=True,
            sqlite_where=sa.text("status = 'production'"),
            postgresql_where=sa.text("status = 'production'"),
        )

    if op.get_bind().dialect.name == "postgresql":
        _postgis()


def _postgis() -> None:
    """The PostGIS extension, ``layer_features.geom`` (from the WKB) and its GiST index."""
    bind = op.get_bind()
    installed = bind.execute(
        sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
    ).scalar()
    if not installed:
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
        ).scalar()
        if not available:
            raise DatabaseError(
                "PostGIS is not installed on this PostgreSQL server: zhizhi needs it for "
                "layer_features.geom (Debian/Ubuntu: apt-get install "
                "postgresql-<version>-postgis-3, or scripts/setup.sh --test)"
            )
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    columns = {c["name"] for c in sa.inspect(bind).get_columns("layer_features")}
    if "geom" not in columns:
        op.add_column(
            "layer_features",
            sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
        )
        op.execute(
            "UPDATE layer_features SET geom = ST_GeomFromWKB(geometry, 4326) WHERE geom IS NULL"
        )
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_layer_features_geom ON layer_features USING gist (geom)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_layer_features_geom")
    for table in reversed(TABLES):
        op.drop_table(table)
