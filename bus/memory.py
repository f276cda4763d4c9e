"""The in-process bus, and the protocol of every bus: publish and subscribe typed messages.

Deliberately tiny — ``publish(topic, message)``, ``subscribe(topic, handler)``,
``consume(topic, group, handler)``, ``stop()`` — so producers never know which transport carries
their messages: the in-process bus here, or the Redis bus (:mod:`zhizhi.bus.redis_bus`, across
processes; docs/redis.md), with the same callers.

``subscribe`` is broadcast: every handler gets every message. ``consume`` shares the work: each
message goes to one handler of the group (on the Redis bus, one consumer in all processes).

>>> from zhizhi.bus.messages import EvidenceAttached
>>> from zhizhi.bus.topics import Topic
>>> bus = InProcessBus()
>>> seen = []
>>> sub = bus.subscribe(Topic.EVIDENCE, seen.append)
>>> message = EvidenceAttached(alert_id="k3v9q2m7xa1b", snapshot="k3v9q2m7xa1b/snapshot.jpg")
>>> bus.publish(Topic.EVIDENCE, message)
>>> seen[0] is message  # the object itself: messages are frozen
True
>>> bus.publish(Topic.EVIDENCE, {"alert_id": "k3v9q2m7xa1b"})
Traceback (most recent call last):
TypeError: topic <Topic.EVIDENCE: 'evidence'> carries EvidenceAttached, not dict
>>> sub.cancel(); bus.publish(Topic.EVIDENCE, message); len(seen)
1
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from zhizhi.bus.messages import check

log = logging.getLogger(__name__)

#: A bus message: an instance of its topic's type (:data:`zhizhi.bus.messages.TOPIC_TYPES`).
Message = Any
Handler = Callable[[Message], None]


@dataclass
class Subscription:
    """A handler's registration; ``cancel()`` removes it."""

    bus: InProcessBus
    topic: str
    handler: Handler

    def cancel(self) -> None:
        self.bus._remove(self)


class Cancellable(Protocol):
    """What ``subscribe`` and ``consume`` return, on every bus."""

    def cancel(self) -> None: ...


class Bus(Protocol):
    """What every bus implementation offers.

    ``publish`` raises ``TypeError`` for a message that is not of the topic's type
    (:data:`zhizhi.bus.messages.TOPIC_TYPES`), never because of the transport. ``subscribe``: the handler gets every
    message published on the topic after it subscribed (broadcast). ``consume``: each message
    goes to one handler of ``group`` (work sharing); the Redis bus acknowledges it after the
    handler returned. A handler that raises is logged; the others still run.
    """

    def publish(self, topic: str, message: Message) -> None: ...

    def subscribe(self, topic: str, handler: Handler) -> Cancellable: ...

    def consume(self, topic: str, group: str, handler: Handler) -> Cancellable: ...

    def stop(self) -> None: ...


class InProcessBus:
    """Delivers each message to the topic's handlers, in the publisher's thread.

    A handler that raises is logged and skipped; the others still receive the message.
    Handlers must be quick (hand work to a queue or an event loop).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, list[Subscription]] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._stopped = False
        self.published = 0

    def publish(self, topic: str, message: Message) -> None:
        """Hand ``message`` (the object itself: messages are frozen) to the topic's handlers;
        ``TypeError`` when it is not of the topic's type."""
        check(topic, message)
        with self._lock:
            if self._stopped:
                return
            subscribers = list(self._handlers.get(str(topic), ()))
            self.published += 1
        for sub in subscribers:
            try:
                sub.handler(message)
            except Exception:  # one bad consumer never stops delivery to the others
                log.exception("bus handler for %s failed", topic)

    def subscribe(self, topic: str, handler: Handler) -> Subscription:
        sub = Subscription(self, str(topic), handler)
        with self._lock:
            self._handlers.setdefault(str(topic), []).append(sub)
        return sub

    def consume(self, topic: str, group: str, handler: Handler) -> Cancellable:
        """Like ``subscribe``, but the handlers of one ``group`` share the messages: each goes
        to one of them, in turn (one handler alone gets them all)."""
        key = (str(topic), group)
        with self._lock:
            shared = self._groups.get(key)
            if shared is None:
                shared = self._groups[key] = _Group()
                shared.subscription = Subscription(self, str(topic), shared)
                self._handlers.setdefault(str(topic), []).append(shared.subscription)
            shared.members.append(handler)
        return _GroupMember(self, key, shared, handler)

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            handlers = self._handlers.get(sub.topic, [])
            if sub in handlers:
                handlers.remove(sub)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._handlers.clear()


class _Group:
    """The handlers of one consumer group on the in-process bus: each message to the next."""

    def __init__(self) -> None:
        self.members: list[Handler] = []
        self.turn = 0
        self.subscription: Subscription | None = None

    def __call__(self, message: Message) -> None:
        members = list(self.members)
        if members:
            self.turn = (self.turn + 1) % len(members)
            members[self.turn](message)


@dataclass(eq=False)
class _GroupMember:
    bus: InProcessBus
    key: tuple[str, str]
    group: _Group
    handler: Handler

    def cancel(self) -> None:
        with self.bus._lock:
            if self.handler in self.group.members:
                self.group.members.remove(self.handler)
            if self.group.members or self.group.subscription is None:
                return
            self.bus._groups.pop(self.key, None)
        self.bus._remove(self.group.subscription)
