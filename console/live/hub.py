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
  ``seq``. Publishing never waits for a client.
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(eq=False)
class LiveClient:
    """One connected screen: its jurisdiction, its wall and its bounded queue."""

    hub: LiveHub
    code: str  # "" sees everything (the whole district)
    queue_size: int
    wall: str | None = None
    last_seq: int = 0
    resyncs: int = 0
    _queue: deque = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _resync: bool = False

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
        while True:
            if self._resync:
                self._resync = False
                return self.hub.snapshot_for(self)
            if self._queue:
                envelope = self._queue.popleft()
                if envelope.seq <= self.last_seq:
                    continue  # already covered by the snapshot this client was sent
                self.last_seq = envelope.seq
                return envelope.payload(self.code)
            self._wakeup.clear()
            await self._wakeup.wait()

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
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._ring: deque[Envelope] = deque(maxlen=buffer)
        self._seq = itertools.count(1)
        self._last = 0
        self._lock = threading.Lock()
        self._clients: set[LiveClient] = set()
        self.queue_size = queue_size
        self._loop = loop

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
        with self._lock:  # numbering and hand-over in one step: deliveries keep seq order
            envelope = Envelope(next(self._seq), message, codes, wall, render)
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
        for client in list(self._clients):
            if envelope.for_client(client):
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
        return client

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

    def snapshot_for(self, client: LiveClient) -> Message:
        """``{"type": "snapshot", "seq": current, "items": [...]}`` of what the client may see.

        The number is read *before* the state: producers change state, then publish, so the
        snapshot holds every change up to ``seq`` (and maybe later ones, which arrive again as
        messages; applying an alert update twice is harmless).
        """
        seq = self._last
        client.last_seq = seq
        return {"type": "snapshot", "seq": seq, "items": list(self._snapshot(client))}
