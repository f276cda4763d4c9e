"""A real multi-process deployment for the fault tests: a PostgreSQL server of the test's own
(``initdb`` in a temporary folder, so the test may crash and restart it), a private
``redis-server`` (tests/redis_support.py), consoles (``zhizhi serve``) and workers
(``zhizhi worker``) started exactly as ``zhizhi cluster`` starts them (console/cluster.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.browser import login_answer
from tests.redis_support import free_port, wait_until
from zhizhi.bench.live_client import follow_live

PG_BIN = Path(max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/15/bin")))
PASSWORD = "cluster-test-pw-1"


def _as_postgres(argv: list[str]) -> list[str]:
    """Run a PostgreSQL binary as the ``postgres`` user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgresServer:
    """One PostgreSQL server in a temporary folder: ``start()``, ``crash()`` (immediate stop, as
    a power cut), ``stop()``, ``url(db)``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="zhizhi-pg-"))
        self.data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                                     "--no-sync", "-E", "UTF8"]), check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                                     "-l", str(self.dir / "server.log"), "-w", *args]),
                       check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self._ctl("start")
        return self

    def crash(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "fast")
        except subprocess.CalledProcessError:
            pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Screen:
    """A websocket client of a console in a thread: every message it receives, in order; it
    reconnects with its last ``seq`` whenever the connection drops (as the wall's live.js does)."""

    url: str
    token: str
    messages: list[dict] = field(default_factory=list)
    connects: int = 0
    last_seq: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Screen:
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-screen")
        self._thread.start()
        return self

    def _run(self) -> None:
        follow_live(self.url, self.token, self._stop, self._on_text, lambda: self.last_seq,
                    on_connect=self._connected, open_timeout=5, retry_s=0.3)

    def _connected(self) -> None:
        self.connects += 1

    def _on_text(self, text: str, _arrived: float) -> None:
        message = json.loads(text)
        self.messages.append(message)
        if isinstance(message.get("seq"), int):
            self.last_seq = message["seq"]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def alerts(self, match: Callable[[dict], bool] = lambda m: True) -> list[dict]:
        """Alert messages received, and alerts in the snapshots received."""
        found = []
        for message in list(self.messages):
            items = message.get("items", []) if message.get("type") == "snapshot" else [message]
            found += [m for m in items if m.get("type") == "alert" and match(m)]
        return found

    def snapshots(self) -> int:
        return sum(1 for m in list(self.messages) if m.get("type") == "snapshot")


def login(url: str, username: str = "district") -> str:
    return str(login_answer(url, username, PASSWORD)["token"])


def kill9(process: subprocess.Popen) -> None:
    """``kill -9`` the process group of a child (it runs in a session of its own)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


__all__ = ["PASSWORD", "PostgresServer", "Screen", "free_port", "kill9", "login", "wait_until"]
