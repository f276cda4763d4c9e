"""The holes an outside probe found (issue 13), closed, on a small console of its own (real
SQLite, FastAPI TestClient, a settable clock): logins a stranger cannot lock and a guesser
cannot rush, client addresses only from trusted proxies, hostile bodies answered with a 4xx,
weak passwords refused, security headers on every page, backtests only at district level."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from tests.auth_support import (
    PASSWORD,
    bearer,
    create_test_users,
    fake_auth_clock,
    login,
    small_console_settings,
)
from zhizhi.console.app import create_app
from zhizhi.console.auth.demo import ensure_demo_users
from zhizhi.console.auth.passwords import Passwords, WeakPassword
from zhizhi.console.settings import AuthSettings
from zhizhi.models.warning.record import WarningEvent

_addresses = (f"10.7.{i // 250}.{i % 250 + 1}" for i in itertools.count())
_tracks = itertools.count(1)
PROXY = "10.250.0.2"


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A small console whose logins trust one reverse proxy, with an admin and two analysts."""
    settings = small_console_settings(
        tmp_path_factory.mktemp("hardening"), auth=AuthSettings(trusted_proxies=[PROXY, "10.251.0.0/24"])
    )
    app = create_app(settings)
    with TestClient(app) as client:
        state = app.state.console
        users = create_test_users(state)
        for name, role, code in [("admin-h", "admin", users.district_code),
                                 ("analyst-h", "analyst", users.district_code),
                                 ("analyst-town-h", "analyst", users.town_a)]:
            state.auth.add_user(name, role, code, PASSWORD)
        yield client, state, users


@pytest.fixture
def clock(console):
    """The console's auth service on a settable clock (back on the real one afterwards)."""
    _, state, _ = console
    yield from fake_auth_clock(state)


@pytest.fixture(scope="module")
def headers_of(console):
    client, _, _ = console
    cache: dict[str, dict[str, str]] = {}

    def headers(name: str) -> dict[str, str]:
        if name not in cache:
            cache[name] = bearer(login(from_address(client), name))
        return cache[name]

    return headers


def from_address(client, address: str | None = None) -> TestClient:
    """A client of the same app connecting from ``address`` (a fresh one by default)."""
    return TestClient(client.app, client=(address or next(_addresses), 40000))


def _login(client, username: str, password: str, **headers: str):
    return client.post("/api/auth/login", json={"username": username, "password": password}, headers=headers)


# --- finding 7: logins --------------------------------------------------------------------


def test_a_strangers_failures_do_not_lock_the_user_out_but_slow_the_stranger(console, clock):
    client, state, users = console
    limits = state.settings.auth
    stranger = from_address(client)
    for _ in range(limits.max_failures):
        assert _login(stranger, users.district, "guess-Pass-1").status_code == 401
    # The duty officer, at another desk, logs in with the right password at once ...
    assert _login(from_address(client), users.district, PASSWORD).status_code == 200
    # ... while the stranger waits, even with the right password, and each failure doubles it.
    slowed = _login(stranger, users.district, PASSWORD)
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "1"
    waits = []
    for _ in range(4):
        clock.advance(int(_login(stranger, users.district, "x").headers["Retry-After"]))
        assert _login(stranger, users.district, "guess-Pass-2").status_code == 401
        waits.append(int(_login(stranger, users.district, PASSWORD).headers["Retry-After"]))
    assert waits == [2, 4, 8, 16]
    for _ in range(12):  # capped
        clock.advance(limits.max_backoff_s)
        assert _login(stranger, users.district, "guess-Pass-3").status_code == 401
    assert int(_login(stranger, users.district, PASSWORD).headers["Retry-After"]) == limits.max_backoff_s
    assert _login(from_address(client), users.district, PASSWORD).status_code == 200
    clock.advance(limits.max_backoff_s)
    assert _login(stranger, users.district, PASSWORD).status_code == 200  # its right password, in time


