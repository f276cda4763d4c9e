"""Users, logins and tokens on a console of its own (real SQLite, FastAPI TestClient, a settable
clock): the login contract, rate limits, expiry, logout, restarts, roles, and that no /api route
answers without a token."""

from __future__ import annotations

import itertools
import re
import statistics
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.auth_support import (
    PASSWORD,
    api_routes,
    bearer,
    create_test_users,
    fake_auth_clock,
    login,
    small_console_settings,
)
from zhizhi.console.app import create_app
from zhizhi.console.auth import Principal, Role
from zhizhi.console.auth.roles import PERMISSIONS, Permission
from zhizhi.console.state import open_console
from zhizhi.models.warning.record import WarningEvent

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

_tracks = itertools.count(1)
_addresses = (f"10.1.0.{i}" for i in itertools.count(1))


@pytest.fixture(scope="module")
def console(tmp_path_factory, module_database_url):
    """A small console with the test users plus an admin, an analyst and an emergency team."""
    settings = small_console_settings(tmp_path_factory.mktemp("auth-console"), database_url=module_database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        state = app.state.console
        users = create_test_users(state)
        for name, role in [("admin-d", "admin"), ("analyst-d", "analyst"), ("emergency-d", "emergency")]:
            state.auth.add_user(name, role, users.district_code, PASSWORD)
        yield client, state, users


@pytest.fixture
def clock(console):
    """The console's auth service on a settable clock (back on the real one afterwards)."""
    _, state, _ = console
    yield from fake_auth_clock(state)


def from_address(client, address: str | None = None) -> TestClient:
    """A client of the same app that connects from another address (its own failure count)."""
    return TestClient(client.app, client=(address or next(_addresses), 40000))


def _post_login(client, username, password):
    return client.post("/api/auth/login", json={"username": username, "password": password})


# --- logging in ---------------------------------------------------------------------------


def test_login_answers_a_token_its_expiry_and_the_user(console):
    client, state, users = console
    before = time.time()
    response = _post_login(client, users.operator_a, PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["token"]) >= 40 and body["token_type"] == "bearer"
    assert body["user"] == {
        "name": users.operator_a, "role": "town_operator", "jurisdiction": users.town_a,
        "created_at": body["user"]["created_at"],
    }
    from datetime import datetime

    expires = datetime.fromisoformat(body["expires_at"]).timestamp()
    assert abs(expires - (before + state.settings.auth.token_ttl_s)) < 60
    me = client.get("/api/auth/me", headers=bearer(body["token"])).json()
    assert me["user"]["name"] == users.operator_a and me["level"] == "town"
    assert set(me["permissions"]) == {p.value for p in PERMISSIONS[Role.TOWN_OPERATOR]}
    config = client.get("/api/config", headers=bearer(body["token"])).json()
    assert config["scope"]["code"] == users.town_a
    assert _post_login(client, users.operator_a.upper(), PASSWORD).status_code == 200  # case-insensitive


def test_wrong_password_and_unknown_user_get_the_same_answer_in_comparable_time(console):
    client, _, users = console
    known, unknown = [], []
    answers = set()
    for _ in range(3):
        for name, times in ((users.operator_village_a, known), ("nobody-here", unknown)):
            c = from_address(client)
            start = time.perf_counter()
            response = _post_login(c, name, "wrong-password-1")
            times.append(time.perf_counter() - start)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
            answers.add(response.text)
    assert answers == {'{"detail":"invalid username or password"}'}
    # An unknown user's password is verified against a dummy hash: both cost one Argon2 check.
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)
    assert _post_login(from_address(client), "x" * 64, "p").status_code == 401  # valid shape, no user
    assert _post_login(client, "", PASSWORD).status_code == 422


