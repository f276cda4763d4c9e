"""A real ``redis-server`` of the test's own, on a free loopback port, that the test may kill
(``kill -9``) and start again. Nothing is kept on disk: a restart loses every key, as the
project's Redis does.

Registered for every test module by one import in tests/conftest.py (the ``redis_server``
fixture, function-scoped).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from zhizhi.bench.surge import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def wait_until(condition: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``condition`` until it is truthy; whether it became so within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


class RedisServer:
    """One ``redis-server`` process: ``start()``, ``stop()`` (kill -9), ``restart()``, ``url``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="zhizhi-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )

    def start(self, timeout: float = 5.0) -> RedisServer:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", self._dir.name,
                "--logfile", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if probe.ping():
                    break
            except redis.RedisError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)
        probe.close()
        return self

    def stop(self) -> None:
        """``kill -9``: no shutdown, no save; every client sees its connection drop."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


class BlackholeProxy:
    """A TCP forwarder on loopback to a Redis server that can turn into a black hole: after
    ``blackhole()`` it keeps every connection open (and accepts new ones) but passes nothing on,
    as a frozen network path does — the client's calls hang until their socket timeout."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._holed = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, name="blackhole-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def blackhole(self) -> None:
        self._holed.set()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._holed.is_set():
                    sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server of this test's own (killed at the end)."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()
