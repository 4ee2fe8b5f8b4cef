"""`siaga audit list`: read the audit log from the command line; `audited_write`: a change
made from the command line together with its audit entry (the domain CLIs use it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from service.clitools import user_errors
from service.ops.audit import Actor, list_entries, record
from service.runtime import open_runtime

app = typer.Typer(help="the audit log: who changed what", no_args_is_help=True)
console = Console()


@app.command("list")
def list_audit(
    limit: int = typer.Option(50, min=1, max=10_000),
    key_id: int = typer.Option(None, help="only this API key"),
    action: str = typer.Option(None, help="action prefix, e.g. keys."),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """Newest entries first."""
    with open_runtime() as rt, rt.session_factory() as session:
        entries = list_entries(session=session, key_id=key_id, action=action, limit=limit)
        if as_json:
            for e in entries:
                row = {
                    c: getattr(e, c)
                    for c in (
                        "id",
                        "key_id",
                        "key_name",
                        "role",
                        "action",
                        "target",
                        "details",
                        "request_id",
                        "client_ip",
                    )
                }
                typer.echo(json.dumps({"at": e.at.isoformat(), **row}, ensure_ascii=False))
            return
        table = Table("id", "at", "who", "role", "action", "target", "request id")
        for e in entries:
            who = f"{e.key_name or '?'}" + (f" (key {e.key_id})" if e.key_id else "")
            table.add_row(
                str(e.id),
                e.at.isoformat(timespec="seconds"),
                who,
                e.role or "",
                e.action,
                e.target or "",
                e.request_id or "",
            )
        console.print(table)


@contextmanager
def audited_write(action: str, target: str) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """A write from the command line: yields (runtime, session, details); the caller does its
    change in the session and fills `details`; on a clean exit the audit entry (actor: the OS
    user) is added in the same transaction and both commit together. User errors print and
    exit 2, as with `user_errors`."""
    with user_errors(), open_runtime() as rt, rt.session_factory() as session:
        details: dict[str, Any] = {}
        yield rt, session, details
        record(session=session, actor=Actor.cli(), action=action, target=target, details=details)
        session.commit()
