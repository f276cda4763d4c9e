"""Property-based requests from the app's own OpenAPI schema (Schemathesis): no operation
answers a 5xx, whatever it is sent — the schema's own cases, and the same cases made hostile
(lone surrogates and NUL in text, huge and non-finite numbers, deep nesting, raw bytes). The
caller is a real logged-in district admin of a small console of its own; a few examples per
operation, each under a deadline, all derandomized."""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.auth_support import PASSWORD, bearer, create_test_users, login, small_console_settings
from zhizhi.console.app import create_app

#: This module's console runs on SQLite and on PostgreSQL/PostGIS (tests/conftest.py).
CONSOLE_BACKENDS = ("sqlite", "postgresql")

EXAMPLES = 6
HOSTILE_EXAMPLES = 10
# Would end the fuzzer's own session (it is tested in tests/console/test_auth.py).
SKIPPED = {("POST", "/api/auth/logout")}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, module_database_url):
    settings = small_console_settings(tmp_path_factory.mktemp("schemathesis"), database_url=module_database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        users = create_test_users(app.state.console)
        app.state.console.auth.add_user("fuzz-admin", "admin", users.district_code, PASSWORD)
        yield app, bearer(login(client, "fuzz-admin"))


# --- hostile values -----------------------------------------------------------------------

#: Text any client can send (in a URL, a form or JSON).
HOSTILE_TEXT = [
    "\x00", "nul\x00inside", "\u202e\ufeff\u200b", "𝕳𝖊𝖑𝖑𝖔 😀", "' OR '1'='1' --", "../../../../etc/passwd",
    "%00%ff%fe", "A" * 5000, "<script>alert(1)</script>", "9" * 500, "-1e309", "NaN", "", " ",
]
#: Text only JSON can carry: lone UTF-16 surrogates.
SURROGATES = ["\ud800", "a\udfffb", "\udbff\ud7ff", "\udc00"]
HUGE_NUMBERS: list[Any] = [10**30, -(2**63) - 1, 2**64, 1e308, -1e308, 5e-324, float("inf"), float("-inf"),
                           float("nan"), 10**400]
MODES = ("text", "surrogates", "numbers", "deep", "raw")


def _deep(levels: int) -> Any:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


def _hostile(value: Any, mode: str, rng: random.Random) -> Any:
    """``value`` with its leaves (and sometimes keys) swapped for hostile ones."""
    if isinstance(value, dict):
        out = {k: _hostile(v, mode, rng) for k, v in value.items()}
        if mode == "surrogates" and rng.random() < 0.3:
            out[rng.choice(SURROGATES)] = 1
        return out
    if isinstance(value, list):
        return [_hostile(v, mode, rng) for v in value] or ([_deep(200)] if mode == "deep" else [])
    if isinstance(value, bool) or value is None:
        return _deep(200) if mode == "deep" and rng.random() < 0.5 else value
    if isinstance(value, str):
        pool = SURROGATES if mode == "surrogates" else HOSTILE_TEXT
        return rng.choice(pool) if rng.random() < 0.7 else value + rng.choice(pool)
    if isinstance(value, int | float):
        return rng.choice(HUGE_NUMBERS) if mode in ("numbers", "text") else value
    return value


def _make_hostile(case, mode: str, seed: int) -> None:
    """Make ``case`` hostile in place: its JSON body, query and path values."""
    rng = random.Random(seed)
    encodable = "text" if mode == "surrogates" else mode  # a URL or a form cannot carry surrogates
    for part in (case.query, case.path_parameters):
        for key, value in list((part or {}).items()):
            part[key] = _hostile(value, encodable if encodable != "deep" else "text", rng)
    if case.media_type and "json" in case.media_type:
        if mode == "raw":
            case.body = rng.choice([b"[" * 100_000 + b"]" * 100_000, b'{"a":"\xed\xa0\x80"}', b"\xff\xfe",
                                    b'{"n": ' + b"9" * 5000 + b"}", b"[1e999, -Infinity, NaN]", b""])
        else:
            body = _hostile(case.body, mode, rng)
            text = json.dumps(body, ensure_ascii=rng.random() < 0.5)  # NaN, Infinity: Python's JSON reads them
            case.body = text.encode("utf-8", "surrogatepass")
    elif isinstance(case.body, dict) and mode in ("text", "numbers"):  # a form: its text fields
        for key, value in list(case.body.items()):
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                case.body[key] = _hostile(value, mode, rng)


def _fuzz(app, headers, examples: int, hostile: bool) -> tuple[int, list[str]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        operations += 1
        strategy = (st.tuples(operation.as_strategy(), st.sampled_from(MODES), st.integers(0, 2**32))
                    if hostile else st.tuples(operation.as_strategy(), st.none(), st.none()))

        @given(drawn=strategy)
        @settings(
            max_examples=examples,
            deadline=timedelta(seconds=10),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(drawn) -> None:
            case, mode, seed = drawn
            if mode is not None:
                _make_hostile(case, mode, seed)
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - every operation's failure is reported at the end
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return operations, failures


@pytest.mark.timeout(300)
@pytest.mark.parametrize("hostile", [False, True], ids=["examples", "hostile"])
def test_no_operation_answers_a_server_error(fuzzed, hostile):
    """Every operation's cases — and again with hostile text, numbers and nesting: a 4xx,
    never a 5xx."""
    app, headers = fuzzed
    started = time.monotonic()
    operations, failures = _fuzz(app, headers, HOSTILE_EXAMPLES if hostile else EXAMPLES, hostile=hostile)
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 240
