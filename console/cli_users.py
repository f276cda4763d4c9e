"""``zhizhi users``: add, list and change the password of the console's users; and the demo
console's users.

A password is read from standard input when it is piped (``echo "$PW" | zhizhi users add
...``, the first line) or with ``--password-stdin``; on a terminal it is asked twice, hidden.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.settings import Settings

users_app = typer.Typer(help="Users: add, list, change a password.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="Data folder (default: settings / ./var).")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    # Managing users needs the district's hierarchy, not the warning model.
    settings.warning = settings.warning.model_copy(update={"enabled": False})
    return settings


def read_password(from_stdin: bool, username: str, settings: Settings) -> str:
    """The new password: piped stdin's first line, or asked twice on the terminal."""
    from zhizhi.console.auth.passwords import Passwords, WeakPassword

    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"New password for {username}: ")
        if getpass.getpass("Repeat it: ") != password:
            _fail("the two passwords differ")
    try:
        Passwords(settings.auth.min_password_length).check(password, username)
    except WeakPassword as exc:
        _fail(str(exc))
    return password


def _open(settings: Settings):
    from zhizhi.console.state import open_console

    try:
        return open_console(settings)
    except (ValueError, OSError) as exc:
        _fail(str(exc))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (a-z, 0-9, '.', '_', '-').")],
    role: Annotated[
        str, typer.Option(help="admin, duty_officer, town_operator, analyst or emergency.")
    ],
    jurisdiction: Annotated[str, typer.Option(help="District, town or village code.")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Add a user (password from piped stdin, or asked twice)."""
    from zhizhi.console.auth import AuthError

    settings = _settings(data_dir)
    state = _open(settings)
    try:
        try:  # name, role and jurisdiction first: no password asked for a user that cannot be
            username, _ = state.auth.check_user(name, role, jurisdiction)
        except AuthError as exc:
            _fail(str(exc))
        if state.auth.get_user(username) is not None:
            _fail(f"user {username!r} exists already")
        password = read_password(password_stdin, username, settings)
        try:
            info = state.auth.add_user(username, role, jurisdiction, password)
        except AuthError as exc:
            _fail(str(exc))
        typer.echo(info.model_dump_json())
    finally:
        state.close()


@users_app.command("list")
def users_list(data_dir: DataDir = None) -> None:
    """List the users (one JSON object per line)."""
    state = _open(_settings(data_dir))
    try:
        for info in state.auth.list_users():
            typer.echo(info.model_dump_json())
    finally:
        state.close()


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
) -> None:
    """Change a user's password (its sessions end)."""
    settings = _settings(data_dir)
    state = _open(settings)
    try:
        user = state.auth.get_user(name)
        if user is None:
            _fail(f"no user {name.strip().lower()!r}")
        state.auth.set_password(user.name, read_password(password_stdin, user.name, settings))
        typer.echo(f"password of {user.name} changed; its sessions were ended")
    finally:
        state.close()


def announce_demo_users(state) -> None:
    """Create the demo console's users (``console.auth.demo``) and say how to log in."""
    from zhizhi.console.auth.demo import DISTRICT_USER, ensure_demo_users

    secret = state.settings.demo_password
    try:
        result = ensure_demo_users(state.auth, secret.get_secret_value() if secret else None)
    except ValueError as exc:
        _fail(str(exc))
    towns = [n for n in result.names if n != DISTRICT_USER]
    typer.echo(
        f"demo users: {DISTRICT_USER} (the whole district) and {len(towns)} town operators "
        f"({towns[0] if towns else '-'} ... {towns[-1] if towns else '-'})"
    )
    if result.generated_password is not None:
        line = "=" * 72
        typer.echo(
            f"{line}\n  demo password (shown once; set ZHIZHI_DEMO_PASSWORD to choose it): "
            f"{result.generated_password}\n{line}"
        )
    elif secret is not None:
        typer.echo("demo users' password: ZHIZHI_DEMO_PASSWORD")
    else:
        typer.echo(
            "demo users' password: unchanged (set ZHIZHI_DEMO_PASSWORD, or zhizhi users passwd NAME)"
        )
