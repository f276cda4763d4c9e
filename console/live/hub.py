"""The live hub: every websocket message numbered, scoped, replayable, and never slowed by one client.

Producers (bus handlers in worker threads, request handlers) call :meth:`LiveHub.publish` with a
message and its *audience* — the jurisdiction codes it concerns (an alert's grid and responsible
unit, a camera's grid). The hub gives it the next ``seq`` (one counter for the whole hub, so a
client sees increasing numbers with gaps where messages were not for it), keeps it in a ring
buffer, and puts it on the queue of every client whose jurisdiction contains one of the codes.

- **Reconnect.** A client that comes back with its last ``seq`` gets what it missed from the ring
  buffer, in order, without duplicates; if the buffer no longer reaches back that far it gets a
  snapshot instead.
- **Positions are not replayed.** Vehicle and drone positions (``keep=False``) are numbered and
  delivered like everything else but not kept in the ring buffer: a screen that comes back gets
  each object's next position within seconds, and the buffer stays small when thousands of
  vehicles report (a town's positions message can hold a thousand vehicles, every second).
- **Slow clients.** Each client has a bounded queue. When it overflows the client's backlog is
  dropped and it is marked for resynchronisation: its next read is a fresh snapshot at the current
  ``seq``. Publishing never waits for a client. A client whose socket takes a message for longer
  than ``send_timeout_s`` (it stopped reading) is dropped (:attr:`LiveClient.dropped`): it comes
  back with its ``last_seq`` and resumes from the ring buffer.
- **Encoded once.** A message is turned into JSON text once, by its publisher (outside the hub's
  lock and its loop), with its ``seq`` appended: every client receives the same text
  (:meth:`LiveClient.next_text`). A message with ``render`` is rendered and encoded once per
  jurisdiction code. Snapshots are each client's own, built and encoded in a worker thread so the
  loop keeps sending meanwhile.
- **Walls.** A client that joined a wall receives the messages published to that wall (a
  screen's selection) besides its jurisdiction's. A wall belongs to a jurisdiction: its key is
  :func:`wall_key` of the user's code and the wall's name, so the screens of one town's ``main``
  never see what the district's ``main`` or another town's selects.

>>> import asyncio
>>> async def demo():
...     hub = LiveHub(snapshot=lambda client: [], buffer=10)
...     town = hub.connect("320612001", last_seq=0)  # has seen nothing yet
...     hub.publish({"type": "alert", "id": "a"}, audience={"320612001003004"})
...     hub.publish({"type": "alert", "id": "b"}, audience={"320612002001001"})
...     return await town.next()
>>> asyncio.run(demo())
{'type': 'alert', 'id': 'a', 'seq': 1}
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from zhizhi.gis.codes import is_within

log = logging.getLogger(__name__)
Message = dict[str, Any]


def wall_key(code: str, name: str) -> str:
    """The hub's key of the wall ``name`` of jurisdiction ``code``: every jurisdiction has walls
    of its own, whatever their names.

    >>> wall_key("320612001", "main") == wall_key("320612", "main")
    False
    """
    return f"{code}/{name}"


def encode(message: Message) -> str:
    """A message as compact JSON text (non-ASCII kept, NaN and infinities as ``null``), with
    pydantic's Rust serialiser: about four times as fast as :func:`json.dumps`.

    >>> encode({"type": "alert", "text": "积水", "score": float("nan")})
    '{"type":"alert","text":"积水","score":null}'
    """
    try:
        return to_json(message, inf_nan_mode="null").decode()
    except PydanticSerializationError as exc:
        raise TypeError(f"live message {message.get('type')!r} cannot be sent as JSON: {exc}") from None


def with_seq(body: str, seq: int) -> str:
    """The JSON object text ``body`` (without ``seq``) with ``"seq": seq`` as its last member.

    >>> with_seq('{"type":"alert"}', 7), with_seq("{}", 1)
    ('{"type":"alert","seq":7}', '{"seq":1}')
    """
    return f'{body[:-1]}{"," if len(body) > 2 else ""}"seq":{seq}}}'


@dataclass(frozen=True)
class Envelope:
    """A published message with its number and who may receive it."""

    seq: int
    message: Message
    audience: frozenset[str] | None  # None: every client
    wall: str | None = None  # set: only the screens that joined this wall (a wall_key)
    #: set: the message as jurisdiction ``code`` may read it (a derived result cut to the reader,
    #: e.g. an incident's impact), made once per code on first delivery
    render: Callable[[str], Message] | None = None
    _rendered: dict[str, Message] = field(default_factory=dict, compare=False, repr=False)
    #: the JSON text per code ("" for every client when there is no ``render``), made once
    _texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def for_client(self, client: LiveClient) -> bool:
        if self.wall is not None and self.wall != client.wall:
            return False
        if self.audience is None or client.code == "":
            return True
        return any(is_within(code, client.code) for code in self.audience)

    def payload(self, code: str = "") -> Message:
        """The message for a client of jurisdiction ``code``, with its ``seq``."""
        if self.render is None:
            return {**self.message, "seq": self.seq}
        if code not in self._rendered:
            self._rendered[code] = self.render(code)
        return {**self._rendered[code], "seq": self.seq}

    def text(self, code: str = "") -> str:
        """:meth:`payload` as JSON text, encoded once per variant (the same text for every
        client when there is no ``render``; on the hub's loop otherwise)."""
        key = "" if self.render is None else code
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = encode(self.payload(code))
        return text


@dataclass(eq=False)
class LiveClient:
    """One connected screen: its jurisdiction, its wall and its bounded queue."""

    hub: LiveHub
    code: str  # "" sees everything (the whole district)
    queue_size: int
    wall: str | None = None
    last_seq: int = 0
    resyncs: int = 0
    #: set when the hub dropped this client: its socket took longer than the hub's
    #: ``send_timeout_s`` to accept a message (the endpoint then closes the connection)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: deque = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _resync: bool = False
    _sending_since: float = 0.0  # the loop's time when the send under way began; 0: none

    def _offer(self, envelope: Envelope) -> None:
        """Called on the hub's loop: queue it, or drop the backlog and ask for a snapshot."""
        if self._resync:
            return
        if len(self._queue) >= self.queue_size:
            self._queue.clear()
            self._resync = True
            self.resyncs += 1
        else:
            self._queue.append(envelope)
        self._wakeup.set()

    def resync(self) -> None:
        """Replace whatever is pending with a snapshot (e.g. after joining a wall)."""
        self._queue.clear()
        self._resync = True
        self._wakeup.set()

    async def next(self) -> Message:
        """The next message for this client (a snapshot when it fell behind)."""
        envelope = await self._take()
        if envelope is None:
            return await asyncio.to_thread(self.hub.snapshot_for, self)
        return envelope.payload(self.code)

    async def next_text(self) -> str:
        """The next message as JSON text: the envelope's own text, shared with every client of
        the same variant; a snapshot is built and encoded in a worker thread."""
        envelope = await self._take()
        if envelope is None:
            return await asyncio.to_thread(self._snapshot_text)
        return envelope.text(self.code)

    def _snapshot_text(self) -> str:
        return encode(self.hub.snapshot_for(self))

    async def _take(self) -> Envelope | None:
        """The next envelope for this client, or None when a snapshot is due."""
        while True:
            if self._resync:
                self._resync = False
                return None
            if self._queue:
                envelope = self._queue.popleft()
                if envelope.seq <= self.last_seq:
                    continue  # already covered by the snapshot this client was sent
                self.last_seq = envelope.seq
                return envelope
            self._wakeup.clear()
            await self._wakeup.wait()

    async def forward(self, send: Callable[[str], Awaitable[Any]]) -> None:
        """Send every message with ``send`` (e.g. a websocket's ``send_text``) until cancelled.

        Each send is timed by the hub's watchdog, which drops this client (:attr:`dropped`) when
        one takes longer than the hub's ``send_timeout_s``; the sends of other clients never wait
        for this one (each client has its own task).
        """
        loop = asyncio.get_running_loop()
        try:
            while True:
                text = await self.next_text()
                self._sending_since = loop.time()
                await send(text)
                self._sending_since = 0.0
        finally:
            self._sending_since = 0.0

    def _drop(self, waited_s: float) -> None:
        """Called on the hub's loop by the watchdog: the socket stopped taking messages."""
        log.warning("live client of %s dropped: its socket took no message for %.1f s (%d pending)",
                    self.code or "the district", waited_s, len(self._queue))
        self.hub.disconnect(self)
        self._queue.clear()
        self.dropped.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self.hub.disconnect(self)


class LiveHub:
    """Numbers, buffers and fans out live messages to scoped clients."""

    def __init__(
        self,
        snapshot: Callable[[LiveClient], Iterable[Message]],
        *,
        buffer: int = 10_000,
        queue_size: int = 1_000,
        send_timeout_s: float = 10.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if send_timeout_s <= 0:
            raise ValueError(f"send_timeout_s must be positive, not {send_timeout_s}")
        self._snapshot = snapshot
        self._ring: deque[Envelope] = deque(maxlen=buffer)
        self._seq = itertools.count(1)
        self._last = 0
        self._lock = threading.Lock()
        self._clients: set[LiveClient] = set()
        self.queue_size = queue_size
        self.send_timeout_s = send_timeout_s
        self.dropped = 0  # clients dropped for a socket that stopped taking messages
        self._loop = loop
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_loop: asyncio.AbstractEventLoop | None = None

    @property
    def seq(self) -> int:
        """The number of the newest message."""
        return self._last

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the clients read on (publishers in other threads hand over to it)."""
        self._loop = loop

    # --- publishing ---------------------------------------------------------------------
    def publish(self, message: Message, audience: Iterable[str] | None = None, *, wall: str | None = None,
                keep: bool = True, render: Callable[[str], Message] | None = None) -> int:
        """Number and deliver a message; safe from any thread; returns its ``seq``.

        ``keep=False``: not kept for replay (positions, which the next update replaces).
        ``render(code)``: what a client of jurisdiction ``code`` receives instead of ``message``
        (called on the hub's loop, once per code).
        """
        codes = None if audience is None else frozenset(c for c in audience if c)
        # encoded here, in the publisher's thread, before numbering: a bad message fails its
        # publisher, and neither the lock nor the loop waits for the encoding
        body = None if render is not None else encode(
            message if "seq" not in message else {k: v for k, v in message.items() if k != "seq"})
        with self._lock:  # numbering and hand-over in one step: deliveries keep seq order
            envelope = Envelope(next(self._seq), message, codes, wall, render)
            if body is not None:
                envelope._texts[""] = with_seq(body, envelope.seq)
            self._last = envelope.seq
            if keep:
                self._ring.append(envelope)
            if self._on_loop():
                self._deliver(envelope)
            else:
                self._loop.call_soon_threadsafe(self._deliver, envelope)  # type: ignore[union-attr]
        return envelope.seq

    def _on_loop(self) -> bool:
        """Deliver here and now: no loop is bound, this is it, or it is closed (its server has
        stopped, so its clients are gone; a publisher must not fail for that)."""
        if self._loop is None or self._loop.is_closed():
            return True
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _deliver(self, envelope: Envelope) -> None:
        verdicts: dict[tuple[str, str | None], bool] = {}  # one scope check per code and wall
        for client in list(self._clients):
            key = (client.code, client.wall)
            allowed = verdicts.get(key)
            if allowed is None:
                allowed = verdicts[key] = envelope.for_client(client)
            if allowed:
                client._offer(envelope)

    def resync_all(self) -> None:
        """Give every client a fresh snapshot (e.g. after the bus lost messages while it was
        reconnecting); safe from any thread."""
        if self._on_loop():
            for client in list(self._clients):
                client.resync()
        else:
            self._loop.call_soon_threadsafe(self.resync_all)  # type: ignore[union-attr]

    # --- clients ------------------------------------------------------------------------
    def connect(self, code: str, *, last_seq: int | None = None, wall: str | None = None,
                queue_size: int | None = None) -> LiveClient:
        """A new client; with ``last_seq`` it first receives what it missed (or a snapshot)."""
        client = LiveClient(self, code, queue_size or self.queue_size, wall=wall)
        with self._lock:  # nothing published in between can overtake the replay
            missed = self._missed(client, last_seq)
            self._clients.add(client)
            if missed is None:
                client.resync()
            else:
                for envelope in missed:
                    client._offer(envelope)
        self._watch_sends()
        return client

    def _watch_sends(self) -> None:
        """Start the send watchdog on the running loop (a timer every quarter of
        ``send_timeout_s``, at most a second, while clients are connected)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # connected outside a loop (a test): nothing is being sent
        if self._watchdog is not None and self._watchdog_loop is loop:
            return
        if self._watchdog is not None and self._watchdog_loop is not None and not self._watchdog_loop.is_closed():
            self._watchdog.cancel()  # of another loop still running (its clients are checked here now)
        self._watchdog_loop = loop
        self._watchdog = loop.call_later(min(self.send_timeout_s / 4, 1.0), self._check_sends, loop)

    def _check_sends(self, loop: asyncio.AbstractEventLoop) -> None:
        """Drop the clients whose socket has held a message longer than ``send_timeout_s``."""
        self._watchdog = None
        now = loop.time()
        for client in list(self._clients):
            if client._sending_since and now - client._sending_since > self.send_timeout_s:
                self.dropped += 1
                client._drop(now - client._sending_since)
        if self._clients and not loop.is_closed():
            self._watchdog = loop.call_later(min(self.send_timeout_s / 4, 1.0), self._check_sends, loop)

    def _missed(self, client: LiveClient, last_seq: int | None) -> list[Envelope] | None:
        """What a client missed since ``last_seq``, or None when the buffer cannot tell."""
        if last_seq is None:
            return None
        if last_seq > self._last or last_seq < 0:
            return None  # a number from another hub's life (a restart): start afresh
        oldest = self._ring[0].seq if self._ring else self._last + 1
        if last_seq + 1 < oldest:
            return None
        return [e for e in self._ring if e.seq > last_seq and e.for_client(client)]

    def disconnect(self, client: LiveClient) -> None:
        with self._lock:
            self._clients.discard(client)

    @property
    def clients(self) -> int:
        return len(self._clients)

    def queue_depths(self) -> list[int]:
        """The messages waiting in each connected client's queue (``/metrics``)."""
        with self._lock:
            clients = list(self._clients)
        return [client.pending for client in clients]

    def snapshot_for(self, client: LiveClient) -> Message:
        """``{"type": "snapshot", "seq": current, "items": [...]}`` of what the client may see.

        The number is read *before* the state: producers change state, then publish, so the
        snapshot holds every change up to ``seq`` (and maybe later ones, which arrive again as
        messages; applying an alert update twice is harmless).
        """
        seq = self._last
        client.last_seq = seq
        return {"type": "snapshot", "seq": seq, "items": list(self._snapshot(client))}
