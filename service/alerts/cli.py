"""`siaga groups ...`: community groups, their members and rules, drills, the alert jobs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from service.db import transaction, utcnow
from service.errors import SiagaError
from service.runtime import open_runtime

app = typer.Typer(help="community groups, contact trees, rules and alerts", no_args_is_help=True)
console = Console()


def _fail(exc: SiagaError) -> None:
    console.print(f"[red]{exc.detail}[/red]")
    for err in exc.extra.get("errors", []):
        console.print(f"  row {err['row']} {err['column']}: {err['message']}")
    raise typer.Exit(1)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="group name, e.g. 'Destana Sukamaju'"),
    community: list[str] = typer.Option(..., "--community", "-c", help="Kemendagri code (repeat)"),
    sender_name: str = typer.Option(
        None, help="name shown in every message (default SIAGA_ALERTS_SENDER_NAME)"
    ),
    contact_phone: str = typer.Option(
        None, help="the posko or contact number named in every message"
    ),
) -> None:
    """Create a group covering one or more communities."""
    from pydantic import ValidationError

    from service.alerts.groups import create_group
    from service.alerts.schemas import GroupCreate

    try:
        data = GroupCreate(
            name=name,
            community_codes=community,
            sender_name=sender_name,
            contact_phone=contact_phone,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        console.print(f"[red]{'.'.join(map(str, first['loc']))}: {first['msg']}[/red]")
        raise typer.Exit(1) from None
    try:
        with open_runtime() as rt, transaction(rt.session_factory) as session:
            group = create_group(session=session, data=data)
            console.print(f"group {group.id}: {group.name}")
    except SiagaError as exc:
        _fail(exc)


@app.command("list")
def list_cmd() -> None:
    """Groups with their communities and member counts."""
    from service.alerts.groups import list_groups

    with open_runtime() as rt, rt.session_factory() as session:
        table = Table("id", "name", "communities", "members")
        for group, count in list_groups(session=session):
            table.add_row(str(group.id), group.name, " ".join(group.community_codes), str(count))
        console.print(table)


@app.command("import")
def import_cmd(
    group_id: int = typer.Argument(..., help="the group's id (see `siaga groups list`)"),
    csv_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="members CSV"),
) -> None:
    """Import members from CSV: name, phone, channel, language, role, parent_phone,
    backup_phone, community_code, consent. All rows or none."""
    from service.alerts.members import import_members_csv

    try:
        with open_runtime() as rt, transaction(rt.session_factory) as session:
            result = import_members_csv(
                session=session, group_id=group_id, content=csv_file.read_bytes()
            )
    except SiagaError as exc:
        _fail(exc)
    console.print(f"{result.created} created, {result.updated} updated")


@app.command("members")
def members(group_id: int) -> None:
    """The contact tree (names and numbers: run only where that is allowed)."""
    from service.alerts.members import list_members

    with open_runtime() as rt, rt.session_factory() as session:
        try:
            rows = list_members(session=session, group_id=group_id)
        except SiagaError as exc:
            _fail(exc)
        table = Table(
            "id", "name", "phone", "channel", "lang", "role", "parent", "backup", "consent"
        )
        for m in rows:
            table.add_row(
                str(m.id),
                m.name,
                m.phone,
                m.channel,
                m.language,
                m.role or "",
                str(m.parent_id or ""),
                str(m.backup_id or ""),
                "ya" if m.consent else "tidak",
            )
        console.print(table)


@app.command("drill")
def drill(
    group_id: int,
    hazard: str = typer.Option("earthquake", help="flood, earthquake, tsunami, volcano, ..."),
    level: int = typer.Option(3, min=1, max=3, help="1 waspada, 2 siaga, 3 awas"),
) -> None:
    """Send a drill (CAP status Exercise; every message says LATIHAN) to the whole tree."""
    from service.alerts.drills import create_drill
    from service.alerts.schemas import DrillIn

    try:
        with open_runtime() as rt, transaction(rt.session_factory) as session:
            alert = create_drill(
                session=session,
                settings=rt.settings,
                group_id=group_id,
                data=DrillIn(hazard=hazard, level=level),
                now=utcnow(),
            )
            console.print(f"drill alert {alert.id} ({alert.identifier}) queued")
    except SiagaError as exc:
        _fail(exc)


@app.command("evaluate")
def evaluate() -> None:
    """Run the rules once now over current risk scores and feed events (what the worker does)."""
    from service.alerts.jobs import evaluate_job

    with open_runtime() as rt:
        summary = evaluate_job(rt)
    if summary is None:
        console.print("another worker is evaluating; nothing done")
        return
    console.print(
        f"{len(summary.alerts_created)} alerts, {len(summary.all_clears)} all-clears, "
        f"{summary.held} held (quiet hours), {summary.suppressed} in cooldown"
    )


@app.command("escalate")
def escalate() -> None:
    """Escalate unacknowledged alerts once now (what the worker does every minute)."""
    from service.alerts.jobs import escalate_job

    with open_runtime() as rt:
        summary = escalate_job(rt)
    if summary is not None:
        console.print(
            f"{len(summary.escalated)} escalated, {summary.backups_messaged} backups messaged, "
            f"{summary.parents_told} parents told"
        )
