"""GStreamer's RTSP server (``rtsp_server.py``) in a subprocess of Debian's Python."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path
from typing import Self

SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-gi (the venv's Python has no gi)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    """Serves ``clip`` at ``rtsp://127.0.0.1:{port}{path}``; ``stop()`` kills the server (its
    clients' connections drop), ``start()`` serves again on the same port."""

    def __init__(
        self, clip: Path, *, port: int | None = None, path: str = "/live",
        user: str | None = None, password: str | None = None,
    ) -> None:
        self.clip = Path(clip)
        self.port = port or free_port()
        self.path = path
        self.user, self.password = user, password
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it prints ``ready``."""
        assert self._process is None, "already running"
        command = [SYSTEM_PYTHON, str(SCRIPT), str(self.clip), "--port", str(self.port), "--path", self.path]
        if self.user:
            command += ["--user", self.user, "--password", self.password or ""]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or line[0].strip() != "ready":
            process.kill()
            _, err = process.communicate(timeout=5)
            raise RuntimeError(f"RTSP server did not start on port {self.port}: {err.strip()[-2000:]}")
        self._process = process
        return self

    def stop(self) -> None:
        """Kill the server at once (SIGKILL: no goodbye to the clients, like a power cut)."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.communicate(timeout=10)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
