"""`siaga keys ...`: create, list and revoke API keys."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from service.auth.models import ROLES, ApiKey
from service.auth.service import create_key, key_groups, revoke_key
from service.db import transaction
from service.ops import audit
from service.ops.audit import Actor
from service.runtime import open_runtime

app = typer.Typer(help="API keys and roles", no_args_is_help=True)
console = Console()


@app.command("create")
def create(
    role: str = typer.Option(..., help=f"one of {', '.join(ROLES)}"),
    name: str = typer.Option("key", help="who or what uses this key"),
    group: list[int] = typer.Option(
        [], "--group", help="bind a coordinator key to this group id (repeatable)"
    ),
) -> None:
    """Create a key; the token is printed once and stored only as a hash."""
    with open_runtime() as rt, transaction(rt.session_factory) as session:
        key, token = create_key(session=session, name=name, role=role, group_ids=group)
        audit.record(
            session=session,
            actor=Actor.cli(),
            action="keys.create",
            target=f"api_key:{key.id}",
            details={"name": name, "role": role, "prefix": key.prefix, "group_ids": group},
        )
        bound = f" bound to group(s) {', '.join(map(str, sorted(set(group))))}" if group else ""
        console.print(f"key {key.id} ({key.role}){bound}: [bold]{token}[/bold]")


@app.command("list")
def list_keys() -> None:
    with open_runtime() as rt, rt.session_factory() as session:
        table = Table("id", "name", "role", "groups", "prefix", "created", "revoked")
        keys = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
        groups = key_groups(session, [k.id for k in keys])
        for k in keys:
            table.add_row(
                str(k.id),
                k.name,
                k.role,
                ",".join(map(str, groups.get(k.id, []))),
                k.prefix,
                str(k.created_at),
                str(k.revoked_at or ""),
            )
        console.print(table)


@app.command("revoke")
def revoke(key_id: int) -> None:
    with open_runtime() as rt, transaction(rt.session_factory) as session:
        revoke_key(session=session, key_id=key_id)
        audit.record(
            session=session, actor=Actor.cli(), action="keys.revoke", target=f"api_key:{key_id}"
        )
    console.print(f"key {key_id} revoked")
