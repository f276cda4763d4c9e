"""The Redis bus: the same ``publish`` / ``subscribe`` as the in-process bus, across processes.

Every published message goes, atomically, into the topic's stream ``{prefix}:stream:{topic}``
(``XADD``, approximate ``MAXLEN``) and out on its channel ``{prefix}:chan:{topic}``
(``PUBLISH``); one small Lua script does both, so the channel copy carries the stream entry's id
(``"<id> <json>"``). Two ways to read:

- :meth:`RedisBus.subscribe` — broadcast: every subscriber of every process gets every message
  published after it subscribed, in order (pub/sub). A lost connection is re-established with
  backoff, the channels subscribed again, and what was published meanwhile read back from the
  stream (entry ids tell what was already delivered); then the ``on_reconnect`` callbacks run.
- :meth:`RedisBus.consume` — work sharing: a consumer group over the stream; each entry goes to
  one consumer of the group and is acknowledged after its handler returned. Entries that a dead
  consumer took and never acknowledged are claimed (``XAUTOCLAIM``) by the others once idle for
  ``claim_idle_s``.

``publish`` never blocks on Redis and never raises because of it: messages wait in a bounded
local outbox (oldest dropped, counted and logged, when full) that a background writer sends in
order, in batches, and keeps while Redis is unreachable. Delivery is at least once: a batch
whose reply was lost is sent again.

A handler that raises (``subscribe`` or ``consume``) is logged and the others still run. In a
consumer group the failed entry is acknowledged anyway and copied to the dead-letter stream
``{prefix}:dead:{topic}`` (so a poison message never blocks a group); an entry that does not
decode into the topic's type is treated the same way. Handlers run in the bus's threads and
must be quick.

See docs/redis.md for key names, timings and what a Redis restart does.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from zhizhi.bus.memory import Handler, Message
from zhizhi.bus.messages import decode, encode

log = logging.getLogger(__name__)

#: Errors that mean "Redis is not reachable now" (retry after a backoff).
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)

_BACKOFF_START_S = 0.05
_BACKOFF_CAP_S = 1.0

# XADD and PUBLISH in one atomic step; the channel copy carries the entry id so that a
# subscriber can tell, after a reconnect, what it missed (XRANGE from the last id it saw).
_PUBLISH_LUA = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'data', ARGV[2])
redis.call('PUBLISH', KEYS[2], id .. ' ' .. ARGV[2])
return id
"""


def _parse_id(raw: bytes | str) -> tuple[int, int]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _format_id(entry_id: tuple[int, int]) -> str:
    return f"{entry_id[0]}-{entry_id[1]}"


def _decode(topic: str, raw: bytes | str | None) -> Message:
    """The topic's message from an entry's JSON (the one codec: :func:`zhizhi.bus.messages.decode`);
    ``ValueError`` or ``TypeError`` when it is not one."""
    if raw is None:
        raise ValueError("entry without a 'data' field")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError(f"not a JSON object: {type(data).__name__}")
    return decode(topic, data)


class _Backoff:
    def __init__(self) -> None:
        self.delay = _BACKOFF_START_S

    def reset(self) -> None:
        self.delay = _BACKOFF_START_S

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.delay)
        self.delay = min(self.delay * 2, _BACKOFF_CAP_S)


@dataclass(eq=False)
class RedisSubscription:
    """A ``subscribe`` registration; ``cancel()`` removes it."""

    bus: RedisBus
    topic: str
    handler: Handler

    def cancel(self) -> None:
        self.bus._remove(self)


