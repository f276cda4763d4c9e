"""Shared fixtures: the demo district (synthetic and real Tongzhou), a console on real SQLite
with real users (tests/auth_support.py); an alert service on a SQLite file with a fake clock and
an in-process bus (the alert, evidence and warning-runner tests)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.db_support import db_url  # noqa: F401
from tests.redis_support import redis_server  # noqa: F401

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
NANTONG = SHARED / "data" / "gis" / "nantong_320600.geojson"

@pytest.fixture(autouse=True)
def _console_logging_undone():
    """A command run in-process (``zhizhi worker`` through a CLI runner) configures the root logger
    as a real start does (console/observability/logs.py): undone after the test, so the next
    tests' output holds no log lines."""
    from zhizhi.console.observability.logs import CONFIGURED_HANDLER

    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.get_name() == CONFIGURED_HANDLER]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def clock():
    """A fake clock at T0 (tests/alerts_support.py); tests move it with ``advance``."""
    from tests.alerts_support import FakeClock

    return FakeClock()


@pytest.fixture
def bus():
    """An in-process bus, stopped after the test."""
    from zhizhi.bus import InProcessBus

    bus = InProcessBus()
    yield bus
    bus.stop()


@pytest.fixture
def service(tmp_path, clock, bus):
    """An alert service over the small real district, on a SQLite file, publishing on ``bus``."""
    from tests.alerts_support import open_service

    return open_service(tmp_path / "alerts.db", clock, bus=bus)


@pytest.fixture(scope="module")  # closed with the module: a live sync Playwright holds an event loop
def browser():
    """Debian's Chromium, headless, driven by Playwright (the one launch for every browser test)."""
    from tests.browser import chromium_missing_reason, launch_chromium

    reason = chromium_missing_reason()
    if reason:  # never skip: the set-up (make test) installs Chromium
        pytest.fail(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


# Keep third-party tools from writing into the home folder or reaching the network.
os.environ.setdefault("YOLO_CONFIG_DIR", "/tmp/zhizhi-test-ultralytics")
# The many consoles the tests start render no basemap from their layers (about 10 s each); the
# tests of that rendering ask for it (Settings(demo_basemap=True)). Child processes inherit this.
os.environ.setdefault("ZHIZHI_DEMO_BASEMAP", "false")


@pytest.fixture(scope="session")
def district():
    from zhizhi.gis.district import generate_district

    return generate_district()


@pytest.fixture(scope="session")
def jurisdictions(district):
    from zhizhi.gis.jurisdiction import Jurisdictions

    return Jurisdictions.from_district(district)


@pytest.fixture(scope="session")
def tongzhou():
    from zhizhi.gis.boundary import load_boundary
    from zhizhi.gis.district import SYNTHETIC_COUNTS, DistrictSpec, generate_district

    assert NANTONG.is_file(), f"shared test data missing: {NANTONG}"
    # Tongzhou's published counts (1,024 grids, 14 towns), not those scaled with its area (1,211)
    spec = DistrictSpec(**SYNTHETIC_COUNTS)
    return generate_district(spec, boundary=load_boundary(NANTONG, "320612", "gcj02"))


@pytest.fixture(scope="session")
def console_backend(request) -> str:
    """The session console's storage: SQLite, unless the module sets ``CONSOLE_BACKENDS``
    (``("sqlite", "postgresql")``: its tests of the console run once on each; the same for a
    module's own console built with ``module_database_url``)."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="module")
def module_backend(request) -> str:
    """The storage of a module's own console: SQLite, unless the module sets ``CONSOLE_BACKENDS``."""
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="module")
def module_database_url(module_backend, tmp_path_factory):
    """``database_url`` for a module's own console: None (SQLite in its data folder) or a fresh
    PostgreSQL/PostGIS database, dropped after the module."""
    if module_backend == "postgresql":
        from tests.db_support import postgres_database

        with postgres_database() as url:
            yield url
    else:
        yield None


def pytest_generate_tests(metafunc):
    backends = getattr(metafunc.module, "CONSOLE_BACKENDS", None)
    if not backends:
        return
    if "console_backend" in metafunc.fixturenames:
        metafunc.parametrize("console_backend", backends, indirect=True, scope="session")
    if "module_backend" in metafunc.fixturenames:
        metafunc.parametrize("module_backend", backends, indirect=True, scope="module")


@pytest.fixture(scope="session")
def console_settings(tmp_path_factory, console_backend):
    from zhizhi.console.settings import DemoSettings, Settings

    folder = tmp_path_factory.mktemp(f"console-data-{console_backend}")
    if console_backend == "postgresql":
        from tests.db_support import postgres_database

        with postgres_database() as url:
            yield Settings(data_dir=folder, database_url=url, demo=DemoSettings(seed=7))
    else:
        yield Settings(data_dir=folder, demo=DemoSettings(seed=7))


@pytest.fixture(scope="session")
def console_state(console_settings):
    from zhizhi.console.runtime import Runtime

    with Runtime(console_settings) as runtime:
        yield runtime.state


@pytest.fixture(scope="session")
def test_users(console_state):
    """A district duty officer and the operators of two towns and a village (tests/auth_support.py)."""
    from tests.auth_support import create_test_users

    return create_test_users(console_state)


@pytest.fixture(scope="session")
def client(console_settings, console_state, test_users):
    """The session console's API, logged in as the district duty officer."""
    from fastapi.testclient import TestClient

    from tests.auth_support import bearer, login
    from zhizhi.console.app import create_app

    with TestClient(create_app(console_settings, state=console_state)) as test_client:
        test_client.headers.update(bearer(login(test_client, test_users.district)))
        yield test_client


@pytest.fixture(scope="session")
def logins(client):
    """``logins[username]``: that test user's Authorization header (logged in once)."""
    from tests.auth_support import Logins

    return Logins(client)
