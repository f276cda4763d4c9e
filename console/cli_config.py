"""``zhizhi config``: the effective configuration, described."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

config_app = typer.Typer(help="The effective configuration: values, sources, descriptions.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder, as the other commands take it.")] = None,
    host: Annotated[str | None, typer.Option(help="Address, as `serve` takes it.")] = None,
    port: Annotated[int | None, typer.Option(help="Port, as `serve` takes it.")] = None,
) -> None:
    """Print every setting with its value, its source (default, file, environment, cli) and its
    description; passwords, tokens and credentials in URLs are masked. An unknown key in the
    settings file or an unknown ZHIZHI_* variable is an error naming it."""
    from zhizhi.console.config_show import config_report

    cli = {k: v for k, v in {"data_dir": data_dir, "host": host, "port": port}.items() if v is not None}
    try:
        report = config_report(cli)
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        for line in report.lines():
            typer.echo(line)


__all__ = ["config_app"]
