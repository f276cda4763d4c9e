"""Walls configured once: their screens and the devices paired to them.

``walls``: a named wall of a jurisdiction (the name unique within it) with its title and its
slots (JSON: the screens, each a name, a kind and options). ``wall_devices``: a physical screen
paired to one slot of a wall; ``token_hash`` is the SHA-256 of its device credential (NULL
until the screen has collected it), removed with the wall. ``wall_device_tickets``: the
short-lived URL tickets of devices (``/ws``, camera video), removed with their device.
``wall_pairings``: the short codes unpaired screens show, with the SHA-256 of the secret the
screen collects its credential with; ``device_id`` is set once an admin has entered the code.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "walls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code", "name", name="uq_walls_code_name"),
    )
    op.create_index("ix_walls_code", "walls", ["code"])
    op.create_table(
        "wall_devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wall_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("claimed_ts", sa.Float(), nullable=True),
        sa.Column("last_seen_ts", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["wall_id"], ["walls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_wall_devices_token_hash"),
    )
    op.create_index("ix_wall_devices_wall_id", "wall_devices", ["wall_id"])
    op.create_table(
        "wall_device_tickets",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("expires_ts", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["wall_devices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ticket_hash"),
    )
    op.create_index("ix_wall_device_tickets_device_id", "wall_device_tickets", ["device_id"])
    op.create_index("ix_wall_device_tickets_expires_ts", "wall_device_tickets", ["expires_ts"])
    op.create_table(
        "wall_pairings",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("claim_hash", sa.String(length=64), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("expires_ts", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["wall_devices.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("code"),
        sa.UniqueConstraint("claim_hash", name="uq_wall_pairings_claim_hash"),
    )
    op.create_index("ix_wall_pairings_expires_ts", "wall_pairings", ["expires_ts"])


def downgrade() -> None:
    op.drop_index("ix_wall_pairings_expires_ts", table_name="wall_pairings")
    op.drop_table("wall_pairings")
    op.drop_index("ix_wall_device_tickets_expires_ts", table_name="wall_device_tickets")
    op.drop_index("ix_wall_device_tickets_device_id", table_name="wall_device_tickets")
    op.drop_table("wall_device_tickets")
    op.drop_index("ix_wall_devices_wall_id", table_name="wall_devices")
    op.drop_table("wall_devices")
    op.drop_index("ix_walls_code", table_name="walls")
    op.drop_table("walls")
