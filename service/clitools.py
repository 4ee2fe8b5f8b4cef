"""Small helpers shared by the domain CLIs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


@contextmanager
def audited_write(action: str, target: str) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """A write from the command line: yields (runtime, session, details); the caller does its
    change in the session and fills `details`; on a clean exit the audit entry (actor: the OS
    user) is added in the same transaction and both commit together. User errors print and
    exit 2, as with `user_errors`."""
    from service.ops.audit import Actor, record
    from service.runtime import open_runtime

    with user_errors(), open_runtime() as rt, rt.session_factory() as session:
        details: dict[str, Any] = {}
        yield rt, session, details
        record(session=session, actor=Actor.cli(), action=action, target=target, details=details)
        session.commit()