def test_too_many_failures_for_a_name_from_an_address_is_429_for_a_backoff(console, clock):
    client, state, users = console
    guesser = from_address(client)
    for _ in range(state.settings.auth.max_failures):
        assert _post_login(guesser, users.operator_b, "not-the-password").status_code == 401
    limited = _post_login(guesser, users.operator_b, PASSWORD)  # even the right one
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) == state.settings.auth.backoff_s
    assert "too many failed logins" in limited.json()["detail"]
    # Another address logs in as that name (a stranger cannot lock a user out), and as others.
    assert _post_login(from_address(client), users.operator_b, PASSWORD).status_code == 200
    assert _post_login(guesser, users.operator_a, PASSWORD).status_code == 200
    clock.advance(state.settings.auth.backoff_s)
    assert _post_login(guesser, users.operator_b, PASSWORD).status_code == 200


def test_too_many_failures_from_an_address_is_429_for_every_name(console, clock):
    client, state, users = console
    attacker = from_address(client, "10.9.9.9")
    for i in range(state.settings.auth.max_failures_per_address):
        assert _post_login(attacker, f"guess-{i}", "password-guess").status_code == 401
    limited = _post_login(attacker, users.operator_a, PASSWORD)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert _post_login(from_address(client), users.operator_a, PASSWORD).status_code == 200
    clock.advance(state.settings.auth.failure_window_s + 1)
    assert _post_login(attacker, users.operator_a, PASSWORD).status_code == 200


# --- tokens -------------------------------------------------------------------------------


def test_a_token_expires(console, clock):
    client, state, users = console
    token = login(client, users.operator_a)
    left, step = state.settings.auth.token_ttl_s - 5, state.settings.auth.idle_timeout_s - 60
    while left > 0:  # used within every idle timeout: it lasts its whole life, not longer
        clock.advance(min(step, left))
        left -= step
        assert client.get("/api/layers", headers=bearer(token)).status_code == 200
    clock.advance(10)
    expired = client.get("/api/layers", headers=bearer(token))
    assert expired.status_code == 401 and expired.headers["WWW-Authenticate"] == "Bearer"
    assert "expired" in expired.json()["detail"]
    assert state.auth.authenticate(token) is None


def test_logout_revokes_that_token_only(console):
    client, _, users = console
    first, second = login(client, users.operator_a), login(client, users.operator_a)
    assert client.post("/api/auth/logout", headers=bearer(first)).status_code == 204
    assert client.get("/api/layers", headers=bearer(first)).status_code == 401
    assert client.post("/api/auth/logout", headers=bearer(first)).status_code == 401
    assert client.get("/api/layers", headers=bearer(second)).status_code == 200
    assert client.post("/api/auth/logout").status_code == 401


def test_a_password_change_ends_the_users_sessions(console):
    client, state, _ = console
    state.auth.add_user("changer", "analyst", state.jurisdictions.district_code, PASSWORD)
    token = login(client, "changer")
    state.auth.set_password("changer", "An0ther-secret")
    assert state.auth.authenticate(token) is None
    assert _post_login(client, "changer", PASSWORD).status_code == 401
    assert login(client, "changer", "An0ther-secret")


def test_tokens_survive_a_restart_and_only_digests_are_stored(tmp_path_factory):
    settings = small_console_settings(tmp_path_factory.mktemp("auth-restart"))
    state = open_console(settings)
    try:
        state.auth.add_user("night-shift", "duty_officer", state.jurisdictions.district_code, PASSWORD)
        token = state.auth.login("night-shift", PASSWORD, "127.0.0.1").token
        revoked = state.auth.login("night-shift", PASSWORD, "127.0.0.1").token
        state.auth.logout(revoked)
    finally:
        state.close()
    state = open_console(settings)  # a console restart: the same database
    try:
        principal = state.auth.authenticate(token)
        assert principal == Principal(username="night-shift", role=Role.DUTY_OFFICER, code="320612")
        assert state.auth.authenticate(revoked) is None
        with state.engine.connect() as conn:
            stored_hash = conn.execute(text("select password_hash from users where username = 'night-shift'")).scalar()
            tokens = conn.execute(text("select token_hash from auth_tokens")).scalars().all()
        assert stored_hash.startswith("$argon2id$") and PASSWORD not in stored_hash
        assert token not in tokens and len(tokens) == 1 and re.fullmatch(r"[0-9a-f]{64}", tokens[0])
        with pytest.raises(Exception, match="frozen"):
            principal.code = "320612001"
    finally:
        state.close()