def test_a_distributed_guesser_gets_one_try_per_address_and_the_user_still_logs_in(console, clock):
    client, state, users = console
    limits = state.settings.auth
    for _ in range(limits.max_failures_per_user):
        assert _login(from_address(client), users.operator_b, "spray-Pass-1").status_code == 401
    assert state.auth.login_guard.under_attack(users.operator_b)
    fresh = from_address(client)
    assert _login(fresh, users.operator_b, "spray-Pass-2").status_code == 401
    assert _login(fresh, users.operator_b, "spray-Pass-3").status_code == 429  # one free try now
    assert _login(from_address(client), users.operator_b, PASSWORD).status_code == 200


def test_password_spraying_from_one_address_is_slowed_for_every_name(console, clock):
    client, state, users = console
    sprayer = from_address(client)
    for i in range(state.settings.auth.max_failures_per_address):
        assert _login(sprayer, f"someone-{i}", "Summer-2024").status_code == 401
    assert _login(sprayer, users.operator_a, PASSWORD).status_code == 429
    assert _login(from_address(client), users.operator_a, PASSWORD).status_code == 200
    clock.advance(1)
    assert _login(sprayer, users.operator_a, PASSWORD).status_code == 200


def test_parallel_guesses_cannot_slip_between_the_check_and_the_count(console, clock):
    _, state, users = console
    guard, per_pair = state.auth.login_guard, state.settings.auth.max_failures
    admitted = [guard.admit(users.operator_village_a, "10.9.8.7") for _ in range(per_pair + 3)]
    assert admitted[:per_pair] == [None] * per_pair and all(w is not None for w in admitted[per_pair:])


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(console, clock):
    client, state, users = console
    limits = state.settings.auth
    # A client that is not a proxy names a new address each time: the header is ignored.
    liar = from_address(client, "10.66.0.1")
    for i in range(limits.max_failures):
        assert _login(liar, users.operator_a, "lie-Pass-1", **{"X-Forwarded-For": f"192.0.2.{i}"}).status_code == 401
    assert _login(liar, users.operator_a, PASSWORD, **{"X-Forwarded-For": "192.0.2.200"}).status_code == 429
    # Through the proxy, each client is its own: one's failures do not slow another.
    proxy = from_address(client, PROXY)
    for _ in range(limits.max_failures):
        assert _login(proxy, users.operator_a, "x-Pass-2", **{"X-Forwarded-For": "198.51.100.7"}).status_code == 401
    assert _login(proxy, users.operator_a, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    ok = _login(proxy, users.operator_a, PASSWORD, **{"X-Forwarded-For": "198.51.100.8, 10.251.0.9"})
    assert ok.status_code == 200  # the nearest hop that is not a trusted proxy
    # A forged first hop does not help: the proxy appends the real client on the right.
    forged = _login(proxy, users.operator_a, PASSWORD, **{"X-Forwarded-For": "203.0.113.1, 198.51.100.7"})
    assert forged.status_code == 429
    # The client's own address is what its token records.
    with state.engine.connect() as conn:
        recorded = set(conn.execute(text("select address from auth_tokens where username = :u"),
                                    {"u": users.operator_a}).scalars())
    assert "198.51.100.8" in recorded and PROXY not in recorded


def test_the_console_runs_uvicorn_without_its_own_proxy_headers(monkeypatch, tmp_path):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default: the console resolves the
    client itself (settings.auth.trusted_proxies), so uvicorn must not rewrite it first."""
    import uvicorn

    from zhizhi.console import cli

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    cli._run_server(small_console_settings(tmp_path), None)
    assert seen.get("proxy_headers") is False


# --- finding 8: hostile bodies ------------------------------------------------------------


def _alert_in(state, town: str):
    grid = next(g for g in state.jurisdictions.grid_codes if g.startswith(town))
    lon, lat = state.jurisdictions.get(grid).anchor
    now = time.time()
    track = next(_tracks)  # a rule instance of its own: one rule at one place would be one alert
    return state.alerts.ingest(WarningEvent(
        rule="abnormal_stop", rule_id=f"hard-stop-{track}", severity="yellow", camera_id=f"CAM-HARD-{track}",
        track_id=track, cls="hazmat_tanker", lon=lon, lat=lat, first_ts=now - 30, last_ts=now,
    ))


def _post_json(client, path: str, body: bytes, headers: dict[str, str]):
    return client.post(path, content=body, headers=headers | {"Content-Type": "application/json"})


def test_deeply_nested_bodies_are_refused_with_a_4xx(console, headers_of):
    client, _, users = console
    deep = b"[" * 100_000 + b"]" * 100_000
    for path, who in (("/api/telemetry", "admin-h"), ("/api/events", users.district),
                      ("/api/incidents", users.district), ("/api/auth/login", users.district)):
        for body in (deep, b'{"a": ' + deep + b"}"):
            answer = _post_json(client, path, body, headers_of(who))
            assert answer.status_code == 422, (path, answer.status_code)
            assert answer.json()["detail"][0]["type"] == "json_too_deep"
    for path, fields in (("/api/layers", {"name": "deep-layer"}), ("/api/hazmat/vehicles/import", {})):
        for body in (deep, b"[" * 900 + b"]" * 900):  # files: their parsers refuse, whatever the depth
            upload = client.post(
                path, files={"file": ("deep.geojson", body)}, data=fields, headers=headers_of("admin-h")
            )
            assert upload.status_code == 422, (path, upload.status_code, upload.text[:200])
    from zhizhi.telemetry.dji import parse_osd
    from zhizhi.telemetry.errors import TelemetryError
    from zhizhi.telemetry.mqtt import _vehicle_items

    for parse in (_vehicle_items, lambda payload: parse_osd("thing/product/DOCK1/osd", payload)):
        with pytest.raises(TelemetryError, match="not JSON"):  # MQTT: the same refusal as bad JSON
            parse(deep)
    shallow = _post_json(client, "/api/telemetry", b"[" * 60 + b"]" * 60, headers_of("admin-h"))
    assert shallow.status_code != 500 and "json_too_deep" not in shallow.text
    huge = _post_json(client, "/api/telemetry", b'[{"ts": ' + b"9" * 5000 + b"}]", headers_of("admin-h"))
    assert huge.status_code == 422 and huge.json()["detail"][0]["type"] == "number_too_long"


@pytest.mark.parametrize("raw", [False, True], ids=["escaped", "raw-utf8"])
def test_lone_surrogates_in_text_are_refused_naming_the_field(console, headers_of, raw):
    client, state, users = console
    heads = headers_of(users.district)

    def body(data: dict) -> bytes:
        text = json.dumps(data)
        return text.replace("\\ud800", "\ud800").encode("utf-8", "surrogatepass") if raw else text.encode()

    alert = _alert_in(state, users.town_a)
    lon, lat = alert.lon, alert.lat
    cases = [
        ("/api/events", {"category": "road_damage", "text": "路面\ud800", "lon": lon, "lat": lat,
                         "reporter": "王五", "channel": "hotline"}, ["body", "text"]),
        ("/api/incidents", {"type": "fire", "title": "\ud800火", "area": {"point": [lon, lat], "radius_m": 300}},
         ["body", "title"]),
        (f"/api/alerts/{alert.id}/transition", {"to": "acknowledged", "note": "\ud800"}, ["body", "note"]),
        ("/api/events", {"category": "\ud800", "text": "x", "lon": lon, "lat": lat}, ["body", "category"]),
        ("/api/incidents", {"type": "fire", "title": "ok", "area": {"point": [lon, lat], "radius_m": 300},
                            "\ud800": 1}, ["body", "\\ud800"]),
    ]
    for path, data, loc in cases:
        answer = _post_json(client, path, body(data), heads)
        assert answer.status_code == 422, (path, answer.status_code, answer.text)
        error = answer.json()["detail"][0]
        assert error["type"] == "string_unicode" and error["loc"] == loc, error
    assert state.alerts.get(alert.id).status == "new"
    # A paired surrogate (an emoji written as JSON escapes) is fine.
    note = _post_json(client, f"/api/alerts/{alert.id}/transition",
                      json.dumps({"to": "acknowledged", "note": "已到场 🚒"}).encode(), heads)
    assert note.status_code == 200, note.text


def test_a_refusal_that_echoes_undecodable_input_is_still_a_422(console, headers_of):
    client, _, users = console
    answer = client.post("/api/events", content=b"\xff\xfe not json", headers=headers_of(users.district)
                         | {"Content-Type": "text/plain"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]


# --- finding 9: passwords, headers, backtests ---------------------------------------------


@pytest.mark.parametrize("password, reason", [
    ("password", "too common"), ("12345678", "sequence"), ("Password2024!", "too common"),
    ("qwertyuiop", "sequence"), ("abcdabcd", "repeats"), ("zhizhi123", "too common"),
])
def test_weak_passwords_are_refused_by_the_api(console, headers_of, password, reason):
    client, state, users = console
    new = {"username": "weak-new", "role": "analyst", "jurisdiction": users.town_a, "password": password}
    refused = client.post("/api/users", json=new, headers=headers_of("admin-h"))
    assert refused.status_code == 422 and reason in refused.json()["detail"], refused.text
    assert state.auth.get_user("weak-new") is None


def test_weak_passwords_are_refused_by_zhizhi_users_add(tmp_path):
    from tests.console.test_auth_cli import zhizhi

    data = tmp_path / "var"
    for password, reason in (("password\n", "too common"), ("12345678\n", "sequence")):
        refused = zhizhi(data, "users", "add", "wang", "--role", "analyst", "--jurisdiction", "320612", stdin=password)
        assert refused.returncode == 2 and reason in refused.stderr, refused.stderr
    added = zhizhi(data, "users", "add", "wang", "--role", "analyst", "--jurisdiction", "320612",
                   stdin="Duty-analyst-Pass-7\n")
    assert added.returncode == 0, added.stderr


def test_the_demo_password_must_pass_the_policy(console):
    _, state, _ = console
    with pytest.raises(ValueError, match="ZHIZHI_DEMO_PASSWORD is refused: the password is too common"):
        ensure_demo_users(state.auth, "password")
    with pytest.raises(WeakPassword, match="sequence"):
        Passwords().check("87654321")


def test_every_page_and_answer_carries_the_security_headers(console, headers_of):
    client, state, users = console
    heads = headers_of(users.district)
    lon, lat = state.jurisdictions.get(next(g for g in state.jurisdictions.grid_codes
                                            if g.startswith(users.town_a))).anchor
    opened = client.post("/api/incidents", headers=heads,
                         json={"type": "fire", "title": "Headers", "area": {"point": [lon, lat], "radius_m": 300}})
    assert opened.status_code == 201, opened.text
    anonymous = TestClient(client.app)
    answers = {
        "/": anonymous.get("/"), "/wall": anonymous.get("/wall"), "/login": anonymous.get("/login"),
        "/analyst": anonymous.get("/analyst"), "/static/map/main.js": anonymous.get("/static/map/main.js"),
        "report.html": client.get(f"/api/incidents/{opened.json()['id']}/report.html", headers=heads),
        "/api/auth/me": client.get("/api/auth/me", headers=heads),
        "401": anonymous.get("/api/alerts"),
        "422": _post_json(client, "/api/events", b"[" * 100 + b"]" * 100, heads),
    }
    for name, answer in answers.items():
        assert answer.status_code < 500, name
        csp = answer.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp, name
        assert "object-src 'none'" in csp and "http" not in csp, name  # no other origin
        assert answer.headers.get("X-Frame-Options") == "DENY", name
        assert answer.headers.get("X-Content-Type-Options") == "nosniff", name


def test_the_basemap_origin_is_the_only_other_source(tmp_path):
    from zhizhi.console.middleware import content_security_policy
    from zhizhi.console.settings import MapSettings

    settings = small_console_settings(tmp_path, map=MapSettings(tile_url="http://{s}.tiles.center.lan/{z}/{x}/{y}.png"))
    with TestClient(create_app(settings)) as client:
        csp = client.get("/login").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: http://*.tiles.center.lan;" in csp
    assert content_security_policy("javascript:alert(1)") == content_security_policy(None)
    assert content_security_policy("http://evil; script-src *") == content_security_policy(None)


def test_only_district_level_users_start_backtests(console, headers_of):
    client, _, _ = console
    request = {"model": {"name": "none", "version": 1}, "dataset": "no-such-dataset"}
    town = client.post("/api/backtests", json=request, headers=headers_of("analyst-town-h"))
    assert town.status_code == 403 and "only district-level users" in town.json()["detail"]
    district = client.post("/api/backtests", json=request, headers=headers_of("analyst-h"))
    assert district.status_code == 404  # allowed: the dataset is what is missing
    assert client.get("/api/backtests", headers=headers_of("analyst-town-h")).status_code == 200  # results: read


@pytest.mark.browser
def test_the_pages_run_under_their_policy_in_a_browser(tmp_path):
    """Every page, the situation report too, loads and works in Chromium with no CSP violation
    (Playwright waits with functions: a bare expression would be eval'd, which the CSP forbids)."""
    from tests.browser import chromium_missing_reason, launch_chromium, log_in, serve

    reason = chromium_missing_reason()
    if reason:  # never skip: the set-up (make test) installs Chromium
        pytest.fail(reason)
    import httpx
    from playwright.sync_api import sync_playwright

    app = create_app(small_console_settings(tmp_path))
    with serve(app) as base, sync_playwright() as playwright:
        users = create_test_users(app.state.console)
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context()
            heads = bearer(log_in(context, base, users.district)["token"])
            j = app.state.console.jurisdictions
            lon, lat = j.get(next(g for g in j.grid_codes if g.startswith(users.town_a))).anchor
            incident = httpx.post(f"{base}/api/incidents", headers=heads, trust_env=False, json={
                "type": "fire", "title": "CSP", "area": {"point": [lon, lat], "radius_m": 500}}).json()
            context.add_init_script(
                "window.zzViolations = []; document.addEventListener('securitypolicyviolation', "
                "e => window.zzViolations.push(`${e.violatedDirective} ${e.blockedURI}`));")
            wall_ready = "() => document.body.dataset.wallReady === 'true'"
            pages = [("/login", None), ("/", "() => document.body.dataset.ready === 'true'"), ("/wall", None),
                     ("/wall?screen=map&wall=csp", wall_ready), ("/wall?screen=video&wall=csp", wall_ready),
                     ("/wall?screen=alerts&wall=csp", wall_ready),
                     ("/analyst", "() => document.body.dataset.ready === 'true'")]
            for path, ready in pages:
                page = context.new_page()
                page.goto(base + path, wait_until="load")
                if ready:
                    page.wait_for_function(ready, timeout=60_000)
                assert page.evaluate("window.zzViolations") == [], path
                page.close()
            context.set_extra_http_headers(heads)
            page = context.new_page()
            page.goto(f"{base}/api/incidents/{incident['id']}/report.html", wait_until="load")
            page.wait_for_function("() => document.querySelectorAll('.leaflet-interactive').length > 0",
                                   timeout=30_000)
            assert page.evaluate("window.zzViolations") == [], "report.html"
        finally:
            browser.close()
