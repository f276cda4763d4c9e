"""The walls of a console: walls kept by jurisdiction, screens paired and revoked.

One :class:`WallService` per :class:`~console.auth.AuthService` (:func:`walls_of`): it shares
the auth service's clock, its device store and its live connections (a revoked device's
``/ws`` closes at once).
"""

from __future__ import annotations

import logging
import secrets
import weakref

from zhizhi.console.auth import AuthService
from zhizhi.console.auth.models import to_datetime
from zhizhi.console.walls import pairing
from zhizhi.console.walls.devices import DeviceRow, PairingClash
from zhizhi.console.walls.models import Claimed, Device, PairingCode, slot_url
from zhizhi.console.walls.store import WallStore

log = logging.getLogger(__name__)


class RateLimited(Exception):
    """Too many codes drawn or guessed; ``retry_after`` seconds to wait."""

    def __init__(self, what: str, retry_after: float) -> None:
        super().__init__(f"{what}; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class WallService:
    """Walls, pairing codes and devices on the auth service's database."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        self.store = WallStore(auth.store.engine)
        self.devices = auth.devices
        self.codes_drawn = pairing.Window(pairing.CODES_PER_WINDOW, pairing.WINDOW_S, self._now)
        self.codes_missed = pairing.Window(pairing.GUESSES_PER_WINDOW, pairing.WINDOW_S, self._now)

    def _now(self) -> float:
        return self.auth.clock()  # the auth service's clock, replaced in tests

    def open_pairing(self, address: str | None) -> PairingCode:
        """A new code for an unpaired screen; :class:`RateLimited` per address."""
        wait = self.codes_drawn.hit(address or "-")
        if wait is not None:
            raise RateLimited("too many pairing codes from this address", wait)
        now = self.auth.clock()
        claim = secrets.token_urlsafe(32)
        for _ in range(8):
            code = pairing.new_code()
            try:
                self.devices.open_pairing(code, claim, now, now + pairing.CODE_TTL_S, address)
                return PairingCode(code=code, claim=claim, expires_in=pairing.CODE_TTL_S)
            except PairingClash:
                continue
        raise RuntimeError("no free pairing code after 8 draws")

    def pair(self, wall_id: int, typed: str, slot: str, label: str, by: str) -> DeviceRow | None:
        """Pair the screen showing ``typed`` to a slot: the device, or ``None`` when no such
        code waits; :class:`RateLimited` (nothing tried, not even a right code) while ``by`` has
        entered too many wrong codes."""
        wait = self.codes_missed.wait(by)
        if wait is not None:
            raise RateLimited("too many wrong pairing codes", wait)
        found = self.devices.attach(pairing.normalize(typed), wall_id, slot, label, by, self.auth.clock())
        if found is None:
            self.codes_missed.hit(by)
            return None
        log.info("device %s paired to wall %s slot %s by %s", found.id, found.wall_name, slot, by)
        return found

    def claim(self, claim: str) -> Claimed | None:
        """A screen collects its credential (once): waiting, paired, or ``None`` (unknown or
        expired: the screen draws a new code)."""
        token = secrets.token_urlsafe(32)
        answer = self.devices.claim(claim, token, self.auth.clock())
        if answer is None:
            return None
        status, value = answer
        if status == "waiting":
            return Claimed(status="waiting", expires_in=round(float(value), 1))  # type: ignore[arg-type]
        device: DeviceRow = value  # type: ignore[assignment]
        wall = self.store.get(device.wall_id)
        slot = next(s for s in wall.slots if s.name == device.slot) if wall else None
        url = slot_url(device.wall_name, slot) if slot else f"/wall?wall={device.wall_name}"
        return Claimed(status="paired", token=token, wall=device.wall_name, slot=device.slot, url=url)

    def revoke(self, device_id: int) -> DeviceRow | None:
        """Revoke a device and close its live connections; ``None`` when it is not there."""
        device = self.devices.delete(device_id)
        if device is not None:
            self.auth.end_device(device)
        return device

    def delete_wall(self, wall_id: int) -> bool:
        """Remove a wall; its devices are revoked (their connections close) first."""
        for device in self.devices.list(wall_id):
            self.revoke(device.id)
        return self.store.delete(wall_id)


def device_model(row: DeviceRow) -> Device:
    """A device as the API shows it."""
    return Device(
        id=row.id, wall_id=row.wall_id, slot=row.slot, label=row.label, paired=row.token_hash is not None,
        created_at=to_datetime(row.created_ts), created_by=row.created_by,
        last_seen_at=to_datetime(row.last_seen_ts) if row.last_seen_ts is not None else None,
    )


_services: weakref.WeakKeyDictionary[AuthService, WallService] = weakref.WeakKeyDictionary()


def walls_of(auth: AuthService) -> WallService:
    """The one :class:`WallService` of ``auth``."""
    service = _services.get(auth)
    if service is None:
        service = _services[auth] = WallService(auth)
    return service