# --- no token, no API ----------------------------------------------------------------------


#: The /api routes open without a token: logging in, and an unpaired wall screen drawing its
#: pairing code and collecting its credential with the code's secret claim (console/api/wall.py).
PUBLIC_API = {"/api/auth/login", "/api/wall/pairings", "/api/wall/pairings/claim"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_api_route_but_login_needs_a_token(console):
    client, _, _ = console
    anonymous = TestClient(client.app)
    routes = api_routes(client.app)
    assert ("GET", "/api/alerts") in routes and ("POST", "/api/layers") in routes and len(routes) >= 18
    for method, path in routes:
        if path in PUBLIC_API:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
            response = anonymous.request(method, _concrete(path), headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    for public in ("/healthz", "/", "/login", "/static/login.js", "/static/login.css"):
        assert anonymous.get(public).status_code == 200, public


def test_a_self_declared_jurisdiction_is_ignored(console, logins_of):
    client, _, users = console
    town = logins_of(users.operator_a)
    as_district = {"X-Zhizhi-Jurisdiction": users.district_code}
    assert client.get("/api/config", headers=town | as_district).json()["scope"]["code"] == users.town_a
    as_town = {"X-Zhizhi-Jurisdiction": users.town_b}
    district = logins_of(users.district)
    assert client.get("/api/config", headers=district | as_town).json()["scope"]["code"] == users.district_code


@pytest.fixture(scope="module")
def logins_of(console):
    client, _, _ = console
    cache: dict[str, dict[str, str]] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in cache:
            cache[name] = bearer(login(client, name))
        return cache[name]

    return headers


# --- roles ----------------------------------------------------------------------------------


def _alert_in(state, town: str):
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    track = next(_tracks)  # a rule instance of its own: one rule at one place would be one alert
    return state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id=f"auth-stop-{track}", severity="yellow", camera_id=f"CAM-AUTH-{track}",
        track_id=track, cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now - 30, last_ts=now,
    ))


@pytest.mark.parametrize(
    "user, acts",
    [
        ("admin-d", True),
        ("duty-district", True),
        ("emergency-d", True),
        ("operator-a", True),
        ("analyst-d", False),
    ],
)
def test_who_may_act_on_alerts_and_report_events(console, logins_of, user, acts):
    client, state, users = console
    headers = logins_of(user)
    alert = _alert_in(state, users.town_a)
    assert client.get(f"/api/alerts/{alert.id}", headers=headers).status_code == 200  # everyone reads
    moved = client.post(f"/api/alerts/{alert.id}/transition", json={"to": "acknowledged"}, headers=headers)
    lon, lat = alert.lon, alert.lat
    event = {"category": "road_damage", "text": "路面塌陷", "lon": lon, "lat": lat, "reporter": "王五",
             "channel": "hotline"}
    reported = client.post("/api/events", json=event, headers=headers)
    if acts:
        assert moved.status_code == 200 and moved.json()["status"] == "acknowledged"
        history = client.get(f"/api/alerts/{alert.id}", headers=headers).json()["history"]
        assert history[-1]["actor"] == user
        assert reported.status_code == 201, reported.text
    else:
        assert moved.status_code == 403
        assert moved.json()["detail"] == (
            "role analyst may not transition, escalate or hand down alerts (needs permission alerts.act)"
        )
        for suffix, body in (("escalate", {}), ("hand_down", {"unit": alert.grid})):
            assert client.post(f"/api/alerts/{alert.id}/{suffix}", json=body, headers=headers).status_code == 403
        assert client.post("/api/alerts/zzzzzzzzzzzz/transition", json={"to": "acknowledged"},
                           headers=headers).status_code == 403  # the role, before the alert
        assert reported.status_code == 403 and "may not report events" in reported.json()["detail"]
        assert state.alerts.get(alert.id).status == "new"


