"""The login page and the map page's token handling, in Debian's Chromium against a real console
on loopback (a small district of its own): no token -> the login page; a wrong password -> a
message; the right one -> the map of the user's own jurisdiction, every API call with the
bearer token; a revoked token -> back to the login page; logging out ends the session."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from tests.auth_support import PASSWORD, create_test_users, small_console_settings
from tests.browser import (
    is_loopback,
    log_in_with_form,
    serve,
)

pytestmark = pytest.mark.browser
READY_TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from zhizhi.console.app import create_app

    app = create_app(small_console_settings(tmp_path_factory.mktemp("login-site")))
    with serve(app) as base:
        yield base, app.state.console, create_test_users(app.state.console)



@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 850}, locale="zh-CN")
    page = context.new_page()
    page.seen = []  # (url, authorization header) of every request
    page.errors = []
    context.on("request", lambda r: page.seen.append((r.url, r.headers.get("authorization"))))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def test_no_token_leads_to_the_login_page_and_back_to_the_map(page, site):
    base, state, users = site
    page.goto(f"{base}/", wait_until="domcontentloaded")
    page.wait_for_url("**/login?next=%2F")
    assert page.locator("#zz-username").is_visible()
    assert not [u for u, _ in page.seen if urlsplit(u).path.startswith("/api/")]  # nothing asked without a token

    log_in_with_form(page, users.operator_a, "wrong-password-1")
    error = page.locator("#zz-login-error")
    error.wait_for(state="visible")
    assert "用户名或密码错误" in error.inner_text() and "Invalid username or password" in error.inner_text()
    assert urlsplit(page.url).path == "/login"

    log_in_with_form(page, users.operator_a, PASSWORD)
    page.wait_for_url(f"{base}/")
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=READY_TIMEOUT_MS)
    town = state.jurisdictions.get(users.town_a)
    assert town.name in page.locator("#zz-scope-name").inner_text()
    assert page.locator("#zz-user-name").inner_text() == users.operator_a
    drawn = page.evaluate("zhizhi.layers.grids.getLayers().map(l => l.feature.properties.code)")
    assert drawn and all(code.startswith(users.town_a) for code in drawn)
    token = page.evaluate("sessionStorage.getItem('zhizhi.token')")
    assert state.auth.authenticate(token).username == users.operator_a
    api_calls = [(u, auth) for u, auth in page.seen if urlsplit(u).path.startswith("/api/") and "login" not in u]
    assert api_calls and all(auth == f"Bearer {token}" for _, auth in api_calls)
    assert all(is_loopback(u) for u, _ in page.seen)
    assert not page.errors


def test_a_revoked_token_returns_to_the_login_page(page, site):
    base, state, users = site
    page.goto(f"{base}/login?next=%2F", wait_until="domcontentloaded")
    log_in_with_form(page, users.operator_b, PASSWORD)
    page.wait_for_url(f"{base}/")
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=READY_TIMEOUT_MS)
    token = page.evaluate("sessionStorage.getItem('zhizhi.token')")
    state.auth.logout(token)  # e.g. an administrator ended the session
    with page.expect_navigation(url="**/login?next=%2F"):
        # a click's calls, fired without waiting: the page navigates away before they settle
        page.evaluate("() => { zhizhi.inspect(...zhizhi.config.scope.center).catch(() => null); }")
    assert page.evaluate("sessionStorage.getItem('zhizhi.token')") is None


def test_logging_out_ends_the_session(page, site):
    base, state, users = site
    page.goto(f"{base}/login", wait_until="domcontentloaded")
    log_in_with_form(page, users.district, PASSWORD)
    page.wait_for_url(f"{base}/")
    page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=READY_TIMEOUT_MS)
    token = page.evaluate("sessionStorage.getItem('zhizhi.token')")
    with page.expect_navigation(url="**/login?next=%2F"):
        page.click("#zz-logout")
    assert state.auth.authenticate(token) is None
    assert (
        httpx.get(f"{base}/api/layers", headers={"Authorization": f"Bearer {token}"}, trust_env=False).status_code
        == 401
    )


def test_next_never_leaves_the_console(page, site):
    base, _, users = site
    page.goto(f"{base}/login?next=//example.org/x", wait_until="domcontentloaded")
    log_in_with_form(page, users.district, PASSWORD)
    page.wait_for_url(f"{base}/")
    assert all(is_loopback(u) for u, _ in page.seen)
