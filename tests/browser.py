"""Helpers for the browser tests: Debian's Chromium driven by Playwright, a real server, and the
one way a test logs a browser in.

Playwright's own browser download does not work on the closed network, so the tests launch
the system Chromium (``scripts/install_chromium.sh`` installs it) through ``executable_path``.
Every launch gets a fresh, temporary user data directory (Playwright creates one per
``launch()`` and deletes it on close), so no profile, cache or cookie carries over.

Logging in: :func:`log_in` logs a user in on the live console and leaves the session in every
new tab of a browser context exactly as the login page does (console/static/lib/session.js:
``zhizhi.token`` and ``zhizhi.user`` in the tab's sessionStorage, before any script runs);
:func:`log_in_with_form` drives the login page itself, for the tests of that page.
"""

from __future__ import annotations

import json
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

from tests.auth_support import PASSWORD

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


def free_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening-ready socket bound to a free port (no race between choosing and binding), or
    to ``port`` (a console restarted where it was)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


@contextmanager
def serve(app, *, host: str = "127.0.0.1", startup_timeout: float = 180.0,
          log_level: str = "warning", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a background thread on a free loopback port (or ``port``);
    yield its URL.

    Waits until ``/healthz`` answers (the app's start-up may generate the demo district).
    ``log_level="info"`` writes uvicorn's access log (as ``zhizhi serve`` does).
    """
    import uvicorn

    sock = free_socket(host, port)
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


# --------------------------------------------------------------------------------- logging in


def login_answer(base: str, username: str, password: str = PASSWORD) -> dict:
    """``POST /api/auth/login`` on the live console at ``base``: ``{"token", "user", ...}``."""
    import httpx

    response = httpx.post(f"{base}/api/auth/login", json={"username": username, "password": password},
                          trust_env=False, timeout=30)
    response.raise_for_status()
    return response.json()


def install_session(context, token: str, user: dict) -> None:
    """Put a login's token and user into every new tab of ``context``, as the login page leaves
    them (a tab's sessionStorage is its own: a context's init script reaches every tab)."""
    context.add_init_script(
        f"sessionStorage.setItem('zhizhi.token', {json.dumps(token)});"
        f"sessionStorage.setItem('zhizhi.user', {json.dumps(json.dumps(user))});"
    )


def log_in(context, base: str, username: str, password: str = PASSWORD) -> dict:
    """Log ``username`` in on the console at ``base`` for every new tab of the browser context
    ``context``; the login's answer (``token``, ``user``)."""
    answer = login_answer(base, username, password)
    install_session(context, answer["token"], answer.get("user") or {})
    return answer


def log_in_with_form(page, username: str, password: str = PASSWORD) -> None:
    """Fill in and send the login page open in ``page``."""
    page.fill("#zz-username", username)
    page.fill("#zz-password", password)
    page.click("#zz-login-submit")


#: The wall's screen size, and how long a page may take to say it is ready (data-ready="true").
WALL_VIEWPORT = {"width": 1920, "height": 1080}
READY_MS = 60_000


class WatchedPage:
    """A logged-in page with every request it made and every script error it logged."""

    def __init__(self, page, requests: list[str], problems: list[str]) -> None:
        self.page, self.requests, self.problems = page, requests, problems

    def __iter__(self):  # page, requests, problems = open_page(...)
        return iter((self.page, self.requests, self.problems))


def open_page(browser, base: str, username: str, path: str, *, expected_errors: tuple[str, ...] = (),
              viewport: dict | None = None, wait_ready: bool = True) -> WatchedPage:
    """Open ``path`` of the console at ``base`` in a new context of ``browser``, logged in as
    ``username`` (zh-CN, Asia/Shanghai, the wall's screen size); page errors and console errors
    are collected, except console lines containing one of ``expected_errors`` (the browser's own
    line for a 4xx a test provokes on purpose). Waits for ``document.body.dataset.ready``."""
    context = browser.new_context(viewport=viewport or WALL_VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    log_in(context, base, username)
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not any(e in m.text for e in expected_errors) else None)
    page.goto(base + path, wait_until="domcontentloaded")
    if wait_ready:
        page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=READY_MS)
    return WatchedPage(page, requests, problems)


def only_own_host(base: str, requests: list[str]) -> list[str]:
    """The requests that left the console's host (blob: and data: URLs stay in the page)."""
    host = urlsplit(base).netloc
    return [u for u in requests if urlsplit(u).scheme not in ("blob", "data") and urlsplit(u).netloc != host]


def open_camera_detail(browser, base: str, username: str, camera: str, *,
                       expected_errors: tuple[str, ...] = ()) -> WatchedPage:
    """The cameras page with ``camera``'s detail panel open and loaded (see :func:`open_page`)."""
    watched = open_page(browser, base, username, "/cameras", expected_errors=expected_errors)
    watched.page.click(f'#zc-rows tr[data-id="{camera}"] td.zc-name')
    watched.page.wait_for_function(
        f"() => {{ const d = document.getElementById('zc-detail');"
        f" return d.dataset.camera === '{camera}' && d.dataset.state === 'ready'; }}")
    return watched


@contextmanager
def small_console(data_dir: Path, admin: str, weights: Path | None = None) -> Iterator[tuple[str, object]]:
    """A console on loopback over a small demo district (24 grids, 4 simulated cameras) whose own
    worker runs the motion detector (cheap), with ``admin`` a district admin: (base URL, state).
    ``weights``: the configured YOLO weights (what an adaptation starts from), default the shipped."""
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime
    from zhizhi.console.settings import DemoSettings, DetectorSettings, Settings

    demo = DemoSettings(seed=11, grids=24, towns=3, villages_per_town=2, cameras=4)
    detector = DetectorSettings(kind="motion", **({"weights": weights} if weights is not None else {}))
    settings = Settings(data_dir=data_dir, demo=demo, detector=detector)
    with Runtime(settings) as runtime:
        state = runtime.state
        state.auth.add_user(admin, "admin", state.jurisdictions.district_code, PASSWORD)
        with serve(create_app(settings, state=state)) as base:
            yield base, state


def save_screenshot(page, path: Path) -> None:
    """The page as a PNG of at most 128 colours: the wall's flat colours survive and the file
    stays small enough for docs/screenshots."""
    from PIL import Image

    page.screenshot(path=str(path))
    Image.open(path).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT,
                                             dither=Image.Dither.NONE).save(path, optimize=True)
