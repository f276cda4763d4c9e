"""Webhook delivery: each target its own bounded queue and thread, signed POSTs, retries, dead letters.

:meth:`Forwarder.on_alert` is the ``alerts`` topic's handler: it only picks the targets an alert
event is for (rule, severity, event, jurisdiction) and queues a delivery for each — it never waits
on a network, so alert creation is never slowed by a receiver. A target's thread takes its
deliveries in order (a CAP ``Update`` never overtakes its ``Alert``), renders the body (JSON or
CAP 1.2), signs it (:mod:`.signing`) and POSTs it with httpx:

- 2xx: delivered;
- a connection error, a timeout, 5xx, 408 or 429: tried again after ``backoff_s * 2**(n-1)``
  (at most ``max_backoff_s``, shortened at random by up to ``jitter``; a ``Retry-After`` of the
  receiver is honoured up to ``max_backoff_s``), ``attempts`` times in all;
- any other answer (a 4xx: the receiver refuses this message; a 3xx: redirects are not followed):
  no retry.

A delivery given up on goes to the dead-letter list (:mod:`.store`) with the reason; so does one
that finds its target's queue full (``queue_size``) and, at stop, every delivery still queued or
waiting for a retry — nothing is dropped silently. Dead letters are rendered and stored by a
thread of their own, so a full queue costs intake no database write either. A dead letter is
re-sent with the same body and delivery id (:meth:`Forwarder.resend`).
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from zhizhi.alerts.forward.settings import ForwardEvent, ForwardSettings, RetryPolicy, WebhookTarget
from zhizhi.alerts.forward.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TARGET_HEADER, sign
from zhizhi.alerts.forward.store import DeadLetter, DeadLetterStore
from zhizhi.bus.messages import AlertEvent
from zhizhi.gis.codes import is_within

log = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"
#: ``cap(alert)``: the CAP 1.2 body of an alert event (:func:`.cap.build_cap` with its context).
RenderCap = Callable[[AlertEvent], bytes]
#: HTTP statuses worth another attempt besides 5xx.
RETRY_STATUSES = frozenset({408, 429})


class UnknownTarget(LookupError):
    """A dead letter's target is no longer configured."""


@dataclass
class Delivery:
    """One alert event on its way to one target."""

    target: str
    alert: AlertEvent
    event: ForwardEvent
    queued_ts: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to."""

    ok: bool
    reason: str = ""
    status_code: int | None = None
    retry: bool = False
    retry_after_s: float | None = None


def forward_event(message: AlertEvent) -> ForwardEvent:
    """The event name a target sees: the bus's, ``closed`` for a transition to resolved or closed."""
    if message.event == "transition" and message.status in ("resolved", "closed"):
        return "closed"
    return message.event


def wants(target: WebhookTarget, message: AlertEvent) -> bool:
    """Whether ``target`` is sent this alert event (empty filters let everything through)."""
    event = forward_event(message)
    if target.events and event not in target.events and not (event == "closed" and "transition" in target.events):
        return False
    if target.severities and message.severity not in target.severities:
        return False
    if target.rules and (message.rule or message.category) not in target.rules:
        return False
    if target.jurisdiction is not None:
        return is_within(message.grid or message.assignee_unit, target.jurisdiction)
    return True


def backoff_s(policy: RetryPolicy, attempt: int, retry_after_s: float | None = None) -> float:
    """The wait after failed attempt number ``attempt`` (1-based)."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), policy.max_backoff_s)
    delay = min(policy.backoff_s * 2 ** (attempt - 1), policy.max_backoff_s)
    return delay * (1 - policy.jitter * random.random())


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date), ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError):
        return None


def post(client: httpx.Client, target: WebhookTarget, body: bytes, content_type: str, *, delivery: str,
         event: str) -> Outcome:
    """One signed POST of ``body`` to ``target`` and what it came to."""
    headers = {
        "Content-Type": f"{content_type}; charset=utf-8",
        SIGNATURE_HEADER: sign(target.secret.get_secret_value().encode(), body),
        EVENT_HEADER: f"alert.{event}",
        DELIVERY_HEADER: delivery,
        TARGET_HEADER: target.name,
        "User-Agent": "zhizhi-forward/1",
    }
    try:
        response = client.post(str(target.url), content=body, headers=headers, timeout=target.timeout_s)
    except httpx.TimeoutException as exc:
        return Outcome(False, f"timeout: {type(exc).__name__}", retry=True)
    except httpx.TransportError as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}"[:300], retry=True)
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status_code=status)
    retry = status >= 500 or status in RETRY_STATUSES
    answer = response.text.strip().replace("\n", " ")[:200]
    return Outcome(False, f"HTTP {status}" + (f": {answer}" if answer else ""), status_code=status, retry=retry,
                   retry_after_s=retry_after(response.headers.get("Retry-After")))


class _Worker:
    """One target's queue and thread."""

    def __init__(self, target: WebhookTarget, size: int) -> None:
        self.target = target
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=size)
        self.thread: threading.Thread | None = None