@dataclass(eq=False)
class ConsumerSubscription:
    """A ``consume`` registration: its own thread reading the group; ``cancel()`` stops it
    (entries it took and did not finish stay pending and are claimed by the group)."""

    bus: RedisBus
    topic: str
    group: str
    handler: Handler
    start_id: str
    batch: int
    stopping: threading.Event = field(default_factory=threading.Event)
    tried: threading.Event = field(default_factory=threading.Event)  # first set-up attempt done
    thread: threading.Thread | None = None
    connected: bool = False

    def cancel(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
            if self.thread.is_alive():
                log.warning("consumer %s/%s did not stop within %.1f s", self.topic, self.group, timeout)
        self.bus._forget_consumer(self)


class RedisBus:
    """The bus over Redis streams and pub/sub (see the module's docstring).

    ``node`` names this process: its consumer name in every group. ``stream_maxlen`` bounds each
    topic's stream (approximately), ``outbox_max`` the local outbox, ``claim_idle_s`` how long
    an entry may stay unacknowledged by its consumer before another claims it. ``poll_s`` is how
    long a reading thread blocks in Redis before it looks at its stop flag and the claim timer.
    """

    def __init__(
        self,
        url: str,
        *,
        node: str,
        prefix: str = "zhizhi",
        stream_maxlen: int = 100_000,
        claim_idle_s: float = 10.0,
        outbox_max: int = 100_000,
        batch_size: int = 500,
        poll_s: float = 0.25,
        dead_letter_maxlen: int = 10_000,
        socket_timeout_s: float = 5.0,
        connect_timeout_s: float = 1.0,
    ) -> None:
        self.url = url
        self.node = node
        self.prefix = prefix
        self.stream_maxlen = stream_maxlen
        self.claim_idle_s = claim_idle_s
        self.outbox_max = outbox_max
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.dead_letter_maxlen = dead_letter_maxlen
        self._socket_timeout_s = socket_timeout_s
        self._connect_timeout_s = connect_timeout_s
        redis.Redis.from_url(url).close()  # a malformed URL raises ValueError here, not in a thread

        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = False
        self._counters: collections.Counter[str] = collections.Counter()
        self._counter_lock = threading.Lock()
        self._last_drop_log = 0.0
        self._drain_deadline = 0.0

        # publishing
        self._cond = threading.Condition(self._lock)
        self._outbox: collections.deque[tuple[int, str, str]] = collections.deque()
        self._seq = itertools.count(1)
        self._sending = 0
        self._writer_ok = False
        self._writer = threading.Thread(target=self._writer_loop, name=f"redis-bus-writer-{node}", daemon=True)

        # broadcast subscriptions
        self._subs: dict[str, list[RedisSubscription]] = {}
        self._last_id: dict[str, tuple[int, int]] = {}  # last entry id delivered, per topic
        self._since: dict[str, tuple[int, int]] = {}  # the stream position at subscribe time
        self._requests: queue.SimpleQueue[tuple[str, threading.Event]] = queue.SimpleQueue()
        self._reader_ok = False
        self._reader_tried = threading.Event()  # the reader's first connection attempt is over
        self._reconnect_callbacks: list[Callable[[], None]] = []
        #: ``observer(topic, lag_s)`` per delivered entry: now minus the entry id's time (Redis' clock)
        self._lag_observers: list[Callable[[str, float], None]] = []
        self._reader = threading.Thread(target=self._reader_loop, name=f"redis-bus-reader-{node}", daemon=True)

        # consumer groups
        self._consumers: list[ConsumerSubscription] = []

        self._writer.start()
        self._reader.start()

    def _count(self, key: str, n: int = 1) -> None:
        with self._counter_lock:
            self._counters[key] += n

    # ------------------------------------------------------------------ names and clients

    def stream_key(self, topic: str) -> str:
        return f"{self.prefix}:stream:{topic}"

    def channel(self, topic: str) -> str:
        return f"{self.prefix}:chan:{topic}"

    def dead_letter_key(self, topic: str) -> str:
        return f"{self.prefix}:dead:{topic}"

    def _client(self, socket_timeout: float | None = None) -> redis.Redis:
        """A client of its own (one connection per thread), without redis-py's own retries:
        each thread reconnects with its own backoff and knows when it did."""
        return redis.Redis.from_url(
            self.url,
            socket_timeout=socket_timeout or self._socket_timeout_s,
            socket_connect_timeout=self._connect_timeout_s,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            client_name=f"zhizhi-bus-{self.node}",
        )

    # ------------------------------------------------------------------ publishing

    def publish(self, topic: str, message: Message) -> None:
        """Queue the message for the topic's stream and channel; never blocks on Redis.

        The message is encoded at once with its type's ``to_wire()``; ``TypeError`` when it is
        not of the topic's type (:data:`zhizhi.bus.messages.TOPIC_TYPES`).
        """
        payload = json.dumps(encode(topic, message), ensure_ascii=False, default=str)
        with self._cond:
            if self._stopped:
                return
            if len(self._outbox) >= self.outbox_max:
                self._outbox.popleft()
                self._count("dropped", 1)
                now = time.monotonic()
                if now - self._last_drop_log > 10.0:
                    self._last_drop_log = now
                    log.warning(
                        "redis bus outbox full (%d): dropping the oldest messages (%d dropped so far)",
                        self.outbox_max,
                        self._counters["dropped"],
                    )
            self._outbox.append((next(self._seq), str(topic), payload))
            self._count("published", 1)
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every message published so far is in Redis; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._outbox or self._sending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _writer_loop(self) -> None:
        client = self._client()
        script = client.register_script(_PUBLISH_LUA)
        backoff = _Backoff()
        was_down = False
        last_ok = 0.0
        while True:
            with self._cond:
                while not self._outbox and not self._stopping.is_set():
                    if not self._writer_ok or time.monotonic() - last_ok > 1.0:
                        break  # idle: check the connection (health, reconnect)
                    self._cond.wait(0.5)
                if self._stopping.is_set() and (not self._outbox or not self._writer_ok):
                    break
                batch = list(itertools.islice(self._outbox, 0, self.batch_size))
                self._sending = len(batch)
            try:
                if batch:
                    pipe = client.pipeline(transaction=False)
                    for _seq, topic, payload in batch:
                        script(
                            keys=[self.stream_key(topic), self.channel(topic)],
                            args=[self.stream_maxlen, payload],
                            client=pipe,
                        )
                    pipe.execute()
                else:
                    client.ping()
            except TRANSIENT as exc:
                with self._cond:
                    self._sending = 0
                    self._cond.notify_all()
                if self._writer_ok or not was_down:
                    log.warning("redis bus %s: cannot publish (%s); keeping messages in the outbox", self.url, exc)
                self._writer_ok = False
                was_down = True
                client.close()
                backoff.wait(self._stopping)
                if self._stopping.is_set() and not self._stop_drain_pending():
                    break
                continue
            except RedisError:
                # Not a connection problem (e.g. a script error): do not loop on the same batch.
                log.exception("redis bus: publishing %d messages failed; dropping them", len(batch))
                self._count("dropped", len(batch))
            else:
                self._count("sent", len(batch))
            last_ok = time.monotonic()
            if not self._writer_ok:
                if was_down:
                    self._count("reconnects", 1)
                    log.info("redis bus %s: publishing again (%d waiting)", self.url, len(self._outbox))
                self._writer_ok = True
                was_down = False
                backoff.reset()
            with self._cond:
                if batch:
                    last_seq = batch[-1][0]
                    while self._outbox and self._outbox[0][0] <= last_seq:
                        self._outbox.popleft()
                self._sending = 0
                self._cond.notify_all()
        client.close()

    def _stop_drain_pending(self) -> bool:
        """While stopping: whether the writer should still try to send (until the drain deadline)."""
        return bool(self._outbox) and time.monotonic() < self._drain_deadline

    # ------------------------------------------------------------------ broadcast

    def subscribe(self, topic: str, handler: Handler) -> RedisSubscription:
        """Call ``handler`` with every message published on ``topic`` from now on (any process).

        Returns once Redis confirmed the subscription (at most a few seconds); when Redis is
        unreachable it returns at once and what is published meanwhile is delivered after the
        connection is back.
        """
        topic = str(topic)
        sub = RedisSubscription(self, topic, handler)
        done = threading.Event()
        if threading.current_thread() is not self._reader:
            self._reader_tried.wait(self._connect_timeout_s + 2.0)
        with self._lock:
            first = topic not in self._subs
            self._subs.setdefault(topic, []).append(sub)
            if first:
                # Entry ids are the server's clock in ms: the stream from now on is ours.
                self._since[topic] = (int(time.time() * 1000), 0)
                self._last_id.pop(topic, None)
            live = self._reader_ok
        self._requests.put((topic, done))
        if live and first and threading.current_thread() is not self._reader:
            done.wait(5.0)  # (from a handler, the reader itself subscribes after it returns)
        return sub

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (in the reader thread) after each re-established subscriber
        connection, once the channels are subscribed again and the missed messages delivered."""
        with self._lock:
            self._reconnect_callbacks.append(callback)

    def observe_lag(self, observer: Callable[[str, float], None]) -> Callable[[], None]:
        """Call ``observer(topic, lag_s)`` for every entry delivered to this process's subscribers:
        the seconds from its ``XADD`` (the entry id's milliseconds) to its delivery here; returns
        the function that stops it."""
        with self._lock:
            self._lag_observers.append(observer)

        def stop() -> None:
            with self._lock:
                if observer in self._lag_observers:
                    self._lag_observers.remove(observer)

        return stop

    def _remove(self, sub: RedisSubscription) -> None:
        with self._lock:
            handlers = self._subs.get(sub.topic, [])
            if sub in handlers:
                handlers.remove(sub)
            if not handlers and sub.topic in self._subs:
                del self._subs[sub.topic]
                self._last_id.pop(sub.topic, None)
                self._since.pop(sub.topic, None)
        self._requests.put((sub.topic, threading.Event()))

    def _reader_loop(self) -> None:
        backoff = _Backoff()
        was_down = False
        client = self._client()
        while not self._stopping.is_set():
            pubsub = None
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                client.ping()
                with self._lock:
                    topics = list(self._subs)
                subscribed: set[str] = set()
                next_ping = time.monotonic() + 1.0
                for topic in topics:
                    self._subscribe_on(pubsub, client, topic, subscribed)
                self._reader_ok = True
                self._reader_tried.set()
                backoff.reset()
                if was_down:
                    was_down = False
                    self._count("reconnects", 1)
                    log.info("redis bus %s: subscriber connected again (%d topics)", self.url, len(topics))
                    self._run_reconnect_callbacks()
                while not self._stopping.is_set():
                    self._apply_requests(pubsub, client, subscribed)
                    if subscribed:
                        message = pubsub.get_message(timeout=self.poll_s / 5)
                        if message is not None:
                            self._on_pubsub(message, subscribed)
                    else:
                        self._stopping.wait(self.poll_s / 5)
                        if time.monotonic() >= next_ping:
                            client.ping()  # notice an outage while nothing is subscribed
                            next_ping = time.monotonic() + 1.0
            except TRANSIENT as exc:
                if self._reader_ok or not was_down:
                    log.warning("redis bus %s: subscriber connection lost (%s); reconnecting", self.url, exc)
                self._reader_ok = False
                was_down = True
            except Exception:  # never let the reader thread die
                log.exception("redis bus: subscriber failed; reconnecting")
                self._reader_ok = False
                was_down = True
            self._reader_tried.set()
            if pubsub is not None:
                with contextlib.suppress(RedisError, OSError):  # a broken connection
                    pubsub.close()
            if not self._stopping.is_set():
                client.close()
                backoff.wait(self._stopping)
        client.close()

    def _run_reconnect_callbacks(self) -> None:
        with self._lock:
            callbacks = list(self._reconnect_callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("redis bus: on_reconnect callback failed")

    def _apply_requests(self, pubsub, client: redis.Redis, subscribed: set[str]) -> None:
        while True:
            try:
                topic, done = self._requests.get_nowait()
            except queue.Empty:
                return
            try:
                with self._lock:
                    wanted = topic in self._subs
                if wanted and topic not in subscribed:
                    self._subscribe_on(pubsub, client, topic, subscribed)
                elif not wanted and topic in subscribed:
                    pubsub.unsubscribe(self.channel(topic))
                    subscribed.discard(topic)
            finally:
                done.set()

    def _subscribe_on(self, pubsub, client: redis.Redis, topic: str, subscribed: set[str]) -> None:
        """SUBSCRIBE, wait for Redis to confirm, then deliver from the stream what was published
        since the last delivered entry (or since ``subscribe()``) before the channel took over."""
        channel = self.channel(topic)
        pubsub.subscribe(channel)
        deadline = time.monotonic() + 5.0
        while topic not in subscribed:
            if time.monotonic() > deadline:
                raise RedisTimeoutError(f"no confirmation of SUBSCRIBE {channel}")
            message = pubsub.get_message(timeout=0.1)
            if message is not None:
                self._on_pubsub(message, subscribed)
        self._catch_up(client, topic)

    def _catch_up(self, client: redis.Redis, topic: str) -> None:
        with self._lock:
            start = self._last_id.get(topic) or self._since.get(topic)
        if start is None:
            return
        cursor = "(" + _format_id(start)
        caught = 0
        while True:
            entries = client.xrange(self.stream_key(topic), min=cursor, max="+", count=1000)
            if not entries:
                break
            for entry_id, fields in entries:
                caught += self._deliver(topic, _parse_id(entry_id), fields.get(b"data"))
            cursor = "(" + entries[-1][0].decode()
        if caught:
            self._count("caught_up", caught)
            log.info("redis bus: %d %s messages delivered from the stream after (re)subscribing", caught, topic)

    def _on_pubsub(self, message: dict[str, Any], subscribed: set[str]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        channel = channel.decode() if isinstance(channel, bytes) else channel
        topic = channel[len(self.prefix) + len(":chan:") :] if channel else ""
        if kind == "subscribe":
            subscribed.add(topic)
            return
        if kind != "message":
            return
        data = message["data"]
        head, _, payload = data.partition(b" ")
        try:
            entry_id = _parse_id(head)
        except ValueError:
            self._count("decode_errors", 1)
            log.warning("redis bus: channel message on %s without an entry id; skipped", channel)
            return
        self._deliver(topic, entry_id, payload)

    def _deliver(self, topic: str, entry_id: tuple[int, int], raw: bytes | None) -> int:
        """Hand one entry to the topic's handlers unless already delivered; 1 when it was."""
        with self._lock:
            last = self._last_id.get(topic)
            if last is not None and entry_id <= last:
                return 0
        try:
            message = _decode(topic, raw)
        except (ValueError, TypeError) as exc:
            self._count("decode_errors", 1)
            log.warning("redis bus: %s entry %s does not decode (%s); skipped", topic, _format_id(entry_id), exc)
            return 0
        with self._lock:
            self._last_id[topic] = entry_id
            handlers = list(self._subs.get(topic, ()))
            observers = list(self._lag_observers)
        if observers:
            lag_s = max(time.time() - entry_id[0] / 1000, 0.0)
            for observer in observers:
                observer(topic, lag_s)
        for sub in handlers:
            try:
                sub.handler(message)
                self._count("delivered", 1)
            except Exception:  # one bad handler never stops delivery to the others
                self._count("failed", 1)
                log.exception("redis bus handler for %s failed", topic)
        return 1

    # ------------------------------------------------------------------ consumer groups

    def consume(
        self, topic: str, group: str, handler: Handler, *, start: str = "$", batch: int = 32
    ) -> ConsumerSubscription:
        """Share the topic's messages among the consumers of ``group`` (any process): each
        entry is handled by one of them, then acknowledged.

        ``start`` is where a group that does not exist yet begins: ``"$"`` (new messages only)
        or ``"0"`` (the whole stream). A group lost with a Redis restart is created again from
        ``"0"`` — everything in the new stream was published after the restart.
        """
        sub = ConsumerSubscription(self, str(topic), group, handler, start, batch)
        sub.thread = threading.Thread(
            target=self._consume_loop, args=(sub,), name=f"redis-bus-consumer-{topic}-{group}", daemon=True
        )
        with self._lock:
            self._consumers.append(sub)
        sub.thread.start()
        sub.tried.wait(self._connect_timeout_s + 2.0)  # the group exists before we return
        return sub

    def _forget_consumer(self, sub: ConsumerSubscription) -> None:
        with self._lock:
            if sub in self._consumers:
                self._consumers.remove(sub)

    def _ensure_group(self, client: redis.Redis, sub: ConsumerSubscription, start: str) -> None:
        try:
            client.xgroup_create(self.stream_key(sub.topic), sub.group, id=start, mkstream=True)
            log.info("redis bus: consumer group %s on %s created from %s", sub.group, sub.topic, start)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _consume_loop(self, sub: ConsumerSubscription) -> None:
        stream = self.stream_key(sub.topic)
        block_ms = max(1, int(self.poll_s * 1000))
        client = self._client(socket_timeout=self._socket_timeout_s + self.poll_s)
        backoff = _Backoff()
        setup, start, was_down = True, sub.start_id, False
        claim_every = max(self.claim_idle_s / 2, self.poll_s)
        next_claim = 0.0
        while not sub.stopping.is_set() and not self._stopping.is_set():
            try:
                if setup:
                    self._ensure_group(client, sub, start)
                    # Our own entries from a previous life of this node (same consumer name).
                    self._read_and_handle(client, sub, stream, "0", block_ms=None)
                    setup = False
                    sub.connected = True
                    sub.tried.set()
                    backoff.reset()
                    if was_down:
                        was_down = False
                        self._count("reconnects", 1)
                        log.info("redis bus: consumer %s/%s connected again", sub.topic, sub.group)
                if time.monotonic() >= next_claim:
                    self._claim(client, sub, stream)
                    next_claim = time.monotonic() + claim_every
                self._read_and_handle(client, sub, stream, ">", block_ms=block_ms)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning("redis bus: consumer group %s on %s is gone; creating it again", sub.group, sub.topic)
                    setup, start = True, "0"
                    continue
                log.exception("redis bus: consumer %s/%s failed", sub.topic, sub.group)
                backoff.wait(sub.stopping)
            except TRANSIENT as exc:
                sub.tried.set()
                if sub.connected or not was_down:
                    log.warning("redis bus: consumer %s/%s lost Redis (%s); reconnecting", sub.topic, sub.group, exc)
                sub.connected = False
                was_down, setup, start = True, True, "0"
                client.close()
                backoff.wait(sub.stopping)
            except Exception:  # never let a consumer thread die
                log.exception("redis bus: consumer %s/%s failed", sub.topic, sub.group)
                backoff.wait(sub.stopping)
        sub.connected = False
        client.close()

    def _read_and_handle(
        self, client: redis.Redis, sub: ConsumerSubscription, stream: str, position: str, block_ms: int | None
    ) -> None:
        while True:
            response = client.xreadgroup(
                sub.group, self.node, {stream: position}, count=sub.batch, block=block_ms
            )
            entries = response[0][1] if response else []
            self._handle_entries(client, sub, stream, entries)
            # ">" : one read per call; "0" (own pending): until none is left
            if position == ">" or not entries or sub.stopping.is_set():
                return

    def _claim(self, client: redis.Redis, sub: ConsumerSubscription, stream: str) -> None:
        cursor = "0-0"
        min_idle = max(1, int(self.claim_idle_s * 1000))
        while not sub.stopping.is_set():
            result = client.xautoclaim(stream, sub.group, self.node, min_idle, start_id=cursor, count=100)
            cursor, entries = result[0], result[1]
            if entries:
                self._count("claimed", len(entries))
                log.warning(
                    "redis bus: %s/%s claimed %d entries left unacknowledged for %.1f s",
                    sub.topic, sub.group, len(entries), self.claim_idle_s,
                )
                self._handle_entries(client, sub, stream, entries)
            if cursor in (b"0-0", "0-0"):
                return

    def _handle_entries(self, client: redis.Redis, sub: ConsumerSubscription, stream: str, entries: list) -> None:
        fetched = time.monotonic()
        entries = list(entries)
        while entries:
            if sub.stopping.is_set() or self._stopping.is_set():
                return  # the rest stays pending: claimed by the group, or by this node's next start
            if time.monotonic() - fetched > self.claim_idle_s / 2:
                entries = self._still_ours(client, sub, stream, entries)
                fetched = time.monotonic()
                if not entries:
                    return
            entry_id, fields = entries.pop(0)
            error = None
            raw = fields.get(b"data") if fields else None
            if fields is None:  # deleted (trimmed) while pending
                client.xack(stream, sub.group, entry_id)
                continue
            try:
                message = _decode(sub.topic, raw)
            except (ValueError, TypeError) as exc:
                self._count("decode_errors", 1)
                log.warning("redis bus: %s entry %s does not decode (%s); acknowledged", sub.topic, entry_id, exc)
                error = f"decode: {exc}"
            else:
                try:
                    sub.handler(message)
                    self._count("delivered", 1)
                except Exception as exc:
                    self._count("failed", 1)
                    log.exception(
                        "redis bus consumer %s/%s failed on entry %s; acknowledged", sub.topic, sub.group, entry_id
                    )
                    error = f"{type(exc).__name__}: {exc}"
            pipe = client.pipeline(transaction=True)
            if error is not None:
                pipe.xadd(
                    self.dead_letter_key(sub.topic),
                    {
                        "data": raw if raw is not None else b"",
                        "id": entry_id,
                        "group": sub.group,
                        "consumer": self.node,
                        "error": error[:1000],
                    },
                    maxlen=self.dead_letter_maxlen,
                    approximate=True,
                )
            pipe.xack(stream, sub.group, entry_id)
            pipe.execute()

    def _still_ours(self, client: redis.Redis, sub: ConsumerSubscription, stream: str, entries: list) -> list:
        """A long batch: keep the entries still pending for this consumer (others may have
        claimed some meanwhile) and reset their idle time, so that nobody claims them now."""
        pending = client.xpending_range(
            stream, sub.group, min=entries[0][0], max=entries[-1][0], count=len(entries), consumername=self.node
        )
        ours = {p["message_id"] for p in pending}
        kept = [e for e in entries if e[0] in ours]
        if len(kept) < len(entries):
            log.warning("redis bus: %s/%s: %d entries of a slow batch were claimed by others; skipped",
                        sub.topic, sub.group, len(entries) - len(kept))
        if kept:
            client.xclaim(stream, sub.group, self.node, 0, [e[0] for e in kept], justid=True)
        return kept

    # ------------------------------------------------------------------ health and stop

    @property
    def connected(self) -> bool:
        """Whether every connection of the bus (publishing, subscriber, consumers) is up."""
        with self._lock:
            consumers = list(self._consumers)
        return self._writer_ok and self._reader_ok and all(c.connected for c in consumers)

    def stats(self) -> dict[str, Any]:
        """Counters: published (accepted by ``publish``), sent (written to Redis), delivered
        (handler calls), failed (handlers that raised), outbox, dropped, reconnects, claimed,
        caught_up (delivered from the stream after a (re)subscribe), decode_errors."""
        with self._lock:
            outbox = len(self._outbox)
        with self._counter_lock:
            counters = dict(self._counters)
        out = {
            key: counters.get(key, 0)
            for key in (
                "published",
                "sent",
                "delivered",
                "failed",
                "dropped",
                "reconnects",
                "claimed",
                "caught_up",
                "decode_errors",
            )
        }
        out["outbox"] = outbox
        out["connected"] = self.connected
        return out

    def stop(self, drain_timeout: float = 2.0) -> None:
        """Send what is in the outbox (up to ``drain_timeout`` while Redis is up), stop the
        threads and close the connections. Idempotent."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._drain_deadline = time.monotonic() + drain_timeout
        self._writer_drain(drain_timeout)
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        with self._lock:
            consumers = list(self._consumers)
        for consumer in consumers:
            consumer.cancel()
        for thread in (self._writer, self._reader):
            if thread is not threading.current_thread():
                thread.join(self._socket_timeout_s + 1)
        left = len(self._outbox)
        if left:
            log.warning("redis bus stopped with %d unsent messages", left)

    def _writer_drain(self, timeout: float) -> None:
        if self._writer_ok:
            self.flush(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
