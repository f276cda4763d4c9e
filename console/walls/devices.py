"""Paired screens and their credentials on SQLAlchemy 2 (tables ``wall_devices``,
``wall_device_tickets``, ``wall_pairings``).

A device credential is stored like a login token: only its SHA-256
(:func:`~console.auth.store.token_digest`), so a copy of the database lets nobody act as a
screen. It has no expiry and no idle timeout (a wall PC switched off for the weekend comes back
paired); it ends only when an admin revokes the device (its row is deleted, its tickets with it)
or deletes the wall. The pairing of a screen takes three steps, each one transaction:

1. :meth:`DeviceStore.open_pairing`: the screen's code and the digest of its secret claim;
2. :meth:`DeviceStore.attach`: an admin entered the code: a device row without a credential;
3. :meth:`DeviceStore.claim`: the screen presents its claim: the credential's digest is stored
   on the device, the pairing is removed, and the screen gets the credential once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from zhizhi.console.auth.store import token_digest
from zhizhi.console.walls.tables import device_tickets_table, devices_table, pairings_table, walls_table

_D = devices_table.c
_P = pairings_table.c
_K = device_tickets_table.c
_W = walls_table.c
_COLUMNS = (*devices_table.c, _W.name.label("wall_name"), _W.code.label("code"))


@dataclass(frozen=True)
class DeviceRow:
    """A stored device with its wall's name and jurisdiction."""

    id: int
    wall_id: int
    slot: str
    label: str
    token_hash: str | None
    created_ts: float
    created_by: str
    claimed_ts: float | None
    last_seen_ts: float | None
    wall_name: str
    code: str

    @property
    def username(self) -> str:
        """Who the device acts as (logs, live connections)."""
        return f"wall-device-{self.id}"


class PairingClash(ValueError):
    """The code drawn is in use already (draw another)."""


class DeviceStore:
    """The devices, device tickets and pairing codes of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _select(self):
        return select(*_COLUMNS).select_from(devices_table.join(walls_table, _D.wall_id == _W.id))

    def _one(self, *where) -> DeviceRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._select().where(*where)).first()
        return DeviceRow(**row._mapping) if row is not None else None

    # --- pairing ----------------------------------------------------------------------------

    def open_pairing(self, code: str, claim: str, now: float, expires_ts: float, address: str | None) -> None:
        """Store a new code with the digest of its claim; expired codes are purged first.
        :class:`PairingClash` when ``code`` is taken."""
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(pairings_table).where(_P.expires_ts <= now))
                conn.execute(insert(pairings_table).values(
                    code=code, claim_hash=token_digest(claim), created_ts=now, expires_ts=expires_ts,
                    address=(address or "")[:64] or None))
        except IntegrityError:
            raise PairingClash(code) from None

    def attach(self, code: str, wall_id: int, slot: str, label: str, by: str, now: float) -> DeviceRow | None:
        """Pair the screen showing ``code`` to ``slot`` of ``wall_id``: the new device, or
        ``None`` when no such code is waiting (unknown, expired or paired already)."""
        with self.engine.begin() as conn:
            waiting = conn.execute(select(_P.code).where(
                _P.code == code, _P.expires_ts > now, _P.device_id.is_(None))).first()
            if waiting is None:
                return None
            device_id = conn.execute(insert(devices_table).values(
                wall_id=wall_id, slot=slot, label=label, created_ts=now, created_by=by)).inserted_primary_key[0]
            conn.execute(update(pairings_table).where(_P.code == code).values(device_id=device_id))
        return self.get(int(device_id))

    def claim(self, claim: str, token: str, now: float) -> tuple[str, float | DeviceRow] | None:
        """A screen asks for its credential with its claim: ``("waiting", seconds left)``,
        ``("paired", device)`` (``token`` is now its credential; the pairing is gone), or
        ``None`` for an unknown or expired claim."""
        with self.engine.begin() as conn:
            row = conn.execute(select(_P.code, _P.expires_ts, _P.device_id).where(
                _P.claim_hash == token_digest(claim))).first()
            if row is None:
                return None
            if row.device_id is None:
                return ("waiting", row.expires_ts - now) if row.expires_ts > now else None
            conn.execute(update(devices_table).where(_D.id == row.device_id).values(
                token_hash=token_digest(token), claimed_ts=now, last_seen_ts=now))
            conn.execute(delete(pairings_table).where(_P.code == row.code))
        device = self.get(int(row.device_id))
        return ("paired", device) if device is not None else None

    # --- devices ----------------------------------------------------------------------------

    def get(self, device_id: int) -> DeviceRow | None:
        return self._one(_D.id == device_id)

    def by_digest(self, digest: str) -> DeviceRow | None:
        """The device whose credential's digest is ``digest``, or ``None``."""
        return self._one(_D.token_hash == digest)

    def list(self, wall_id: int) -> list[DeviceRow]:
        """The devices of a wall, by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(self._select().where(_D.wall_id == wall_id).order_by(_D.id))
            return [DeviceRow(**row._mapping) for row in rows]

    def delete(self, device_id: int) -> DeviceRow | None:
        """Revoke a device (its tickets go with it): the row as it was, or ``None``."""
        device = self.get(device_id)
        if device is None:
            return None
        with self.engine.begin() as conn:
            conn.execute(delete(devices_table).where(_D.id == device_id))
        return device

    def alive(self, digests: Iterable[str]) -> set[str]:
        """Those of ``digests`` that are the credentials of devices still paired."""
        wanted = list(digests)
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            rows = conn.execute(select(_D.token_hash).where(_D.token_hash.in_(wanted)))
            return {row[0] for row in rows}

    def touch(self, device_id: int, now: float) -> None:
        """Record that the device was seen at ``now``."""
        with self.engine.begin() as conn:
            conn.execute(update(devices_table).where(_D.id == device_id).values(last_seen_ts=now))

    # --- tickets ----------------------------------------------------------------------------

    def add_ticket(self, ticket: str, device_id: int, now: float, expires_ts: float) -> None:
        """Store a URL ticket's digest for a device; expired tickets are purged."""
        with self.engine.begin() as conn:
            conn.execute(delete(device_tickets_table).where(_K.expires_ts <= now))
            conn.execute(insert(device_tickets_table).values(
                ticket_hash=token_digest(ticket), device_id=device_id, expires_ts=expires_ts))

    def ticket_owner(self, ticket: str) -> tuple[DeviceRow, float] | None:
        """The device a ticket belongs to and the ticket's expiry, or ``None``."""
        query = (
            select(*_COLUMNS, _K.expires_ts.label("ticket_expires_ts"))
            .select_from(device_tickets_table.join(devices_table, _K.device_id == _D.id)
                         .join(walls_table, _D.wall_id == _W.id))
            .where(_K.ticket_hash == token_digest(ticket))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        values = dict(row._mapping)
        expires = values.pop("ticket_expires_ts")
        return DeviceRow(**values), expires
