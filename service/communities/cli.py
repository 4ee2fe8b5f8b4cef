"""`siaga communities ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="communities", no_args_is_help=True)
