"""Users and tokens on SQLAlchemy 2: tables ``users`` and ``auth_tokens`` in the console's database.

Passwords are stored as Argon2id hashes; tokens only as the SHA-256 of the random token, so
a copy of the database lets nobody act as a user. Times are epoch seconds.

>>> from layers import make_engine
>>> store = AuthStore(make_engine("sqlite://"))
>>> store.add_user("duty", "hash", "duty_officer", "320612", now=0.0)
>>> store.get_user("duty").role
'duty_officer'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from layers.db import migrate

metadata = MetaData()

users_table = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(32), nullable=False),
    Column("code", String(15), nullable=False, index=True),
    Column("created_ts", Float, nullable=False),
    Column("updated_ts", Float, nullable=False),
)

tokens_table = Table(
    "auth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "username",
        String(64),
        ForeignKey("users.username", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_ts", Float, nullable=False),
    Column("expires_ts", Float, nullable=False, index=True),
    Column("address", String(64)),
)

_U = users_table.c
_T = tokens_table.c


class DuplicateUser(ValueError):
    """A user of that name exists already."""


@dataclass(frozen=True)
class UserRow:
    """A stored user."""

    username: str
    password_hash: str
    role: str
    code: str
    created_ts: float
    updated_ts: float


@dataclass(frozen=True)
class TokenRow:
    """A stored token joined with its user."""

    username: str
    role: str
    code: str
    expires_ts: float


def token_digest(token: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AuthStore:
    """Users and tokens in one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)  # the one way the schema is made: layers.db.migrate

    # --- users ----------------------------------------------------------------------------

    def add_user(self, username: str, password_hash: str, role: str, code: str, now: float) -> None:
        """Store a new user; :class:`DuplicateUser` when the name is taken."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(users_table).values(
                        username=username,
                        password_hash=password_hash,
                        role=role,
                        code=code,
                        created_ts=now,
                        updated_ts=now,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateUser(f"user {username!r} exists already") from exc

    def get_user(self, username: str) -> UserRow | None:
        """The user called ``username``, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users_table).where(_U.username == username)).first()
        return UserRow(**row._mapping) if row is not None else None

    def list_users(self, within: str = "") -> list[UserRow]:
        """Users whose jurisdiction lies within ``within`` (all by default), by name."""
        query = select(users_table).order_by(_U.username)
        if within:
            query = query.where(_U.code.startswith(within, autoescape=True))
        with self.engine.connect() as conn:
            return [UserRow(**row._mapping) for row in conn.execute(query)]

    def set_password_hash(
        self, username: str, password_hash: str, now: float, revoke_tokens: bool = True
    ) -> bool:
        """Replace the user's hash (and end its sessions); False when there is no such user."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(users_table)
                .where(_U.username == username)
                .values(password_hash=password_hash, updated_ts=now)
            ).rowcount
            if changed and revoke_tokens:
                conn.execute(delete(tokens_table).where(_T.username == username))
        return bool(changed)

    # --- tokens ---------------------------------------------------------------------------

    def add_token(
        self, token: str, username: str, now: float, expires_ts: float, address: str | None
    ) -> None:
        """Store a new token's digest for ``username``; expired tokens are purged on the way."""
        with self.engine.begin() as conn:
            conn.execute(delete(tokens_table).where(_T.expires_ts <= now))
            conn.execute(
                insert(tokens_table).values(
                    token_hash=token_digest(token),
                    username=username,
                    created_ts=now,
                    expires_ts=expires_ts,
                    address=(address or "")[:64] or None,
                )
            )

    def token_owner(self, token: str) -> TokenRow | None:
        """The user a token belongs to (with the token's expiry), or ``None``."""
        query = (
            select(_U.username, _U.role, _U.code, _T.expires_ts)
            .select_from(tokens_table.join(users_table, _T.username == _U.username))
            .where(_T.token_hash == token_digest(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return TokenRow(**row._mapping) if row is not None else None

    def delete_token(self, token: str) -> bool:
        """Revoke one token; False when it was not stored."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(tokens_table).where(_T.token_hash == token_digest(token)))
        return bool(gone.rowcount)
