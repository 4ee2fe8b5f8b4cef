"""`siaga audit list`: read the audit log from the command line."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from service.ops.audit import list_entries
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
