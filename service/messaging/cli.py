"""`siaga messaging`: run a dedicated dispatcher, inspect the outbox."""

from __future__ import annotations

import signal
import threading

import typer

app = typer.Typer(help="SMS/WhatsApp outbox and dispatcher", no_args_is_help=True)


@app.command("dispatch")
def dispatch(once: bool = typer.Option(False, help="send what is due, then exit")) -> None:
    """Run the outbox dispatcher alone (no other scheduled jobs); any number may run."""
    from service.messaging.dispatcher import Dispatcher
    from service.runtime import open_runtime
    from service.wakeup import OUTBOX, Listener

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open_runtime() as rt:
        dispatcher = Dispatcher.from_settings(
            session_factory=rt.session_factory, settings=rt.settings.alerts
        )
        try:
            if once:
                typer.echo(f"handled {dispatcher.drain(max_seconds=3600)} deliveries")
            else:
                # New outbox rows wake the loop at once (NOTIFY); the interval is the net.
                listener = Listener(
                    rt.settings.database.url,
                    [OUTBOX],
                    lambda _channel, _payload: dispatcher.wake.set(),
                    on_connect=dispatcher.wake.set,
                    stop=stop,
                )
                listener.start()
                dispatcher.run_forever(stop)
        finally:
            dispatcher.close()


@app.command("status")
def status() -> None:
    """Count deliveries by channel and status."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import text

    from service.runtime import open_runtime

    with open_runtime() as rt, rt.session_factory() as session:
        rows = session.execute(
            text(
                "SELECT channel, status, count(*) FROM message_deliveries "
                "GROUP BY channel, status ORDER BY channel, status"
            )
        ).all()
    table = Table("channel", "status", "deliveries")
    for channel, st, n in rows:
        table.add_row(channel, st, str(n))
    Console().print(table)


@app.command("requeue")
def requeue(
    status: str = typer.Option("dead", help="requeue deliveries in this status (dead or failed)"),
) -> None:
    """Put dead (or failed) deliveries back in the queue, e.g. after fixing credentials."""
    from sqlalchemy import text

    from service.runtime import open_runtime

    if status not in ("dead", "failed"):
        raise typer.BadParameter("only 'dead' or 'failed' deliveries can be requeued")
    with open_runtime() as rt, rt.session_factory() as session, session.begin():
        # `uncertain` is kept: a dead row that timed out is still looked up before resending.
        ids = session.execute(
            text(
                "UPDATE message_deliveries SET status = 'pending', attempts = 0, "
                "next_attempt_at = now() WHERE status = :s RETURNING id"
            ),
            {"s": status},
        ).all()
        n = len(ids)
    typer.echo(f"requeued {n} deliveries")
