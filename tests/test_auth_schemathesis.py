"""Property-based requests from the app's own OpenAPI schema (Schemathesis): no operation
answers a 5xx, whatever it is sent. The caller is a real logged-in district admin of a small
console of its own; a few examples per operation, each under a deadline, all derandomized."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from console.app import create_app
from tests.auth_support import PASSWORD, bearer, create_test_users, login, small_console_settings

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

EXAMPLES = 6
# Would end the fuzzer's own session (it is tested in tests/test_auth.py).
SKIPPED = {("POST", "/api/auth/logout")}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, module_database_url):
    settings = small_console_settings(tmp_path_factory.mktemp("schemathesis"), database_url=module_database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        users = create_test_users(app.state.console)
        app.state.console.auth.add_user("fuzz-admin", "admin", users.district_code, PASSWORD)
        yield app, bearer(login(client, "fuzz-admin"))


@pytest.mark.timeout(300)
def test_no_operation_answers_a_server_error(fuzzed):
    app, headers = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=timedelta(seconds=10),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported at the end
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 240
