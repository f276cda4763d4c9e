"""``zhizhi models``: list, show, diff, add, promote and roll back model versions.

The commands work on the console's database directly (:class:`models.versions.store.ModelStore`);
the author of a change is ``--author`` or the OS user. A console running in another process
notices a promotion or rollback made here within ``MODEL_POLL_S`` seconds and swaps its
runners to it (:func:`console.state.watch_models`); the API (``/api/models``) does it at once.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from zhizhi.console.cli_common import fail as _fail
from zhizhi.console.settings import Settings

models_app = typer.Typer(help="Model versions: list, show, diff, add, promote, roll back.", no_args_is_help=True)

DataDir = Annotated[Path | None, typer.Option(help="Data folder (default: settings / ./var).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the audit).")]
Author = Annotated[str | None, typer.Option("--author", help="Who makes the change (default: the OS user).")]
KindArg = Annotated[str, typer.Argument(help="warning, trajectory or detector.")]


def _store(data_dir: Path | None):
    from zhizhi.layers import make_engine
    from zhizhi.models.versions.store import ModelStore

    settings = Settings()
    if data_dir is not None:
        settings.data_dir = data_dir
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return ModelStore(make_engine(settings.resolved_database_url))


def _author(author: str | None) -> str:
    if author:
        return author
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        _fail("say who makes the change with --author")
        raise


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _line(v) -> str:
    camera = f"  (camera {v.scope})" if getattr(v, "scope", "") else ""
    return f"{v.kind:<10} {v.label:<32} {v.status:<10} {v.author:<16} {_when(v.created_ts)}  {v.reason}{camera}"


def guess_kind(content: str) -> str:
    """The kind a file's text validates as (a detector manifest, a warning or a trajectory model)."""
    from zhizhi.models.config_file import ModelConfigError
    from zhizhi.models.versions.content import RULE_KINDS, parse_content

    try:
        data = json.loads(content)
        if isinstance(data, dict) and "weights_path" in data:
            return "detector"
    except ValueError:
        pass
    fits, errors = [], []
    for kind in RULE_KINDS:
        try:
            parse_content(kind, content)
            fits.append(kind)
        except ModelConfigError as exc:
            errors.append(f"as a {kind} model: {exc}")
    if len(fits) == 1:
        return fits[0]
    if fits:
        _fail(f"the file is a valid {' and a valid '.join(fits)} model: say which with --kind")
    _fail("\n".join(errors))
    raise AssertionError  # unreachable


def _run(action):
    from zhizhi.models.config_file import ModelConfigError
    from zhizhi.models.versions.errors import ModelVersionError

    try:
        return action()
    except (ModelVersionError, ModelConfigError) as exc:
        _fail(str(exc))


@models_app.command("list")
def models_list(
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None, data_dir: DataDir = None,
) -> None:
    """List the versions with their status."""
    store = _store(data_dir)
    for v in _run(lambda: store.list(kind)):
        typer.echo(_line(v))


@models_app.command("show")
def models_show(kind: KindArg, name: str, version: int, data_dir: DataDir = None) -> None:
    """Print a version's text."""
    store = _store(data_dir)
    typer.echo(_run(lambda: store.get(kind, name, version)).content, nl=False)


@models_app.command("diff")
def models_diff(kind: KindArg, name: str, a: int, b: int, data_dir: DataDir = None) -> None:
    """Compare two versions: a unified diff of the normalised YAML, then the changed paths."""
    store = _store(data_dir)
    typer.echo(str(_run(lambda: store.diff(kind, name, a, b))))


@models_app.command("add")
def models_add(
    file: Annotated[Path, typer.Argument(help="A model YAML, or a detector's JSON manifest.")],
    reason: Reason,
    kind: Annotated[str | None, typer.Option(help="Default: what the file validates as.")] = None,
    author: Author = None,
    data_dir: DataDir = None,
) -> None:
    """Add a version as a draft (validated: every bad path is listed)."""
    if not file.is_file():
        _fail(f"no file {file}")
    content = file.read_text(encoding="utf-8")
    kind = kind or guess_kind(content)
    store = _store(data_dir)
    added = _run(lambda: store.add(kind, content, _author(author), reason))
    typer.echo(f"added {_line(added)}")


@models_app.command("promote")
def models_promote(kind: KindArg, name: str, version: int, reason: Reason, author: Author = None,
                   data_dir: DataDir = None) -> None:
    """Put a version into production (the kind's current one is retired)."""
    store = _store(data_dir)
    promoted = _run(lambda: store.promote(kind, name, version, _author(author), reason))
    typer.echo(f"in production: {_line(promoted)}")


@models_app.command("rollback")
def models_rollback(
    kind: KindArg, reason: Reason, author: Author = None, data_dir: DataDir = None,
    camera: Annotated[str | None, typer.Option(help="A camera's own versions (zhizhi adapt's), not the "
                                                    "district-wide ones.")] = None,
) -> None:
    """Go back to the version in production before the current one (of one camera: --camera)."""
    store = _store(data_dir)
    back = _run(lambda: store.rollback(kind, _author(author), reason, scope=camera or ""))
    typer.echo(f"rolled back to: {_line(back)}")


@models_app.command("audit")
def models_audit(
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    data_dir: DataDir = None,
) -> None:
    """The changes, newest first."""
    store = _store(data_dir)
    for e in _run(lambda: store.audit(kind, limit=limit)):
        was = f" (was {e.from_name}@{e.from_version})" if e.from_name else ""
        typer.echo(f"{_when(e.ts)}  {e.actor:<16} {e.action:<8} {e.kind} {e.name}@{e.version}{was}: {e.reason}")
