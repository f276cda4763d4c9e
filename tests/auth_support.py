"""Real users in a test console's database, and their bearer tokens.

:func:`create_test_users` adds (once; it is idempotent) a district duty officer, the
operators of the district's first two towns and of the first village of the first town;
:class:`Logins` logs in through the API and caches each user's ``Authorization`` header.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

PASSWORD = "Zhizhi-test-pass-7"

DISTRICT_USER = "duty-district"
TOWN_A_USER = "operator-a"
TOWN_B_USER = "operator-b"
VILLAGE_A_USER = "operator-village-a"


@dataclass(frozen=True)
class TestUsers:
    """The test users' names and jurisdiction codes."""

    __test__ = False  # not a pytest test class

    district_code: str
    town_a: str
    town_b: str
    village_a: str
    district: str = DISTRICT_USER
    operator_a: str = TOWN_A_USER
    operator_b: str = TOWN_B_USER
    operator_village_a: str = VILLAGE_A_USER


def create_test_users(state) -> TestUsers:
    """Add the four test users to ``state``'s database unless they are there already."""
    j = state.jurisdictions
    town_a, town_b = (t.code for t in j.children(j.district_code)[:2])
    village_a = next(g for g in j.grid_codes if g.startswith(town_a))[:12]
    users = TestUsers(district_code=j.district_code, town_a=town_a, town_b=town_b, village_a=village_a)
    for name, role, code in [
        (users.district, "duty_officer", j.district_code),
        (users.operator_a, "town_operator", town_a),
        (users.operator_b, "town_operator", town_b),
        (users.operator_village_a, "town_operator", village_a),
    ]:
        if state.auth.get_user(name) is None:
            state.auth.add_user(name, role, code, PASSWORD)
    return users


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of a token."""
    return {"Authorization": f"Bearer {token}"}


def login(client, username: str, password: str = PASSWORD) -> str:
    """Log in through ``POST /api/auth/login``; the token."""
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["token"]


class Logins:
    """``logins[name]``: the ``Authorization`` header of ``name``, logged in once."""

    def __init__(self, client, password: str = PASSWORD) -> None:
        self.client = client
        self.password = password
        self._headers: dict[str, dict[str, str]] = {}

    def __getitem__(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            self._headers[username] = bearer(login(self.client, username, self.password))
        return self._headers[username]


def fake_auth_clock(state):
    """Put ``state``'s auth service on a :class:`FakeClock` at the real now (a generator for a
    fixture: yields the clock, then back on the real clock); the login guard forgets its counts
    both ways (none from the fake future stays)."""
    fake = FakeClock(time.time())
    state.auth.clock = fake
    state.auth.login_guard.clear()
    yield fake
    state.auth.clock = time.time
    state.auth.login_guard.clear()


class FakeClock:
    """A settable clock for the auth service (``state.auth.clock = clock``)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def small_console_settings(data_dir, **changes):
    """Settings of a small console of its own (64 grids, 3 towns, no cameras, no deadline
    watch, no warning model) for tests that must not disturb the session's console."""
    from zhizhi.console.settings import AlertSettings, DemoSettings, Settings, WarningSettings

    return Settings(
        data_dir=data_dir,
        demo=DemoSettings(seed=7, grids=64, towns=3, villages_per_town=2, cameras=0),
        alerts=AlertSettings(check_interval_s=0),
        warning=WarningSettings(enabled=False),
        **changes,
    )


def http_routes(app) -> list[tuple[str, str]]:
    """Every HTTP ``(method, path)`` of ``app``, routers included however FastAPI nests them
    (``app.routes`` holds included routers as branches in newer FastAPI versions)."""
    from starlette.routing import Route

    found: list[tuple[str, str]] = []

    def walk(routes, prefix: str) -> None:
        for route in routes:
            nested = getattr(route, "original_router", None)
            if nested is not None:
                walk(nested.routes, prefix + route.include_context.prefix)
            elif isinstance(route, Route):
                found.extend((method, prefix + route.path) for method in route.methods or ())

    walk(app.routes, "")
    return sorted(set(found) - {("HEAD", path) for _, path in found})


def api_routes(app) -> list[tuple[str, str]]:
    """The ``(method, path)`` of every route under ``/api``."""
    return [(m, p) for m, p in http_routes(app) if p.startswith("/api/") or p == "/api"]


@contextmanager
def console_with_admin(settings, admin: str):
    """The console app of ``settings`` on a running :class:`~console.runtime.Runtime`, with the
    test users and an admin named ``admin``; yields ``(app, state, users)``."""
    from zhizhi.console.app import create_app
    from zhizhi.console.runtime import Runtime

    with Runtime(settings) as runtime:
        state = runtime.state
        users = create_test_users(state)
        if state.auth.get_user(admin) is None:
            state.auth.add_user(admin, "admin", users.district_code, PASSWORD)
        yield create_app(settings, state=state), state, users


@contextmanager
def admin_console(data_dir: Path, admin: str):
    """A console of its own (SQLite, demo district, motion detector) on a TestClient, with an
    admin named ``admin`` besides the test users; yields the state, the client, the users and the
    bearer headers of the admin, the district's duty officer (``duty``) and towns A and B."""
    from fastapi.testclient import TestClient

    from zhizhi.console.settings import DemoSettings, DetectorSettings, Settings

    settings = Settings(data_dir=data_dir, demo=DemoSettings(seed=7), detector=DetectorSettings(kind="motion"))
    with console_with_admin(settings, admin) as (app, state, users), TestClient(app) as client:
        heads = {name: bearer(login(client, name)) for name in (
            admin, users.district, users.operator_a, users.operator_b)}
        yield SimpleNamespace(state=state, client=client, users=users, admin=heads[admin],
                              duty=heads[users.district], a=heads[users.operator_a], b=heads[users.operator_b])
