"""The wall's map screen loaded cold: time until every layer is drawn, and the bytes it took.

A console is started as a subprocess with :func:`bench.surge.start_server` (``zhizhi demo`` on a
free loopback port, a fresh data folder, no live cameras, no demo fleet; the 1,024-grid district
by default, the 64-grid one with ``small``; the bench waits for its rendered basemap) and its
district ``duty_officer`` logs in once. Debian's
Chromium (headless, through Playwright, the flags of tests/browser.py) then opens
``/wall?screen=map&wall=bench`` at the wall's size (1920x1080), each time in a fresh browser
context with the cache disabled (CDP ``Network.setCacheDisabled``), logged in as the login page
leaves a tab (the token in sessionStorage).

Two ways, in the same run, alternated load by load:

- ``new``: as shipped — answers gzip-compressed, layers asked by view and zoom (simplified and
  rounded geometry: console/static/map/detail.js, layers/detail.py);
- ``old``: today's before issue 19 — ``Accept-Encoding: identity`` (nothing compressed) and
  ``?layers=whole`` (whole layers at full precision).

Each under two conditions: ``idle``, and ``loaded`` with one busy subprocess per CPU core.

``ms``: from the navigation's start until the screen says it is ready (``body[data-wall-ready]``
becomes "true", the moment of the page's ``zhizhi-wall-ready`` mark: every layer drawn, the
jurisdiction and the routes outlined, the live link started: console/static/wall/map-screen.js),
on the page's own ``performance`` clock. ``kb``: the bytes on the wire (CDP
``Network.loadingFinished`` ``encodedDataLength``, headers included) of every request the page made
until one second after that mark, and the same by part (``kb_layers``: the layers and the fields of
view; ``kb_tiles``: the basemap's PNG tiles; ``kb_static``: the page, scripts and styles;
``kb_api``: the rest of the API). Figures are medians over ``runs`` loads; ``ratio_*`` is old / new.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zhizhi.bench.surge import OFFICER, PASSWORD, start_server

CHROMIUM = Path(os.environ.get("ZHIZHI_CHROMIUM", "/usr/bin/chromium"))
#: As tests/browser.py: headless, and nothing that phones home.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1920, "height": 1080}
PATH = "/wall?screen=map&wall=bench"
#: Notes ``performance.now()`` when the screen says it is ready (``body[data-wall-ready]`` becomes
#: "true": every layer drawn, the jurisdiction and routes outlined, the live link started; the
#: same moment as the page's ``zhizhi-wall-ready`` mark, and readable on a console from before it).
READY_WATCH = """
new MutationObserver((_, watch) => {
  if (document.body && document.body.dataset.wallReady === 'true' && window.__zzReadyAt === undefined) {
    window.__zzReadyAt = performance.now();
    watch.disconnect();
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-wall-ready'] });
"""
READY_TIMEOUT_MS = 120_000
SETTLE_S = 1.0
VARIANTS = ("new", "old")
CONDITIONS = ("idle", "loaded")
KINDS = ("layers", "tiles", "static", "api")


@contextmanager
def busy_cores(n: int | None = None):
    """One subprocess spinning on each of ``n`` cores (all by default) while inside."""
    n = n or os.cpu_count() or 1
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5)
        yield n
    finally:
        for process in spin:
            process.kill()
        for process in spin:
            process.wait(10)


def kind_of(url: str) -> str:
    """Which part of the screen a request served: ``layers`` (the layers' features and the fields of
    view), ``tiles`` (the basemap's raster tiles), ``static`` (the page, scripts, styles) or ``api``."""
    path = urlsplit(url).path
    if (path.startswith("/api/layers/") and path.endswith("/features")) or path == "/api/cameras/fov":
        return "layers"
    if path.startswith("/api/basemap/tiles/"):
        return "tiles"
    return "api" if path.startswith("/api/") else "static"


def load_once(browser, base: str, answer: dict, variant: str) -> dict[str, float]:
    """Open the wall's map screen cold once; ``{"ms", "kb", "kb_<kind>" (:func:`kind_of`), "requests"}``."""
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    try:
        context.add_init_script(
            f"sessionStorage.setItem('zhizhi.token', {json.dumps(answer['token'])});"
            f"sessionStorage.setItem('zhizhi.user', {json.dumps(json.dumps(answer.get('user') or {}))});"
        )
        context.add_init_script(READY_WATCH)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if variant == "old":
            cdp.send("Network.setExtraHTTPHeaders", {"headers": {"Accept-Encoding": "identity"}})
        urls: dict[str, str] = {}
        finished: list[tuple[str, float]] = []  # (request id, encoded bytes)
        cdp.on("Network.requestWillBeSent", lambda e: urls.setdefault(e["requestId"], e["request"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: finished.append((e["requestId"], e["encodedDataLength"])))
        url = base + PATH + ("&layers=whole" if variant == "old" else "")
        page.goto(url, wait_until="commit")
        page.wait_for_function("() => document.body && ['true', 'error'].includes(document.body.dataset.wallReady)",
                               timeout=READY_TIMEOUT_MS, polling=50)
        if page.evaluate("document.body.dataset.wallReady") != "true":
            raise RuntimeError(f"the wall's map screen failed ({variant}): {page.inner_text('body')[:300]}")
        ms = page.evaluate("window.__zzReadyAt")
        page.wait_for_timeout(SETTLE_S * 1000)
        figures = {"ms": float(ms), "kb": sum(n for _, n in finished) / 1000.0, "requests": len(finished)}
        for kind in KINDS:
            figures[f"kb_{kind}"] = sum(n for rid, n in finished if kind_of(urls.get(rid, "")) == kind) / 1000.0
        return figures
    finally:
        context.close()


def _summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {key: round(statistics.median(s[key] for s in samples), 1)
                           for key in ("ms", "kb", *(f"kb_{kind}" for kind in KINDS))}
    out["requests"] = int(statistics.median(s["requests"] for s in samples))
    out["ms_all"] = [round(s["ms"], 1) for s in samples]
    return out


def measure(base: str, runs: int, conditions: tuple[str, ...] = CONDITIONS) -> dict[str, Any]:
    """Both ways under each condition on the console at ``base``; one warm-up load first."""
    from playwright.sync_api import sync_playwright

    answer = login_answer(base)
    result: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                                             chromium_sandbox=False, timeout=60_000)
        try:
            for variant in VARIANTS:  # warm the console (caches, first queries) and the browser
                load_once(browser, base, answer, variant)
            for condition in conditions:
                samples: dict[str, list] = {v: [] for v in VARIANTS}
                with busy_cores() if condition == "loaded" else _nothing():
                    for _ in range(runs):
                        for variant in VARIANTS:
                            samples[variant].append(load_once(browser, base, answer, variant))
                    loadavg = os.getloadavg()[0]
                result[condition] = {v: _summary(s) for v, s in samples.items()}
                result[condition]["loadavg_1m"] = round(loadavg, 2)
        finally:
            browser.close()
    for condition in conditions:
        new, old = result[condition]["new"], result[condition]["old"]
        result[f"ratio_ms_{condition}"] = round(old["ms"] / new["ms"], 2) if new["ms"] else None
        result[f"ratio_kb_{condition}"] = round(old["kb"] / new["kb"], 2) if new["kb"] else None
    return result


@contextmanager
def _nothing():
    yield None


def login_answer(base: str) -> dict:
    """The duty officer's login answer (token and user), as the login page keeps it."""
    import httpx

    r = httpx.post(base + "/api/auth/login", json={"username": OFFICER, "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return r.json()


def wait_for_basemap(base: str, token: str, timeout_s: float = 300.0) -> bool:
    """Wait until the console serves its rendered demo basemap (drawn in the background after
    start-up), so that every load draws it; False when none came in ``timeout_s``."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = httpx.get(base + "/api/basemap", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if r.status_code == 200 and r.json().get("basemap"):
            return True
        time.sleep(1.0)
    return False


def run_map_bench(runs: int = 3, *, small: bool = False, conditions: tuple[str, ...] = CONDITIONS) -> dict:
    """Start a demo console, measure the wall's map screen both ways (see the module's docstring)."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1; got {runs}")
    with tempfile.TemporaryDirectory(prefix="zhizhi-map-bench-") as folder:
        server = start_server(Path(folder), small)
        try:
            basemap = wait_for_basemap(server.url, login_answer(server.url)["token"])
            started = time.perf_counter()
            result = {"runs": runs, "district_grids": 64 if small else 1024, "cpus": os.cpu_count(),
                      "basemap": basemap, **measure(server.url, runs, conditions)}
            result["bench_s"] = round(time.perf_counter() - started, 1)
            return result
        finally:
            server.stop()
