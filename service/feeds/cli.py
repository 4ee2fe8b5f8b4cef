"""`siaga feeds ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="feeds", no_args_is_help=True)
