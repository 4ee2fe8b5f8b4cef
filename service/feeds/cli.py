"""`siaga feeds ...`: register, list, enable/disable and poll hazard feeds."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="hazard feeds: register, list, poll", no_args_is_help=True)
console = Console()


def _runtime() -> Any:
    from service.runtime import open_runtime

    return open_runtime()


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="unique name, e.g. bmkg-autogempa"),
    kind: str = typer.Argument(..., help="bmkg | usgs | gdacs | cap | shakemap | raster"),
    url: str = typer.Argument(..., help="http(s) URL of the feed"),
    interval: int = typer.Option(60, "--interval", help="seconds between polls (>= 5)"),
    disabled: bool = typer.Option(False, "--disabled", help="register without polling"),
    options: str = typer.Option(
        "{}", "--options", help='JSON, e.g. {"layer_name": "...", "hazard": "flood"}'
    ),
) -> None:
    """Register a feed."""
    from service.db import transaction
    from service.errors import SiagaError
    from service.feeds import service
    from service.feeds.schemas import FeedCreate

    try:
        spec = FeedCreate(
            name=name,
            kind=kind,
            url=url,
            poll_interval_s=interval,
            enabled=not disabled,
            options=json.loads(options),
        )
    except (ValidationError, json.JSONDecodeError) as exc:
        _fail(str(exc))
        return
    with _runtime() as rt:
        try:
            with transaction(rt.session_factory) as s:
                feed = service.create_feed(
                    session=s, spec=spec, allowed_hosts=rt.settings.feeds.allowed_hosts
                )
                feed_id = feed.id
        except SiagaError as exc:
            _fail(exc.detail)
    console.print(f"feed {feed_id} '{name}' registered ({kind}, every {interval}s)")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List feeds with their health (URL credentials masked, errors as a short reason)."""
    from service.feeds import service

    with _runtime() as rt, rt.session_factory() as s:
        feeds = [service.feed_public(f) for f in service.list_feeds(session=s)]
    if as_json:
        typer.echo(json.dumps([f.model_dump(mode="json") for f in feeds], indent=2))
        return
    table = Table(
        "id", "name", "kind", "on", "every", "health", "last poll (UTC)", "events", "last error"
    )
    table.columns[1].no_wrap = True
    for f in feeds:
        h = f.health
        health = "ok" if h.healthy else f"[red]{h.consecutive_failures} failed[/red]"
        table.add_row(
            str(f.id),
            f.name,
            f.kind,
            "yes" if f.enabled else "no",
            f"{f.poll_interval_s}s",
            health,
            h.last_poll_at.strftime("%m-%d %H:%M") if h.last_poll_at else "-",
            str(h.events_seen),
            (h.last_error or "")[:60],
        )
    console.print(table)


def _set_enabled(feed_id: int, enabled: bool) -> None:
    from service.db import transaction
    from service.errors import SiagaError
    from service.feeds import service
    from service.feeds.schemas import FeedUpdate

    with _runtime() as rt:
        try:
            with transaction(rt.session_factory) as s:
                service.update_feed(session=s, feed_id=feed_id, spec=FeedUpdate(enabled=enabled))
        except SiagaError as exc:
            _fail(exc.detail)
    console.print(f"feed {feed_id} {'enabled' if enabled else 'disabled'}")


@app.command("enable")
def enable(feed_id: int) -> None:
    """Start polling a feed."""
    _set_enabled(feed_id, True)


@app.command("disable")
def disable(feed_id: int) -> None:
    """Stop polling a feed (its events stay)."""
    _set_enabled(feed_id, False)


@app.command("poll")
def poll(
    feed_id: int = typer.Argument(None, help="feed id; omit with --due"),
    due: bool = typer.Option(False, "--due", help="poll every enabled feed that is due"),
) -> None:
    """Poll one feed now (even if disabled), or every due feed."""
    from service.feeds.fetching import build_client
    from service.feeds.polling import poll_due_feeds, poll_feed

    if feed_id is None and not due:
        _fail("give a feed id or --due")
    with _runtime() as rt, build_client(rt.settings.feeds) as client:
        if due:
            outcomes = poll_due_feeds(
                session_factory=rt.session_factory, settings=rt.settings, client=client
            )
        else:
            outcomes = [
                poll_feed(
                    session_factory=rt.session_factory,
                    settings=rt.settings,
                    client=client,
                    feed_id=feed_id,
                    force=True,
                )
            ]
    failed = False
    for o in outcomes:
        typer.echo(json.dumps(o.public()))
        failed |= o.status == "error"
    if failed:
        raise typer.Exit(1)


@app.command("seed")
def seed(enable_all: bool = typer.Option(False, "--enable", help="register them enabled")) -> None:
    """Register the real public feeds (BMKG, USGS, GDACS, BMKG nowcast CAP), disabled by default."""
    from service.db import transaction
    from service.feeds import service

    with _runtime() as rt, transaction(rt.session_factory) as s:
        added = [f.name for f in service.register_public_feeds(session=s, enabled=enable_all)]
    console.print(f"registered: {', '.join(added) if added else 'nothing new'}")
