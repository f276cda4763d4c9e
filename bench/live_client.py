"""A screen's websocket, as the wall's live.js reads it: ``/ws`` (with the login's token as a
bearer header: a client that can send one needs no ticket), and after a drop the same again with
``?last_seq=`` the newest ``seq`` seen, until told to stop.

Used by the benchmarks (surge, alert latency) and the fault tests, each with its own handling
of the text frames.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


def follow_live(
    url: str,
    token: str,
    stop: threading.Event,
    on_text: Callable[[str, float], None],
    last_seq: Callable[[], int | None],
    *,
    on_connect: Callable[[], None] | None = None,
    on_drop: Callable[[], None] | None = None,
    open_timeout: float = 30.0,
    retry_s: float = 0.5,
) -> None:
    """Read the console at ``url`` until ``stop`` is set: every text frame goes to
    ``on_text(text, arrival wall time)``; ``last_seq()`` says where to resume after a drop
    (``on_drop`` is called then, ``on_connect`` at every connection)."""
    base = url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        seq = last_seq()
        try:
            with connect(base + (f"?last_seq={seq}" if seq is not None else ""), open_timeout=open_timeout,
                         close_timeout=1, max_size=None, additional_headers=headers) as ws:
                if on_connect is not None:
                    on_connect()
                while not stop.is_set():
                    try:
                        text = ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    on_text(text if isinstance(text, str) else text.decode(), time.time())
        except (ConnectionClosed, OSError, TimeoutError):
            if on_drop is not None:
                on_drop()
        stop.wait(retry_s)


__all__ = ["follow_live"]
