"""The authentication service: users, logins, tokens, logouts.

Tokens are 256 random bits (:func:`secrets.token_urlsafe`), stored as their SHA-256 with an
expiry (``settings.auth.token_ttl_s``), so they survive a restart and a logout or a password
change ends them. A paired wall screen's device credential (:mod:`console.walls.devices`) is
accepted as a bearer token too: its principal has the role ``wall_device`` and its wall's
jurisdiction, and it neither expires nor idles out; it ends when an admin revokes the device
(:meth:`AuthService.end_device`). A login fails with one message whatever went wrong (unknown user, wrong
password), and an unknown user's password is verified against a dummy hash, so neither the
answer nor its timing tells whether a user exists. Logins are guarded by
:class:`~console.auth.ratelimit.LoginGuard`: per user and address, then per address,
exponential backoff; while one applies, :class:`RateLimited` says how long to wait and no
password is checked.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from zhizhi.console.auth.models import (
    USERNAME_PATTERN,
    LoginResult,
    Principal,
    UserInfo,
    to_datetime,
)
from zhizhi.console.auth.passwords import Passwords, WeakPassword
from zhizhi.console.auth.ratelimit import LoginGuard
from zhizhi.console.auth.roles import ROLE_LEVELS, Role, parse_role
from zhizhi.console.auth.sessions import LiveSessions, SessionWatch
from zhizhi.console.auth.store import AuthStore, DuplicateUser, TokenRow, UserRow, token_digest
from zhizhi.console.settings import AuthSettings
from zhizhi.console.walls.devices import DeviceRow, DeviceStore
from zhizhi.gis.codes import level_of
from zhizhi.gis.jurisdiction import Jurisdictions

log = logging.getLogger(__name__)
_USERNAME = re.compile(USERNAME_PATTERN)
LOGIN_FAILED = "invalid username or password"
#: A token's last use is written at most this often (an idle timeout is exact to about this).
TOUCH_INTERVAL_S = 60.0


class AuthError(ValueError):
    """A refused user-management request, with the reason."""


class UserExists(AuthError):
    """A user of that name exists already."""


class UnknownUser(AuthError):
    """No user of that name (only for management; logins never say so)."""


class LoginFailed(Exception):
    """Wrong user name or password (deliberately not saying which)."""


class RateLimited(Exception):
    """Too many failed logins; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Session:
    """A valid session: who it is, and its token's digest (what live connections watch)."""

    principal: Principal
    digest: str
    expires_ts: float


@dataclass(frozen=True)
class Ticket:
    """A short-lived credential for the URLs of ``/ws`` and the camera video."""

    ticket: str
    expires_ts: float


def normalize_username(name: str) -> str:
    """User names are case-insensitive: stored and compared in lower case."""
    return name.strip().lower()


