"""Sessions: a token's last use (for the idle timeout) and tickets for URLs.

``auth_tokens.last_used_ts`` is when the token was last used (written at most once a minute);
rows made before this revision keep NULL, which counts as their ``created_ts``.
``auth_tickets`` holds the short-lived tickets of ``POST /api/auth/ticket`` (their SHA-256),
each belonging to one token and deleted with it. Tables or columns that exist already
(databases made by the stores' former ``metadata.create_all``) are kept as they are.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "last_used_ts" not in {c["name"] for c in inspector.get_columns("auth_tokens")}:
        op.add_column("auth_tokens", sa.Column("last_used_ts", sa.Float(), nullable=True))
    if not inspector.has_table("auth_tickets"):
        op.create_table(
            "auth_tickets",
            sa.Column("ticket_hash", sa.String(length=64), nullable=False),
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("expires_ts", sa.Float(), nullable=False),
            sa.ForeignKeyConstraint(["token_hash"], ["auth_tokens.token_hash"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("ticket_hash"),
        )
        op.create_index("ix_auth_tickets_token_hash", "auth_tickets", ["token_hash"])
        op.create_index("ix_auth_tickets_expires_ts", "auth_tickets", ["expires_ts"])


def downgrade() -> None:
    op.drop_index("ix_auth_tickets_expires_ts", table_name="auth_tickets")
    op.drop_index("ix_auth_tickets_token_hash", table_name="auth_tickets")
    op.drop_table("auth_tickets")
    with op.batch_alter_table("auth_tokens") as batch:
        batch.drop_column("last_used_ts")
