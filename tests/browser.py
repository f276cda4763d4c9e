"""Helpers for the browser tests: Debian's Chromium driven by Playwright, and a real server.

Playwright's own browser download does not work on the closed network, so the tests launch
the system Chromium (``scripts/install_chromium.sh`` installs it) through ``executable_path``.
Every launch gets a fresh, temporary user data directory (Playwright creates one per
``launch()`` and deletes it on close), so no profile, cache or cookie carries over.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path(os.environ.get("ZHIZHI_CHROMIUM", "/usr/bin/chromium"))

# Headless, and nothing that phones home: no component updates, sync, background fetches or
# QUIC, so that every request the page makes is one the test can see and check.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def chromium_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found: run scripts/install_chromium.sh (or make setup)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing: pip install -e '.[dev]'"
    return None


def launch_chromium(playwright, **kwargs):
    """Launch the system Chromium headless with a fresh user data dir; returns a Browser."""
    options = {
        "executable_path": str(CHROMIUM),
        "headless": True,
        "args": list(CHROMIUM_ARGS),
        "chromium_sandbox": False,
        "timeout": 60_000,
    }
    options.update(kwargs)
    return playwright.chromium.launch(**options)


def is_loopback(url: str) -> bool:
    """True for URLs that stay on this machine (loopback hosts, data: and blob: URLs)."""
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS


def free_socket(host: str = "127.0.0.1") -> socket.socket:
    """A listening-ready socket bound to a free port (no race between choosing and binding)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def serve(app, *, host: str = "127.0.0.1", startup_timeout: float = 180.0,
          log_level: str = "warning") -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread on a free loopback port; yield its URL.

    Waits until ``/healthz`` answers (the app's start-up may generate the demo district).
    ``log_level="info"`` writes uvicorn's access log (as ``zhizhi serve`` does).
    """
    import uvicorn

    sock = free_socket(host)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app=app, host=host, port=port, log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting test
            errors.append(exc)

    thread = threading.Thread(target=run, name="zhizhi-test-server", daemon=True)
    thread.start()
    base = f"http://{host}:{port}"
    deadline = time.monotonic() + startup_timeout
    try:
        while True:
            if errors or not thread.is_alive():
                raise RuntimeError(f"test server stopped during start-up: {errors[:1]!r}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"test server not healthy within {startup_timeout:.0f} s")
            time.sleep(0.2)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
