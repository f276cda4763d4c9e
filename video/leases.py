"""Which worker runs which camera: leases in Redis, renewed while the worker lives.

Each worker (a process running cameras) holds a :class:`CameraLeases`. Its thread, every
``ttl_s / 3``:

1. heartbeats ``{prefix}:worker:{id}`` (``PX ttl``): the live workers are those keys;
2. renews the leases it holds, ``{prefix}:lease:{camera}`` = its id (a Lua compare-and-pexpire:
   only while the value is its own id);
3. computes its share: with ``n`` cameras and ``w`` live workers everyone gets ``n // w`` and
   ``n % w`` of them one more — first those already holding more than ``n // w``, then by id —
   so the shares add up to ``n``, a joining worker gets cameras (with a plain ``ceil(n / w)``
   for all, 9 cameras and a fourth worker would move nothing) and a single lease (the console's
   ``rule-models``) stays where it is;
4. releases what it holds above its share (compare-and-delete; dropped from ``owned`` first), and
   acquires free cameras (``SET NX PX``) up to its share, preferring cameras by a hash of worker
   and camera so that the same cameras tend to come back to the same worker. A worker acquires
   from its second round on: workers started together see each other's heartbeats first, and
   the first of them does not open every camera only to hand most back a round later.

``owned`` is what the worker runs: the set ``on_change(owned)`` was last called with, and it
changes only after that call returned, so an observer never sees a set the listener was not given.
One notifier thread makes every call, apart from the Redis thread: it wakes at the earliest lease
deadline, so a camera is dropped when its lease can no longer be proven even while the Redis thread
is stuck in a call to an unreachable server, and a slow listener (a worker stopping a camera's
reading thread) never delays a renewal. A camera released for a fairer share leaves ``owned``
(the listener is told) before its lease is deleted in Redis, never after.

Timing: a dead worker's leases expire ``ttl_s`` after its last renewal, and the others take its
cameras at their next round: within ``ttl_s + ttl_s / 3`` (about 6.7 s with the default 5 s).

Safety: a camera is never in the ``owned`` set of two workers at once. A worker drops a camera
(and says so) before its lease can expire: each lease is trusted until ``ttl`` after the renewal
was sent, less a margin, also while Redis is unreachable — after that it cannot prove ownership
any more. Redis keeps nothing on disk here, so a restart loses every lease while their holders
still run the cameras; the key ``{prefix}:leases:epoch`` (the server time when it was first
set) tells the workers that the lease keys are new, and for ``ttl_s`` after it only the previous
holders may set their leases again (free cameras are not taken by anyone else until every
previous holder would have dropped them). A brand-new Redis waits the same ``ttl_s`` once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Self

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

log = logging.getLogger(__name__)

TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)

# Renew (or, with ARGV[3] == '1', set again when missing) each lease whose value is ARGV[1].
_CLAIM_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  elseif (not value) and ARGV[3] == '1' then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# Delete each lease whose value is ARGV[1].
_RELEASE_LUA = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""

# The server's time (ms) and the epoch of the lease keys (set now when missing).
_EPOCH_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], now, 'NX')
return {now, tonumber(redis.call('GET', KEYS[1]))}
"""


