"""HTTP Basic credentials for the GIS clients of ``/ogc`` (QGIS's and GDAL's basic auth).

A ``user:password`` pair is checked as a login is (:meth:`AuthService.check_credentials`: the same
rate limits and backoff, the same one message for an unknown user and a wrong password) but makes
no token. Password verification is deliberately slow (argon2), and a client sends the pair on
every request, so a success is remembered for ``ttl_s`` under an HMAC of the pair (keyed by a
secret of this process: the memory holds no password, nor a fast hash of one). A remembered pair
is taken only while the user's stored password hash is the one it was verified against: a
password change or a removed user ends it at the next request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from zhizhi.console.auth.models import Principal
from zhizhi.console.auth.roles import Role
from zhizhi.console.auth.service import AuthService

#: At most this many remembered pairs (the oldest go first).
MAX_ENTRIES = 1024


class BadBasicHeader(ValueError):
    """An ``Authorization: Basic`` header that is not base64 of ``user:password``."""


def parse_basic(header: str) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization`` header of scheme Basic; ``None`` for another
    scheme; :class:`BadBasicHeader` for a malformed one.

    >>> parse_basic("Basic " + base64.b64encode(b"duty:s3cret:x").decode())
    ('duty', 's3cret:x')
    >>> parse_basic("Bearer abc") is None
    True
    """
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise BadBasicHeader("the Basic credential is not base64 of UTF-8 'user:password'") from None
    user, colon, password = text.partition(":")
    if not colon or not user:
        raise BadBasicHeader("the Basic credential has no 'user:password'")
    return user, password


class BasicVerifier:
    """Checks Basic pairs through an :class:`AuthService`, remembering successes ``ttl_s``."""

    def __init__(self, auth: AuthService, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.auth = auth
        self.ttl_s = ttl_s
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, tuple[float, str, str]] = OrderedDict()  # digest: (until, user, hash)

    def _digest(self, user: str, password: str) -> str:
        return hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).hexdigest()

    def principal(self, user: str, password: str, address: str | None) -> Principal:
        """Who the pair is: :class:`~console.auth.service.LoginFailed` or
        :class:`~console.auth.service.RateLimited` as a login."""
        digest = self._digest(user, password)
        now = self.clock()
        with self._lock:
            seen = self._seen.get(digest)
        if seen is not None and seen[0] > now:
            row = self.auth.store.get_user(seen[1])
            if row is not None and hmac.compare_digest(row.password_hash, seen[2]):
                return Principal(username=row.username, role=Role(row.role), code=row.code)
        row = self.auth.check_credentials(user, password, address)
        with self._lock:
            self._seen.pop(digest, None)
            self._seen[digest] = (now + self.ttl_s, row.username, row.password_hash)
            while len(self._seen) > MAX_ENTRIES:
                self._seen.popitem(last=False)
        return Principal(username=row.username, role=Role(row.role), code=row.code)

    def forget(self) -> None:
        """Drop every remembered pair."""
        with self._lock:
            self._seen.clear()
