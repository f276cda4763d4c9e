"""Users, tokens and tickets on SQLAlchemy 2: tables ``users``, ``auth_tokens`` and
``auth_tickets`` in the console's database.

Passwords are stored as Argon2id hashes; tokens and tickets only as the SHA-256 of the random
value, so a copy of the database lets nobody act as a user. A token keeps when it was last used
(``last_used_ts``, written at most once a minute by the service) for the idle timeout; a ticket
belongs to one token and goes with it (``ON DELETE CASCADE``: a logout or a password change ends
the session's tickets too). Times are epoch seconds.

>>> from zhizhi.layers import make_engine
>>> store = AuthStore(make_engine("sqlite://"))
>>> store.add_user("duty", "hash", "duty_officer", "320612", now=0.0)
>>> store.get_user("duty").role
'duty_officer'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from zhizhi.gis.codes import CODE_LENGTH
from zhizhi.layers.db import migrate
from zhizhi.layers.schema import metadata
from zhizhi.layers.scope import within_clause

users_table = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(256), nullable=False),
    Column("role", String(32), nullable=False),
    Column("code", String(CODE_LENGTH), nullable=False, index=True),
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
    Column("last_used_ts", Float),  # NULL in rows older than migration 0003: created_ts counts
)

tickets_table = Table(
    "auth_tickets",
    metadata,
    Column("ticket_hash", String(64), primary_key=True),
    Column(
        "token_hash",
        String(64),
        ForeignKey("auth_tokens.token_hash", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("expires_ts", Float, nullable=False, index=True),
)

_U = users_table.c
_T = tokens_table.c
_K = tickets_table.c
#: What a session's token says (with its user): the last use counts from the login when unknown.
_SESSION_COLUMNS = (
    _T.token_hash, _U.username, _U.role, _U.code, _T.expires_ts,
    func.coalesce(_T.last_used_ts, _T.created_ts).label("last_used_ts"),
)


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

    token_hash: str
    username: str
    role: str
    code: str
    expires_ts: float
    last_used_ts: float


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
            query = query.where(within_clause(_U.code, within))
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
                    last_used_ts=now,
                )
            )

    def token_owner(self, token: str) -> TokenRow | None:
        """The user a token belongs to (with the token's expiry and last use), or ``None``."""
        query = (
            select(*_SESSION_COLUMNS)
            .select_from(tokens_table.join(users_table, _T.username == _U.username))
            .where(_T.token_hash == token_digest(token))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return TokenRow(**row._mapping) if row is not None else None

    def delete_token(self, token: str) -> bool:
        """Revoke one token (and its tickets); False when it was not stored."""
        return self.delete_token_digest(token_digest(token))

    def delete_token_digest(self, digest: str) -> bool:
        """Revoke the token stored as ``digest`` (and its tickets); False when there is none."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(tokens_table).where(_T.token_hash == digest))
        return bool(gone.rowcount)

    def touch_tokens(self, digests: Iterable[str], now: float, older_than: float) -> None:
        """Record a use at ``now`` of the tokens ``digests`` last recorded before ``older_than``."""
        with self.engine.begin() as conn:
            for chunk in _chunks(digests):
                conn.execute(
                    update(tokens_table)
                    .where(_T.token_hash.in_(chunk))
                    .where(func.coalesce(_T.last_used_ts, _T.created_ts) < older_than)
                    .values(last_used_ts=now)
                )

    def token_times(self, digests: Iterable[str]) -> dict[str, tuple[float, float]]:
        """``{digest: (expires_ts, last_used_ts)}`` of the tokens among ``digests`` still stored."""
        found: dict[str, tuple[float, float]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(digests):
                query = select(
                    _T.token_hash, _T.expires_ts, func.coalesce(_T.last_used_ts, _T.created_ts)
                ).where(_T.token_hash.in_(chunk))
                found.update({row[0]: (row[1], row[2]) for row in conn.execute(query)})
        return found

    # --- tickets --------------------------------------------------------------------------

    def add_ticket(self, ticket: str, token_hash: str, now: float, expires_ts: float) -> None:
        """Store a ticket's digest for the token ``token_hash``; expired tickets are purged."""
        with self.engine.begin() as conn:
            conn.execute(delete(tickets_table).where(_K.expires_ts <= now))
            conn.execute(
                insert(tickets_table).values(
                    ticket_hash=token_digest(ticket), token_hash=token_hash, expires_ts=expires_ts
                )
            )

    def ticket_owner(self, ticket: str) -> tuple[TokenRow, float] | None:
        """The session a ticket belongs to and the ticket's own expiry, or ``None``."""
        query = (
            select(*_SESSION_COLUMNS, _K.expires_ts.label("ticket_expires_ts"))
            .select_from(
                tickets_table.join(tokens_table, _K.token_hash == _T.token_hash).join(
                    users_table, _T.username == _U.username
                )
            )
            .where(_K.ticket_hash == token_digest(ticket))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        values = dict(row._mapping)
        expires = values.pop("ticket_expires_ts")
        return TokenRow(**values), expires


def _chunks(values: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size`` (one ``IN (...)`` each)."""
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