def _preference(worker_id: str, camera: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{worker_id}\0{camera}".encode(), digest_size=8).digest(), "big")


def share_of(worker_id: str, live: Sequence[str], holdings: Counter[str], cameras: int) -> int:
    """How many cameras ``worker_id`` should hold: ``cameras // len(live)``, and one more for
    ``cameras % len(live)`` of the live workers — those already holding more than that base
    first (they keep their extra camera: nothing moves without need), then by id.

    >>> share_of("b", ["a", "b", "c", "d"], Counter({"a": 3, "b": 3, "c": 3}), 9)
    2
    >>> share_of("a", ["a", "b", "c", "d"], Counter({"a": 3, "b": 3, "c": 3}), 9)
    3
    >>> [share_of(w, ["x", "y"], Counter({"y": 1}), 1) for w in ("x", "y")]
    [0, 1]
    """
    workers = sorted(set(live) | {worker_id})
    base, extra = divmod(cameras, len(workers))
    ranking = sorted(workers, key=lambda w: (holdings.get(w, 0) <= base, w))
    return base + (1 if ranking.index(worker_id) < extra else 0)


class CameraLeases:
    """This worker's camera leases (see the module's docstring); ``start()``, ``owned``,
    ``stop(release=True)``."""

    def __init__(
        self,
        redis_url: str,
        worker_id: str,
        cameras: Sequence[str],
        *,
        ttl_s: float = 5.0,
        prefix: str = "zhizhi",
        on_change: Callable[[set[str]], None] | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.redis_url = redis_url
        self.worker_id = worker_id
        self.cameras = list(dict.fromkeys(cameras))
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.on_change = on_change
        self.period_s = ttl_s / 3
        # A lease is trusted until ttl after its renewal was sent, less this margin.
        self.margin_s = min(0.1 * ttl_s, 0.5)
        self._client = redis.Redis.from_url(
            redis_url,
            socket_timeout=self.period_s,
            socket_connect_timeout=min(self.period_s, 1.0),
            retry=Retry(NoBackoff(), 0),
            client_name=f"zhizhi-leases-{worker_id}",
        )
        self._claim = self._client.register_script(_CLAIM_LUA)
        self._release = self._client.register_script(_RELEASE_LUA)
        self._epoch = self._client.register_script(_EPOCH_LUA)
        self._lock = threading.Lock()  # guards _deadline and _releasing
        self._deadline: dict[str, float] = {}  # camera -> monotonic time its lease is trusted until
        # Given up for the share: still renewed, deleted in Redis once out of `owned`.
        self._releasing: set[str] = set()
        self._owned: frozenset[str] = frozenset()  # what on_change was last called with
        self._publishing = threading.Lock()  # one publication (listener call) at a time
        self._published = threading.Condition()  # notified whenever `_owned` changes
        self._wake = threading.Event()  # the notifier looks again at once
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._notifier: threading.Thread | None = None
        self._redis_ok = False
        self.live_workers = 0
        self.rounds = 0
        self.errors = 0

    # ------------------------------------------------------------------ keys

    def lease_key(self, camera: str) -> str:
        return f"{self.prefix}:lease:{camera}"

    def worker_key(self, worker_id: str | None = None) -> str:
        return f"{self.prefix}:worker:{self.worker_id if worker_id is None else worker_id}"

    @property
    def epoch_key(self) -> str:
        return f"{self.prefix}:leases:epoch"

    # ------------------------------------------------------------------ public

    def start(self) -> CameraLeases:
        if self._thread is None:
            self._notifier = threading.Thread(
                target=self._notify_loop, name=f"leases-notify-{self.worker_id}", daemon=True
            )
            self._notifier.start()
            self._thread = threading.Thread(target=self._run, name=f"leases-{self.worker_id}", daemon=True)
            self._thread.start()
        return self

    def set_cameras(self, cameras: Sequence[str]) -> None:
        """Share another set of cameras (the camera registry changed while the worker runs): a
        camera no longer in it that this worker holds is given up (out of ``owned`` first, its
        lease deleted at the next round); new cameras are taken at the coming rounds, by share."""
        cameras = list(dict.fromkeys(cameras))
        gone = set(self.cameras) - set(cameras)
        self.cameras = cameras
        with self._lock:
            dropped = sorted(gone & set(self._deadline))
        if dropped:
            self._give_up(dropped)
        self._wake.set()

    @property
    def owned(self) -> set[str]:
        """The cameras this worker runs: the set its ``on_change`` listener was last given."""
        return set(self._owned)

    @property
    def connected(self) -> bool:
        return self._redis_ok

    def stop(self, release: bool = True) -> None:
        """Stop renewing. ``release=True`` deletes the leases and the heartbeat at once (the
        others take the cameras at their next round); ``release=False`` leaves them to expire, as
        a crash would. Either way this worker owns nothing afterwards (the listener is told)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.ttl_s + 2)
        with self._lock:
            held = sorted(set(self._deadline) | self._releasing)
            self._deadline.clear()
            self._releasing.clear()
        self._publish()
        if self._notifier is not None:
            self._notifier.join(self.ttl_s + 2)
        if release:
            try:
                if held:
                    self._release(keys=[self.lease_key(c) for c in held], args=[self.worker_id])
                self._client.delete(self.worker_key())
            except RedisError as exc:
                log.warning("worker %s: could not release its leases (%s); they expire in %.1f s",
                            self.worker_id, exc, self.ttl_s)
        self._client.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ what the worker is told

    def _trusted(self) -> set[str]:
        """The cameras whose leases this worker can still vouch for (and renews)."""
        now = time.monotonic()
        with self._lock:
            return {c for c, deadline in self._deadline.items() if deadline > now}

    def _kept(self) -> set[str]:
        """The trusted cameras this worker keeps (not being given up for the share)."""
        trusted = self._trusted()
        with self._lock:
            return trusted - self._releasing

    def _notify_loop(self) -> None:
        """Publish every change, waking at the earliest lease deadline (or when told)."""
        while not self._stop.is_set():
            self._wake.clear()
            self._publish()
            with self._lock:
                nearest = min(self._deadline.values(), default=None)
            timeout = self.period_s if nearest is None else min(self.period_s, nearest - time.monotonic())
            self._wake.wait(max(0.0, timeout))

    def _publish(self) -> None:
        """Drop what can no longer be proven, then, when the trusted set differs from ``owned``,
        call the listener and only then change ``owned``."""
        with self._publishing:
            now = time.monotonic()
            with self._lock:
                expired = sorted(c for c, deadline in self._deadline.items() if deadline <= now)
                for camera in expired:
                    del self._deadline[camera]
                current = frozenset(self._deadline.keys() - self._releasing)
            if expired:
                log.warning("worker %s: cannot prove it still holds %s; dropped", self.worker_id, ", ".join(expired))
            if current == self._owned:
                return
            if self.on_change is not None:
                try:
                    self.on_change(set(current))
                except Exception:
                    log.exception("worker %s: on_change failed", self.worker_id)
            with self._published:
                self._owned = current
                self._published.notify_all()

    def _trust(self, cameras: Sequence[str], sent: float, *, renewal: bool = False) -> list[str]:
        """Vouch for ``cameras`` until ttl after ``sent``, less the margin; a renewal only extends
        what is still held (a camera the notifier dropped meanwhile comes back as a gain)."""
        deadline = sent + self.ttl_s - self.margin_s
        if deadline <= time.monotonic():
            return []
        with self._lock:
            trusted = [c for c in cameras if not renewal or c in self._deadline]
            for camera in trusted:
                self._deadline[camera] = deadline
        return trusted

    def _untrust(self, cameras: Sequence[str]) -> None:
        """Stop vouching for ``cameras`` (their leases were taken by others)."""
        with self._lock:
            for camera in cameras:
                self._deadline.pop(camera, None)
                self._releasing.discard(camera)
        self._wake.set()

    def _give_up(self, cameras: Sequence[str]) -> None:
        """Give ``cameras`` up for the share: out of ``owned`` first (their leases are still
        renewed meanwhile), deleted in Redis after that (:meth:`_release_dropped`)."""
        with self._lock:
            self._releasing.update(cameras)
        self._wake.set()

    def _release_dropped(self, wait_s: float) -> None:
        """Delete the leases given up for the share that the listener no longer has (waiting up
        to ``wait_s`` for the notifier); the rest at a later round."""
        with self._lock:
            pending = set(self._releasing)
        if not pending:
            return
        with self._published:
            self._published.wait_for(lambda: not (pending & self._owned), timeout=wait_s)
            gone = sorted(pending - self._owned)
        if not gone:
            return
        with self._lock:  # no longer renewed, nor counted as held
            for camera in gone:
                self._deadline.pop(camera, None)
            self._releasing.difference_update(gone)
        self._release(keys=[self.lease_key(c) for c in gone], args=[self.worker_id])

    # ------------------------------------------------------------------ the Redis loop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
                if not self._redis_ok and self.errors:
                    log.info("worker %s: leases in Redis again", self.worker_id)
                self._redis_ok = True
            except TRANSIENT as exc:
                self.errors += 1
                if self._redis_ok or self.errors == 1:
                    log.warning("worker %s: Redis unreachable (%s); keeping %d cameras until their leases would expire",
                                self.worker_id, exc, len(self._trusted()))
                self._redis_ok = False
            except Exception:  # never let the lease thread die
                self.errors += 1
                self._redis_ok = False
                log.exception("worker %s: lease round failed", self.worker_id)
            self._stop.wait(self.period_s if self._redis_ok else min(self.period_s, 0.25))

    def _round(self) -> None:
        ttl_ms = int(self.ttl_s * 1000)
        sent = time.monotonic()
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self.worker_key(), self.worker_id, px=ttl_ms)
        self._epoch(keys=[self.epoch_key], client=pipe)
        _, (server_ms, epoch_ms) = pipe.execute()
        in_grace = server_ms < epoch_ms + ttl_ms
        self._release_dropped(wait_s=0.0)  # what an earlier round could not release yet

        # Renew what we hold (and set it again if Redis lost it: we still vouch for it).
        held = sorted(self._trusted())
        if held:
            results = self._claim(keys=[self.lease_key(c) for c in held], args=[self.worker_id, ttl_ms, 1])
            kept = [c for c, ok in zip(held, results, strict=True) if ok]
            lost = [c for c, ok in zip(held, results, strict=True) if not ok]
            self._trust(kept, sent, renewal=True)
            if lost:
                log.warning("worker %s: leases of %s taken by others", self.worker_id, ", ".join(lost))
                self._untrust(lost)

        live = sorted(
            key.decode()[len(self.worker_key("")) :]
            for key in self._client.scan_iter(match=self.worker_key("*"), count=1000)
        )
        self.live_workers = len(live)
        cameras = self.cameras  # one set for the whole round (set_cameras may replace it meanwhile)
        values = self._client.mget([self.lease_key(c) for c in cameras]) if cameras else []
        holders = {c: (v.decode() if v is not None else None) for c, v in zip(cameras, values, strict=True)}
        holdings = Counter(h for h in holders.values() if h is not None and h in live)
        share = share_of(self.worker_id, live, holdings, len(cameras))

        kept = self._kept() & set(cameras)
        if len(kept) > share:
            excess = sorted(kept, key=lambda c: _preference(self.worker_id, c))[: len(kept) - share]
            self._give_up(excess)  # out of `owned` before the lease goes, never after
            self._release_dropped(wait_s=self.period_s / 2)
            log.info("worker %s: released %s (share %d of %d live workers)",
                     self.worker_id, ", ".join(sorted(excess)), share, len(live))
        elif len(kept) < share and self.rounds > 0:  # (first round: let the others see us)
            trusted = self._trusted()
            candidates = [
                c for c in cameras
                if c not in trusted and (holders[c] == self.worker_id or (holders[c] is None and not in_grace))
            ]
            candidates.sort(key=lambda c: (holders[c] != self.worker_id, -_preference(self.worker_id, c)))
            gained = []
            for camera in candidates:
                if len(kept) + len(gained) >= share:
                    break
                sent = time.monotonic()
                (ok,) = self._claim(keys=[self.lease_key(camera)], args=[self.worker_id, ttl_ms, 0 if in_grace else 1])
                if ok and self._trust([camera], sent):
                    gained.append(camera)
            if gained:
                self._wake.set()
                log.info("worker %s: acquired %s", self.worker_id, ", ".join(sorted(gained)))
        self.rounds += 1