class AuthService:
    """Users and their sessions on one database, checked against one district's hierarchy."""

    def __init__(
        self,
        store: AuthStore,
        jurisdictions: Jurisdictions,
        settings: AuthSettings | None = None,
        clock: Callable[[], float] = time.time,
        devices: DeviceStore | None = None,
    ) -> None:
        self.store = store
        self.devices = devices or DeviceStore(store.engine)  # paired wall screens (console.walls)
        self.jurisdictions = jurisdictions
        self.settings = settings or AuthSettings()
        self.clock = clock
        self.passwords = Passwords(self.settings.min_password_length)
        self.live = LiveSessions(self._still_valid)  # the sessions of open /ws and video streams
        limits = self.settings
        self.login_guard = LoginGuard(
            per_pair=limits.max_failures, per_address=limits.max_failures_per_address,
            per_user=limits.max_failures_per_user, backoff_s=limits.backoff_s,
            max_backoff_s=limits.max_backoff_s, forget_after_s=limits.failure_window_s,
            clock=lambda: self.clock(),
        )

    # --- users ----------------------------------------------------------------------------

    def check_user(self, name: str, role: str, code: str) -> tuple[str, Role]:
        """The normalized name and the role, or :class:`AuthError` saying what is wrong."""
        username = normalize_username(name)
        if not _USERNAME.match(username):
            raise AuthError(
                f"invalid user name {name!r}: 2-64 characters, a-z, 0-9, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        try:
            parsed = parse_role(role)
        except ValueError as exc:
            raise AuthError(str(exc)) from None
        if parsed is Role.WALL_DEVICE:
            raise AuthError("a wall_device is a paired screen, not a user: pair it on the walls page (/walls)")
        if code not in self.jurisdictions:
            raise AuthError(
                f"unknown jurisdiction {code!r}: not a district, town or village of "
                f"district {self.jurisdictions.district_code}"
            )
        level = level_of(code)
        if level not in ROLE_LEVELS[parsed]:
            allowed = " or ".join(sorted(lv.value for lv in ROLE_LEVELS[parsed]))
            raise AuthError(f"a {parsed.value} belongs to a {allowed}, not to a {level.value} ({code})")
        return username, parsed

    def add_user(self, name: str, role: str, code: str, password: str) -> UserInfo:
        """Create a user; :class:`AuthError` saying why not (name, role, jurisdiction, password)."""
        username, parsed = self.check_user(name, role, code)
        self._check_password(password, username)
        now = self.clock()
        try:
            self.store.add_user(username, self.passwords.hash(password), parsed.value, code, now)
        except DuplicateUser as exc:
            raise UserExists(str(exc)) from None
        log.info("user %s added (%s, %s)", username, parsed.value, code)
        return UserInfo(name=username, role=parsed, jurisdiction=code, created_at=to_datetime(now))

    def set_password(self, name: str, password: str, check: bool = True) -> None:
        """Change a user's password and end its sessions; :class:`UnknownUser` if absent."""
        username = normalize_username(name)
        if check:
            self._check_password(password, username)
        if not self.store.set_password_hash(username, self.passwords.hash(password), self.clock()):
            raise UnknownUser(f"no user {username!r}")
        self.live.end(username=username)  # its open /ws and video streams close now
        log.info("password of %s changed; its sessions ended", username)

    def get_user(self, name: str) -> UserInfo | None:
        """The user called ``name``, or ``None``."""
        row = self.store.get_user(normalize_username(name))
        return _info(row) if row is not None else None

    def list_users(self, within: str = "") -> list[UserInfo]:
        """Users of jurisdictions within ``within`` (every user by default), by name."""
        return [_info(row) for row in self.store.list_users(within)]

    def _check_password(self, password: str, username: str) -> None:
        try:
            self.passwords.check(password, username)
        except WeakPassword as exc:
            raise AuthError(str(exc)) from None

    # --- sessions -------------------------------------------------------------------------

    def login(self, name: str, password: str, address: str | None = None) -> LoginResult:
        """A new token for a right name and password (:meth:`check_credentials`: the same
        :class:`RateLimited` and :class:`LoginFailed`)."""
        row = self.check_credentials(name, password, address)
        now = self.clock()
        token = secrets.token_urlsafe(32)
        expires = now + self.settings.token_ttl_s
        self.store.add_token(token, row.username, now, expires, address)
        log.info("%s logged in from %s", row.username, address)
        return LoginResult(token=token, expires_at=to_datetime(expires), user=_info(row))

    def check_credentials(self, name: str, password: str, address: str | None = None) -> UserRow:
        """The user of a right name and password (a login's check, without a token: HTTP Basic
        on ``/ogc`` uses it too).

        :class:`RateLimited` (no password checked) while this name from this address, or this
        address, must wait after its failures (:class:`~console.auth.ratelimit.LoginGuard`:
        exponential backoff; another address's failures never refuse this one);
        :class:`LoginFailed` (the same for an unknown user and a wrong password) otherwise.
        """
        username = normalize_username(name)[:64]
        client = address or "-"
        wait = self.login_guard.admit(username, client)
        if wait is not None:
            log.warning("login of %r from %s refused: rate limited for %.0f s", username, address, wait)
            raise RateLimited(wait)
        try:
            row = self.store.get_user(username) if _USERNAME.match(username) else None
            right = self.passwords.verify(row.password_hash if row else None, password)
        except BaseException:
            self.login_guard.cancel(username, client)
            raise
        if not right:
            log.warning("failed login of %r from %s", username, address)
            raise LoginFailed(LOGIN_FAILED)
        assert row is not None
        self.login_guard.succeeded(username, client)
        if self.passwords.needs_rehash(row.password_hash):
            self.store.set_password_hash(
                username, self.passwords.hash(password), self.clock(), revoke_tokens=False
            )
            row = self.store.get_user(username) or row
        return row

    def authenticate(self, token: str | None) -> Principal | None:
        """Who holds ``token``: a :class:`Principal`, or ``None`` for a missing, unknown,
        revoked, expired or idle token (or one whose user's jurisdiction no longer exists).
        A token accepted counts as used (:meth:`session`)."""
        session = self.session(token)
        return session.principal if session is not None else None

    def session(self, token: str | None) -> Session | None:
        """The session of a bearer token, or ``None`` (as :meth:`authenticate`).

        A token unused for ``settings.idle_timeout_s`` is refused (and revoked); one accepted
        has its last use recorded, at most once a ``TOUCH_INTERVAL_S`` (a read per request, a
        write per minute).
        """
        if not token or len(token) > 256:
            return None
        row = self.store.token_owner(token)
        if row is None:  # not a login's token: a paired screen's credential?
            return self._device_session(self.devices.by_digest(token_digest(token)))
        return self._valid(row)

    def expires_at(self, token: str) -> float | None:
        """Epoch seconds at which ``token`` ends, or ``None`` if it is not stored."""
        row = self.store.token_owner(token)
        return row.expires_ts if row is not None else None

    def logout(self, token: str) -> bool:
        """Revoke ``token`` and its tickets, and close its live connections; False when it was
        not stored."""
        gone = self.store.delete_token(token)
        self.live.end([token_digest(token)])
        return gone

    # --- tickets and live connections -----------------------------------------------------

    def issue_ticket(self, session: Session) -> Ticket:
        """A new ticket of ``session``: valid for ``settings.ticket_ttl_s`` (never beyond the
        token's expiry), in the URLs of ``/ws`` and the camera video only, and ended with its
        session (a logout, a password change, the idle timeout)."""
        now = self.clock()
        ticket = secrets.token_urlsafe(32)
        expires = min(now + self.settings.ticket_ttl_s, session.expires_ts)
        if session.principal.role is Role.WALL_DEVICE:
            device = self.devices.by_digest(session.digest)
            if device is None:  # revoked meanwhile
                raise LookupError("the device was revoked")
            self.devices.add_ticket(ticket, device.id, now, expires)
        else:
            self.store.add_ticket(ticket, session.digest, now, expires)
        return Ticket(ticket=ticket, expires_ts=expires)

    def ticket_session(self, ticket: str | None) -> Session | None:
        """The session of a valid ticket, or ``None`` (unknown, expired, or its session ended).
        A ticket is never a bearer token: :meth:`authenticate` refuses it."""
        if not ticket or len(ticket) > 256:
            return None
        found = self.store.ticket_owner(ticket)
        if found is None:
            device = self.devices.ticket_owner(ticket)
            if device is None or device[1] <= self.clock():
                return None
            return self._device_session(device[0])
        if found[1] <= self.clock():
            return None
        return self._valid(found[0])

    def watch(self, session: Session) -> SessionWatch:
        """A live connection's watch on its session (call it on the connection's event loop;
        :meth:`unwatch` when the connection closes): ``watch.ended`` is set when the session
        ends here (at once) or anywhere else (within about a second)."""
        return self.live.watch(session.digest, session.principal.username)

    def unwatch(self, watch: SessionWatch) -> None:
        self.live.unwatch(watch)

    def _valid(self, row: TokenRow | None) -> Session | None:
        """The session of a stored token if it is neither expired nor idle; records the use."""
        if row is None or row.code not in self.jurisdictions:
            return None
        now = self.clock()
        if row.expires_ts <= now:
            return None
        if now - row.last_used_ts >= self.settings.idle_timeout_s:
            self.store.delete_token_digest(row.token_hash)  # its tickets go with it
            self.live.end([row.token_hash], reason="session idle")
            log.info("a session of %s ended after %.0f s without use", row.username, now - row.last_used_ts)
            return None
        if now - row.last_used_ts >= TOUCH_INTERVAL_S:
            self.store.touch_tokens([row.token_hash], now, older_than=now - TOUCH_INTERVAL_S)
        principal = Principal(username=row.username, role=Role(row.role), code=row.code)
        return Session(principal=principal, digest=row.token_hash, expires_ts=row.expires_ts)

    def end_device(self, device: DeviceRow) -> None:
        """A revoked device's live connections close now (its row is gone already)."""
        if device.token_hash:
            self.live.end([device.token_hash], reason="device revoked")
        log.info("device %s (wall %s, slot %s) revoked", device.id, device.wall_name, device.slot)

    def _device_session(self, device: DeviceRow | None) -> Session | None:
        """The session of a paired screen: no expiry, no idle timeout; seen at most once a
        ``TOUCH_INTERVAL_S``."""
        if device is None or device.token_hash is None or device.code not in self.jurisdictions:
            return None
        now = self.clock()
        if device.last_seen_ts is None or now - device.last_seen_ts >= TOUCH_INTERVAL_S:
            self.devices.touch(device.id, now)
        principal = Principal(username=device.username, role=Role.WALL_DEVICE, code=device.code)
        return Session(principal=principal, digest=device.token_hash, expires_ts=math.inf)

    def _still_valid(self, digests: set[str]) -> set[str]:
        """Those of ``digests`` whose sessions are valid (the live connections' re-check, once a
        second, one query); their open connections are use, recorded at most once a minute."""
        now = self.clock()
        times = self.store.token_times(digests)
        valid = {d for d, (expires, last) in times.items()
                 if expires > now and now - last < self.settings.idle_timeout_s}
        stale = [d for d in valid if now - times[d][1] >= TOUCH_INTERVAL_S]
        if stale:
            self.store.touch_tokens(stale, now, older_than=now - TOUCH_INTERVAL_S)
        others = digests - set(times)
        return valid | (self.devices.alive(others) if others else set())


def _info(row: UserRow) -> UserInfo:
    return UserInfo(
        name=row.username, role=Role(row.role), jurisdiction=row.code,
        created_at=to_datetime(row.created_ts),
    )
