"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body``.

The header ``X-Zhizhi-Signature: t=1765100000,v1=<hex>`` carries the signing time (epoch seconds)
and the signature; a receiver recomputes it with the shared secret, compares in constant time and
refuses stale timestamps (replays):

>>> header = sign(b"secret-of-16-chars", b'{"id": 1}', ts=1000)
>>> header.startswith("t=1000,v1="), len(header)
(True, 74)
>>> verify(b"secret-of-16-chars", b'{"id": 1}', header, now=1010), verify(b"other", b'{"id": 1}', header, now=1010)
(True, False)
>>> verify(b"secret-of-16-chars", b'{"id": 1}', header, now=2000)  # older than tolerance_s
False
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Zhizhi-Signature"
EVENT_HEADER = "X-Zhizhi-Event"
DELIVERY_HEADER = "X-Zhizhi-Delivery"
TARGET_HEADER = "X-Zhizhi-Target"


def signature(secret: bytes, body: bytes, ts: int) -> str:
    """The hex HMAC-SHA256 of ``f"{ts}." + body`` under ``secret``."""
    return hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, ts: int | None = None) -> str:
    """The signature header's value for ``body`` signed now (or at ``ts``)."""
    ts = int(time.time()) if ts is None else ts
    return f"t={ts},v1={signature(secret, body, ts)}"


def verify(secret: bytes, body: bytes, header: str, *, now: float | None = None, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, body, ts))
