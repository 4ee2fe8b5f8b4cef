"""`siaga`: the one entry point for every operation."""

from __future__ import annotations

import typer

from service.alerts import cli as alerts_cli
from service.auth import cli as keys_cli
from service.communities import cli as communities_cli
from service.feeds import cli as feeds_cli
from service.hazards import cli as hazards_cli
from service.messaging import cli as messaging_cli
from service.ops import cli as ops_cli
from service.risk import cli as risk_cli

app = typer.Typer(
    help="Siaga: early warning and risk mapping for communities", no_args_is_help=True
)
db_app = typer.Typer(help="database schema", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(communities_cli.app, name="communities")
app.add_typer(hazards_cli.app, name="hazards")
app.add_typer(risk_cli.app, name="risk")
app.add_typer(feeds_cli.app, name="feeds")
app.add_typer(alerts_cli.app, name="groups")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(messaging_cli.app, name="messaging")
app.add_typer(ops_cli.app, name="audit")


@app.callback()
def _validate_configuration() -> None:
    """Check the whole configuration before any command runs: one clear list of problems."""
    from service.settings import ConfigError, load_settings

    try:
        load_settings()
    except ConfigError as exc:
        typer.echo(f"siaga: {exc}", err=True)
        typer.echo("Set these environment variables (or lines in .env) and start again.", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: str = typer.Option(None, help="bind address (default SIAGA_API_HOST or 127.0.0.1)"),
    port: int = typer.Option(None, help="port (default SIAGA_API_PORT or 8000)"),
    workers: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """Run the HTTP API."""
    import uvicorn

    from service.settings import load_settings

    settings = load_settings()
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers,
        proxy_headers=True,
    )


@app.command()
def worker() -> None:
    """Run the scheduler and the alert dispatcher (any number may run)."""
    from service.scheduler import run_worker

    run_worker()


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations up to REVISION (default head)."""
    from service.migrate import upgrade
    from service.settings import DatabaseSettings

    upgrade(DatabaseSettings().url, revision)
    typer.echo(f"database at {revision}")


@app.command("demo")
def demo(action: str = typer.Argument("load", help="load")) -> None:
    """Load the demo communities and hazard layers (idempotent)."""
    from service.demo import load_demo

    if action != "load":
        raise typer.BadParameter("only 'load' is supported")
    report = load_demo()
    typer.echo(
        f"demo communities: {report.communities}; layers added: "
        f"{', '.join(report.layers_added) or 'none'}; already present: "
        f"{', '.join(report.layers_present) or 'none'}"
    )
