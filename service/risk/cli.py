"""`siaga risk ...` commands."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="risk: exposure and risk scores", no_args_is_help=True)


@app.command("recompute")
def recompute(
    layer: list[int] = typer.Option(
        None, "--layer", "-l", help="hazard layer id (repeatable); default all"
    ),
    method: str = typer.Option(None, help="coverage (default from SIAGA_RISK_METHOD) or centre"),
    stale_only: bool = typer.Option(
        False, "--stale-only", help="skip layers whose scores are up to date"
    ),
) -> None:
    """Recompute exposure and risk scores now, with a progress bar."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from service.risk.service import recompute_many
    from service.runtime import open_runtime

    if method is not None and method not in ("coverage", "centre"):
        raise typer.BadParameter("use 'coverage' or 'centre'", param_hint="--method")
    console = Console(stderr=True)
    with (
        open_runtime() as rt,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        task = bar.add_task("risk recompute", total=1.0)

        def progress(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, description=message[:60])

        result = recompute_many(
            session_factory=rt.session_factory,
            settings=rt.settings,
            layer_ids=list(layer) if layer else None,
            method=method,
            only_if_stale=stale_only,
            progress=progress,
        )
    for r in result["layers"]:
        if r["status"] == "succeeded":
            console.print(
                f"layer {r['layer_id']} {r['layer_name']} v{r['layer_version']}: "
                f"{r['communities']} communities {r['levels']} in {r['duration_s']} s"
            )
        else:
            console.print(
                f"layer {r['layer_id']}: {r['status']} {r.get('error') or r.get('reason', '')}"
            )
    typer.echo(json.dumps(result["counts"]))
    if result["counts"].get("failed"):
        raise typer.Exit(1)


@app.command("status")
def status() -> None:
    """What was last computed for each hazard layer."""
    from service.risk.readouts import layer_states
    from service.runtime import open_runtime

    with open_runtime() as rt, rt.session_factory() as session:
        typer.echo(json.dumps(layer_states(session=session), indent=2))
