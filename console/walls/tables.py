"""The tables of walls, their paired devices, the devices' tickets and the pairing codes
(migration 0010; see its docstring for what each column holds)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Integer, String, Table, UniqueConstraint

from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.schema import metadata

walls_table = Table(
    "walls",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("code", String(CODE_LENGTH), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("title", String(128), nullable=False),
    Column("slots", JSON, nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
    UniqueConstraint("code", "name", name="uq_walls_code_name"),
)

devices_table = Table(
    "wall_devices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("wall_id", Integer, ForeignKey("walls.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("slot", String(32), nullable=False),
    Column("label", String(64), nullable=False),
    Column("token_hash", String(64)),
    Column("created_ts", Float, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("claimed_ts", Float),
    Column("last_seen_ts", Float),
    UniqueConstraint("token_hash", name="uq_wall_devices_token_hash"),
)

device_tickets_table = Table(
    "wall_device_tickets",
    metadata,
    Column("ticket_hash", String(64), primary_key=True),
    Column("device_id", Integer, ForeignKey("wall_devices.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("expires_ts", Float, nullable=False, index=True),
)

pairings_table = Table(
    "wall_pairings",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("claim_hash", String(64), nullable=False),
    Column("created_ts", Float, nullable=False),
    Column("expires_ts", Float, nullable=False, index=True),
    Column("address", String(64)),
    Column("device_id", Integer, ForeignKey("wall_devices.id", ondelete="CASCADE")),
    UniqueConstraint("claim_hash", name="uq_wall_pairings_claim_hash"),
)