def test_only_admins_manage_users_and_only_inside_their_jurisdiction(console, logins_of):
    client, state, users = console
    new = {"username": "new-analyst", "role": "analyst", "jurisdiction": users.town_a, "password": "Fresh-pass-42"}
    for user in ("duty-district", "emergency-d", "analyst-d", "operator-a"):
        refused = client.post("/api/users", json=new, headers=logins_of(user))
        assert refused.status_code == 403 and "may not manage users" in refused.json()["detail"]
        assert client.get("/api/users", headers=logins_of(user)).status_code == 403
    admin = logins_of("admin-d")
    created = client.post("/api/users", json=new, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "new-analyst" and created.json()["jurisdiction"] == users.town_a
    assert client.post("/api/users", json=new, headers=admin).status_code == 409
    weak = client.post("/api/users", json=new | {"username": "weak-one", "password": "aaaaaaaa"}, headers=admin)
    assert weak.status_code == 422 and "too few different characters" in weak.json()["detail"]
    unknown = client.post("/api/users", json=new | {"username": "lost-one", "jurisdiction": "320612999"}, headers=admin)
    assert unknown.status_code == 422 and "unknown jurisdiction" in unknown.json()["detail"]
    assert (
        client.post("/api/users", json=new | {"username": "odd-one", "role": "chief"}, headers=admin).status_code == 422
    )
    names = {u["name"] for u in client.get("/api/users", headers=admin).json()}
    assert {"new-analyst", users.operator_a, users.operator_b, "admin-d"} <= names
    # A town's admin sees and creates users of its own town only.
    state.auth.add_user("admin-a", "admin", users.town_a, PASSWORD)
    town_admin = logins_of("admin-a")
    listed = client.get("/api/users", headers=town_admin).json()
    assert listed and all(u["jurisdiction"].startswith(users.town_a) for u in listed)
    outside = client.post(
        "/api/users", json=new | {"username": "spy", "jurisdiction": users.town_b}, headers=town_admin
    )
    assert outside.status_code == 403 and "not within yours" in outside.json()["detail"]
    above = client.post("/api/users", json=new | {"username": "boss", "jurisdiction": users.district_code},
                        headers=town_admin)
    assert above.status_code == 403


def test_who_may_be_which_user(console):
    _, state, users = console
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(users.town_a))
    cases = [
        (("ab", "analyst", grid), "not to a grid"),
        (("district-op", "town_operator", users.district_code), "belongs to a town or village"),
        (("Bad Name", "analyst", users.town_a), "invalid user name"),
        (("x", "analyst", users.town_a), "invalid user name"),
        (("fine-name", "superuser", users.town_a), "unknown role 'superuser'"),
        (("fine-name", "analyst", "330100"), "unknown jurisdiction '330100'"),
    ]
    for (name, role, code), fragment in cases:
        with pytest.raises(ValueError, match=fragment):
            state.auth.add_user(name, role, code, PASSWORD)
    for password, fragment in [("", "empty"), ("Sh0rt!", "shorter than 8"), ("fine-name-1", "contains the user name")]:
        with pytest.raises(ValueError, match=fragment):
            state.auth.add_user("fine-name", "analyst", users.town_a, password)
    assert state.auth.get_user("fine-name") is None


def test_the_permission_table():
    assert [r for r in Role if Permission.READ not in PERMISSIONS[r]] == [Role.GATEWAY]
    assert PERMISSIONS[Role.WALL_DEVICE] == {Permission.READ}  # a paired screen reads, nothing else
    assert [r for r in Role if Permission.WALLS_MANAGE in PERMISSIONS[r]] == [Role.ADMIN]
    assert [r for r in Role if Permission.TELEMETRY_INGEST in PERMISSIONS[r]] == [Role.ADMIN, Role.GATEWAY]
    assert [r for r in Role if Permission.USERS_MANAGE in PERMISSIONS[r]] == [Role.ADMIN]
    assert [r for r in Role if Permission.MODELS_MANAGE in PERMISSIONS[r]] == [Role.ADMIN, Role.ANALYST]
    assert [r for r in Role if Permission.ALERTS_ACT not in PERMISSIONS[r]] == [
        Role.ANALYST, Role.GATEWAY, Role.WALL_DEVICE]
    assert PERMISSIONS[Role.EMERGENCY] == PERMISSIONS[Role.DUTY_OFFICER]