class Forwarder:
    """Forwards alert events to the configured webhook targets (see the module).

    ``cap(alert)`` renders CAP bodies (needed only by targets of format ``cap``).
    """

    def __init__(self, settings: ForwardSettings, store: DeadLetterStore, *, cap: RenderCap | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.store = store
        self.cap = cap
        self.clock = clock
        self.counters: Counter[str] = Counter()  # all targets together
        self.target_counters: Counter[tuple[str, str]] = Counter()  # (target, what)
        self._workers = {t.name: _Worker(t, settings.queue_size) for t in settings.webhooks}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        # dead letters are rendered and stored by one thread of their own: intake never touches the database
        self._graves: queue.SimpleQueue[tuple[Delivery, bytes | None, str | None, int, str, int | None]] = \
            queue.SimpleQueue()
        self._writer: threading.Thread | None = None

    def _count(self, what: str, target: str) -> None:
        with self._lock:
            self.counters[what] += 1
            self.target_counters[target, what] += 1

    def counts(self) -> dict[tuple[str, str], int]:
        """Deliveries by (target, outcome): queued, delivered, retried, dead, resent."""
        with self._lock:
            return dict(self.target_counters)

    def pending_by_target(self) -> dict[str, int]:
        """Deliveries waiting in each target's queue."""
        return {name: w.queue.qsize() for name, w in self._workers.items()}

    @property
    def targets(self) -> list[WebhookTarget]:
        return list(self.settings.webhooks)

    def start(self) -> Forwarder:
        self._writer = threading.Thread(target=self._write_dead, name="forward-dead-letters", daemon=True)
        self._writer.start()
        for name, worker in self._workers.items():
            worker.thread = threading.Thread(target=self._run, args=(worker,), name=f"forward-{name}", daemon=True)
            worker.thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the threads; what is still queued or waiting for a retry becomes a dead letter."""
        self._stopping.set()
        deadline = time.monotonic() + timeout_s
        for worker in self._workers.values():
            if worker.thread is not None:
                worker.thread.join(max(0.0, deadline - time.monotonic()))
            self._drain(worker, "the console stopped before it was delivered")
        if self._writer is not None:
            self._writer.join(max(0.0, deadline - time.monotonic()))
        self._bury_all()  # what the writer left (or everything, when it never ran)

    # --- intake (the bus's thread: never waits) ---------------------------------------------------------
    def on_alert(self, message: AlertEvent) -> None:
        for worker in self._workers.values():
            if not wants(worker.target, message):
                continue
            delivery = Delivery(worker.target.name, message, forward_event(message), self.clock())
            if self._stopping.is_set():
                self._dead(delivery, None, None, 0, "the console was stopping")
                continue
            try:
                worker.queue.put_nowait(delivery)
                self._count("queued", worker.target.name)
            except queue.Full:
                self._dead(delivery, None, None, 0, f"queue full ({self.settings.queue_size} waiting)")

    def pending(self) -> int:
        """Deliveries queued, all targets together."""
        return sum(w.queue.qsize() for w in self._workers.values())

    # --- delivery (each target's thread) -------------------------------------------------------------
    def _run(self, worker: _Worker) -> None:
        with httpx.Client(trust_env=False, follow_redirects=False) as client:
            while not self._stopping.is_set():
                try:
                    delivery = worker.queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    self._deliver(client, worker.target, delivery)
                except Exception:  # a bug must not end the target's thread
                    log.exception("forwarding %s to %s failed", delivery.alert.id, worker.target.name)

    def _deliver(self, client: httpx.Client, target: WebhookTarget, delivery: Delivery) -> None:
        body, content_type = self.render(target, delivery)
        policy = self.settings.retry
        for attempt in range(1, policy.attempts + 1):
            outcome = post(client, target, body, content_type, delivery=delivery.id, event=delivery.event)
            if outcome.ok:
                self._count("delivered", target.name)
                return
            log.warning("forwarding alert %s (%s) to %s: attempt %d of %d failed: %s", delivery.alert.id,
                        delivery.event, target.name, attempt, policy.attempts, outcome.reason)
            if not outcome.retry or attempt == policy.attempts:
                self._dead(delivery, body, content_type, attempt, outcome.reason, outcome.status_code)
                return
            self._count("retried", target.name)
            if self._stopping.wait(backoff_s(policy, attempt, outcome.retry_after_s)):
                self._dead(delivery, body, content_type, attempt,
                           f"the console stopped between retries (last: {outcome.reason})", outcome.status_code)
                return

    def render(self, target: WebhookTarget, delivery: Delivery) -> tuple[bytes, str]:
        """The body a target gets for a delivery, and its media type."""
        if target.format == "cap":
            if self.cap is None:
                raise RuntimeError("no CAP renderer configured")
            from zhizhi.alerts.forward.cap import CAP_MEDIA_TYPE

            return self.cap(delivery.alert), CAP_MEDIA_TYPE
        document = {"delivery": delivery.id, "event": delivery.event, "target": target.name,
                    "alert": delivery.alert.to_wire()}
        # (a lone surrogate, which no valid alert holds, would become "?" rather than stop the delivery)
        return json.dumps(document, ensure_ascii=False).encode("utf-8", "replace"), JSON_MEDIA_TYPE

    def _drain(self, worker: _Worker, reason: str) -> None:
        while True:
            try:
                delivery = worker.queue.get_nowait()
            except queue.Empty:
                return
            self._dead(delivery, None, None, 0, reason)

    def _dead(self, delivery: Delivery, body: bytes | None, content_type: str | None, attempts: int, reason: str,
              status_code: int | None = None) -> None:
        """Hand a delivery given up on to the dead-letter thread (never waits)."""
        self._count("dead", delivery.target)
        log.error("alert %s (%s) to %s dead-lettered after %d attempt(s): %s", delivery.alert.id, delivery.event,
                  delivery.target, attempts, reason)
        self._graves.put((delivery, body, content_type, attempts, reason, status_code))

    def _write_dead(self) -> None:
        while not self._stopping.is_set():
            try:
                grave = self._graves.get(timeout=0.2)
            except queue.Empty:
                continue
            self._bury(*grave)

    def _bury_all(self) -> None:
        while True:
            try:
                grave = self._graves.get_nowait()
            except queue.Empty:
                return
            self._bury(*grave)

    def _bury(self, delivery: Delivery, body: bytes | None, content_type: str | None, attempts: int, reason: str,
              status_code: int | None) -> None:
        """Store a dead letter, rendering its body when it never was."""
        target = self.settings.target(delivery.target)
        if body is None or content_type is None:
            try:
                body, content_type = self.render(target, delivery) if target else (b"", JSON_MEDIA_TYPE)
            except Exception as exc:  # keep the letter even when it cannot be rendered
                log.exception("rendering alert %s for %s failed", delivery.alert.id, delivery.target)
                body, content_type, reason = b"", JSON_MEDIA_TYPE, f"{reason}; rendering failed: {exc}"
        letter = DeadLetter(
            delivery=delivery.id, target=delivery.target, alert_id=delivery.alert.id, event=delivery.event,
            grid=delivery.alert.grid, assignee_unit=delivery.alert.assignee_unit, content_type=content_type,
            body=body, attempts=attempts, status_code=status_code, reason=reason, first_ts=delivery.queued_ts,
            failed_ts=self.clock(),
        )
        try:
            self.store.add(letter)
        except Exception:
            log.exception("storing the dead letter of alert %s for %s failed", delivery.alert.id, delivery.target)

    # --- dead letters ----------------------------------------------------------------------------------
    def resend(self, letter_id: int) -> tuple[bool, DeadLetter]:
        """One attempt at a dead letter, same body and delivery id: delivered (the row goes) or
        not (one more attempt and the new reason on the row). ``LookupError`` when there is no
        such letter, :class:`UnknownTarget` when its target is no longer configured."""
        letter = self.store.get(letter_id)
        if letter is None:
            raise LookupError(f"no dead letter {letter_id}")
        target = self.settings.target(letter.target)
        if target is None:
            raise UnknownTarget(f"target {letter.target!r} is no longer configured")
        with httpx.Client(trust_env=False, follow_redirects=False) as client:
            outcome = post(client, target, letter.body, letter.content_type, delivery=letter.delivery,
                           event=letter.event)
        if outcome.ok:
            self.store.remove(letter_id)
            self._count("resent", letter.target)
            return True, letter
        now = self.clock()
        self.store.failed_again(letter_id, reason=outcome.reason, status_code=outcome.status_code, at=now)
        return False, letter.model_copy(update={"attempts": letter.attempts + 1, "reason": outcome.reason,
                                                "status_code": outcome.status_code, "failed_ts": now})
