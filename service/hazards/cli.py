"""`siaga hazards ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="hazards", no_args_is_help=True)
