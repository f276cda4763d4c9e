"""What the command line's modules share."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and leave with ``code`` (2: a usage error)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
