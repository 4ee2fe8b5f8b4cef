"""Small helpers shared by the domain CLIs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from rich.console import Console

from service.errors import SiagaError

err_console = Console(stderr=True)


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a user-facing error (no traceback) and exit with status 2."""
    try:
        yield
    except SiagaError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc.detail}", highlight=False)
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        err_console.print(f"[bold red]error:[/bold red] {validation_message(exc)}", highlight=False)
        raise typer.Exit(2) from exc


def parse_pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """Repeated KEY=VALUE options -> dict."""
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        out[key.strip()] = value.strip()
    return out
