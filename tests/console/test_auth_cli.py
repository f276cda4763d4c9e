"""``zhizhi users`` and the demo console's users, through the real command line (subprocesses
with piped stdin, a small demo district in a folder of their own)."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.auth_support import small_console_settings
from tests.browser import free_socket
from zhizhi.console.auth.demo import ensure_demo_users
from zhizhi.console.state import open_console

ZHIZHI = Path(sys.executable).with_name("zhizhi")
SMALL_DEMO = {
    "ZHIZHI_DEMO__SEED": "7",
    "ZHIZHI_DEMO__GRIDS": "64",
    "ZHIZHI_DEMO__TOWNS": "3",
    "ZHIZHI_DEMO__VILLAGES_PER_TOWN": "2",
    "ZHIZHI_DEMO__CAMERAS": "0",
    "ZHIZHI_ALERTS__CHECK_INTERVAL_S": "0",
}


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIZHI_")}
    return env | SMALL_DEMO | {"ZHIZHI_DATA_DIR": str(data_dir)} | extra


def zhizhi(data_dir: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ZHIZHI), *args], check=False, input=stdin, capture_output=True, text=True, timeout=300,
        env=cli_env(data_dir, **env), cwd=data_dir.parent,
    )


def test_users_add_list_passwd_from_piped_stdin(tmp_path):
    data = tmp_path / "var"
    added = zhizhi(data, "users", "add", "Li.Ming", "--role", "duty_officer", "--jurisdiction", "320612",
                   stdin="Duty-pass-2024\n")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) | {"created_at": None} == {
        "name": "li.ming", "role": "duty_officer", "jurisdiction": "320612", "created_at": None,
    }
    settings = small_console_settings(data)
    state = open_console(settings)
    try:
        towns = [t.code for t in state.jurisdictions.children("320612")]
    finally:
        state.close()
    flagged = zhizhi(data, "users", "add", "town-op", "--role", "town_operator", "--jurisdiction", towns[0],
                     "--password-stdin", stdin="Town-pass-2024")
    assert flagged.returncode == 0, flagged.stderr

    refusals = [
        (["li.ming", "--role", "analyst", "--jurisdiction", "320612"], "Other-pass-1\n", "exists already"),
        (["wang", "--role", "chief", "--jurisdiction", "320612"], "Other-pass-1\n", "unknown role 'chief'"),
        (["wang", "--role", "analyst", "--jurisdiction", "320612999"], "Other-pass-1\n", "unknown jurisdiction"),
        (["wang", "--role", "analyst", "--jurisdiction", "32061"], "Other-pass-1\n", "unknown jurisdiction"),
        (["wang", "--role", "town_operator", "--jurisdiction", "320612"], "Other-pass-1\n", "town or village"),
        (["wang", "--role", "analyst", "--jurisdiction", "320612"], "\n", "the password is empty"),
        (["wang", "--role", "analyst", "--jurisdiction", "320612"], "", "the password is empty"),
        (["wang", "--role", "analyst", "--jurisdiction", "320612"], "abc12\n", "shorter than 8"),
        (["wang", "--role", "analyst", "--jurisdiction", "320612"], "wang-wang-wang\n", "contains the user name"),
        (["bad name", "--role", "analyst", "--jurisdiction", "320612"], "Other-pass-1\n", "invalid user name"),
    ]
    for args, password, fragment in refusals:
        refused = zhizhi(data, "users", "add", *args, stdin=password)
        assert refused.returncode == 2 and fragment in refused.stderr, (args, refused.stderr)

    listed = zhizhi(data, "users", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["role"], r["jurisdiction"]) for r in rows] == [
        ("li.ming", "duty_officer", "320612"), ("town-op", "town_operator", towns[0]),
    ]
    assert "password" not in listed.stdout and "argon2" not in listed.stdout

    state = open_console(settings)
    try:
        token = state.auth.login("li.ming", "Duty-pass-2024").token
    finally:
        state.close()
    changed = zhizhi(data, "users", "passwd", "li.ming", stdin="New-duty-pass-9\n")
    assert changed.returncode == 0 and "sessions were ended" in changed.stdout, changed.stderr
    assert (
        zhizhi(data, "users", "passwd", "nobody", stdin="New-duty-pass-9\n").stderr.strip() == "error: no user 'nobody'"
    )
    assert "shorter than 8" in zhizhi(data, "users", "passwd", "li.ming", stdin="short\n").stderr
    state = open_console(settings)
    try:
        assert state.auth.authenticate(token) is None  # the old session ended
        assert state.auth.login("li.ming", "New-duty-pass-9").user.name == "li.ming"
    finally:
        state.close()


def test_demo_users_are_made_once_and_follow_the_demo_password(tmp_path):
    settings = small_console_settings(tmp_path / "var")
    state = open_console(settings)
    try:
        towns = [t.code for t in state.jurisdictions.children("320612")]
        first = ensure_demo_users(state.auth, None)
        assert first.created == ["district", *(f"town-{t}" for t in towns)]
        generated = first.generated_password
        assert generated and len(generated) >= 12
        principal = state.auth.authenticate(state.auth.login(f"town-{towns[1]}", generated).token)
        assert (principal.role, principal.code) == ("town_operator", towns[1])
        assert state.auth.authenticate(state.auth.login("district", generated).token).code == "320612"
        again = ensure_demo_users(state.auth, None)  # a restart without ZHIZHI_DEMO_PASSWORD
        assert again.created == again.password_updated == [] and again.generated_password is None
        chosen = ensure_demo_users(state.auth, "Chosen-demo-pass")
        assert chosen.created == [] and chosen.password_updated == first.created
        assert ensure_demo_users(state.auth, "Chosen-demo-pass").password_updated == []
        assert state.auth.login("district", "Chosen-demo-pass")
        assert len(state.auth.list_users()) == 1 + len(towns)
    finally:
        state.close()


def _demo_args(port: int) -> list[str]:
    from zhizhi.console.cli import demo

    args = ["demo", "--port", str(port), "--no-open"]
    if "cameras" in inspect.signature(demo).parameters:
        args += ["--cameras", "0"]  # no simulated live video for this test
    return args


def _run_demo(data_dir: Path, log: Path, **env: str) -> tuple[subprocess.Popen, str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    with log.open("w") as out:
        proc = subprocess.Popen([str(ZHIZHI), *_demo_args(port)], stdout=out, stderr=subprocess.STDOUT,
                                text=True, env=cli_env(data_dir, **env), cwd=data_dir.parent)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/healthz", timeout=2, trust_env=False).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _login(base: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{base}/api/auth/login", json={"username": username, "password": password}, trust_env=False)


@pytest.mark.timeout(600)
def test_zhizhi_demo_creates_its_users_and_prints_a_generated_password_once(tmp_path):
    data = tmp_path / "var"
    log = tmp_path / "demo.log"
    proc, base = _run_demo(data, log)
    try:
        output = log.read_text()
        match = re.search(r"demo password \(shown once[^)]*\): (\S+)", output)
        assert match, output
        password = match.group(1)
        token = _login(base, "district", password).json()["token"]
        me = httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {token}"}, trust_env=False).json()
        assert me["user"] == {"name": "district", "role": "duty_officer", "jurisdiction": "320612", "created_at": None}
        towns = [h["code"] for h in httpx.get(f"{base}/api/search", params={"q": "320612"},
                                              headers={"Authorization": f"Bearer {token}"}, trust_env=False).json()
                 if h["level"] == "town"]
        assert len(towns) == 3
        town = _login(base, f"town-{towns[0]}", password)
        assert town.status_code == 200 and town.json()["user"]["jurisdiction"] == towns[0]
    finally:
        _stop(proc)

    proc, base = _run_demo(data, log, ZHIZHI_DEMO_PASSWORD="Changed-demo-pass")
    try:
        output = log.read_text()
        assert "shown once" not in output and "ZHIZHI_DEMO_PASSWORD" in output
        assert _login(base, f"town-{towns[2]}", "Changed-demo-pass").status_code == 200
        assert _login(base, "district", password).status_code == 401
    finally:
        _stop(proc)
    listed = zhizhi(data, "users", "list")
    assert sorted(json.loads(line)["name"] for line in listed.stdout.splitlines()) == sorted(
        ["district", *(f"town-{t}" for t in towns)]
    )
