"""A webhook receiver on loopback for the forwarding tests: records every request, answers as told.

``receiver.script(path, [503, 503])`` makes the next two POSTs to ``path`` answer 503 (then 200);
``receiver.script(path, [(429, {"Retry-After": "0"})])`` adds headers; ``receiver.fail(path, 500)``
answers 500 until ``receiver.recover(path)``; ``receiver.slow_s`` delays every answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from zhizhi.alerts.forward.cap import CAP_NS

#: The OASIS CAP 1.2 schema (tests/data/cap/README.md says where it comes from).
CAP_SCHEMA = Path(__file__).resolve().parent / "data" / "cap" / "CAP-v1.2.xsd"
#: The CAP namespace for XPath queries.
CAP_NAMESPACES = {"cap": CAP_NS}


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A threading HTTP server on 127.0.0.1 (port chosen by the system)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._scripts: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._failing: dict[str, int] = {}
        self._lock = threading.Lock()
        self.slow_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, extra = receiver._answer(Received(self.path, dict(self.headers.items()), body))
                if receiver.slow_s:
                    time.sleep(receiver.slow_s)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"no")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, request: Received) -> tuple[int, dict[str, str]]:
        with self._lock:
            self.requests.append(request)
            script = self._scripts.get(request.path)
            if script:
                return script.pop(0)
            return self._failing.get(request.path, 200), {}

    def script(self, path: str, answers: list) -> None:
        with self._lock:
            self._scripts[path] = [(a, {}) if isinstance(a, int) else a for a in answers]

    def fail(self, path: str, status: int) -> None:
        with self._lock:
            self._failing[path] = status

    def recover(self, path: str) -> None:
        with self._lock:
            self._failing.pop(path, None)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A :class:`Receiver` for a test module (import it into the module to use it)."""
    server = Receiver()
    yield server
    server.close()
