"""Risk's background work: the recompute job (queued by the API, importers and the feeds
through service.jobs), the worker's poll that scores new hazard layers, and the scheduled
sweep of stale layers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.db import get_or_404, utcnow
from service.errors import InvalidInput
from service.hazards.models import HazardLayer
from service.hazards.population import population_rasters
from service.jobs import (
    RECOMPUTE_LAYER,
    Job,
    Outcome,
    Progress,
    enqueue,
    open_jobs_params,
    register_handler,
    run_pending_jobs,
)
from service.risk import service as risk_service
from service.risk.exposure import METHODS
from service.risk.inputs import grid_community_set, weights_for
from service.risk.models import RiskLayerState
from service.risk.readouts import current_hazard_layers
from service.settings import Settings

log = logging.getLogger(__name__)

RECOMPUTE = RECOMPUTE_LAYER


def request_recompute(
    *, session: Session, layer_id: int | None = None, method: str | None = None
) -> int:
    """Queue a recompute of one layer (or of every current hazard layer) and return the job id.

    The job becomes visible to workers when the caller's transaction commits, so an importer
    can call this inside its own transaction and the two land together.
    """
    if method is not None and method not in METHODS:
        raise InvalidInput(f"unknown method {method!r}; use 'coverage' or 'centre'")
    if layer_id is not None:
        layer = get_or_404(
            session, HazardLayer, layer_id, f"hazard layer {layer_id} does not exist"
        )
        if layer.role != "hazard":
            raise InvalidInput(f"layer {layer_id} is an exposure layer; give a hazard layer id")
    return enqueue(session=session, kind=RECOMPUTE, params={"layer_id": layer_id, "method": method})


def recompute_handler(
    session_factory: sessionmaker[Session], settings: Settings, job: Job, progress: Progress
) -> Outcome:
    """Run a queued recompute; the job fails only when every layer failed."""
    params = job.params or {}
    layer_id = params.get("layer_id")
    result = risk_service.recompute_many(
        session_factory=session_factory,
        settings=settings,
        layer_ids=[int(layer_id)] if layer_id is not None else None,
        method=params.get("method"),
        progress=progress,
        job_id=job.id,
    )
    layers = result.get("layers", [])
    failed = [r for r in layers if r.get("status") == "failed"]
    error = "; ".join(f"layer {r['layer_id']}: {r['error']}" for r in failed) or None
    return Outcome(result, error, failed=bool(failed) and len(failed) == len(layers))


def register_handlers() -> None:
    """Called at start-up by every process that runs jobs (the worker, tests, benches)."""
    register_handler(RECOMPUTE, recompute_handler)


def recompute_stale(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    """The scheduled sweep: recompute every current layer whose inputs changed or that failed,
    except those a queued or running recompute job will do."""
    with session_factory() as session:
        queued = _layers_with_open_jobs(session)
        layer_ids = [layer.id for layer in current_hazard_layers(session) if layer.id not in queued]
    result = risk_service.recompute_many(
        session_factory=session_factory, settings=settings, layer_ids=layer_ids, only_if_stale=True
    )
    done = result["counts"].get("succeeded", 0) + result["counts"].get("failed", 0)
    if done:
        log.info("risk: stale sweep %s in %.2f s", result["counts"], result["duration_s"])
    return result


def warm_weights(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, str]:
    """Build (or load) the coverage weights of every community on each population raster, so
    the first event's recompute finds them in memory: an estimated-shaking raster is drawn on
    the national lattice and reuses these weights, and building them for 84,000 desa takes
    ten seconds that a warning must not wait for. Cheap when they are already held."""
    sources: dict[str, str] = {}
    with session_factory() as session:
        # The newest two: what new layers are pinned to (older pins build on their first use).
        newest = population_rasters().order_by(HazardLayer.id.desc()).limit(2)
        for pop in session.scalars(newest):
            try:
                set_key, ids = grid_community_set(session, pop)
                if ids:
                    _, source = weights_for(
                        settings, session, set_key, ids, pop, settings.risk.method
                    )
                    sources[pop.name] = source
            except (OSError, ValueError) as exc:  # a missing or unreadable raster file
                log.warning("risk: no weights for population layer %s: %s", pop.id, exc)
    if any(s != "memory" for s in sources.values()):
        log.info("risk: coverage weights ready: %s", sources)
    return sources


JOB_POLL_SECONDS = 2.0


def never_computed_layers(session: Session) -> list[int]:
    """Current hazard layers with no computation recorded yet (new imports, new events) and no
    recompute job queued or running for them."""
    done = set(session.scalars(select(RiskLayerState.layer_id))) | _layers_with_open_jobs(session)
    return [layer.id for layer in current_hazard_layers(session) if layer.id not in done]


def _layers_with_open_jobs(session: Session) -> set[int]:
    """Layers a queued or running recompute job names (a feed's shaking layer comes with its
    job): the sweeps leave them to it rather than race it for the layer's lock."""
    named = (p.get("layer_id") for p in open_jobs_params(session, RECOMPUTE))
    return {int(layer_id) for layer_id in named if layer_id is not None}


def poll(
    session_factory: sessionmaker[Session],
    settings: Settings,
    before_jobs: Callable[[], None] | None = None,
) -> None:
    """Every couple of seconds: run queued jobs, then score any hazard layer never scored.

    The second part is how a newly imported layer gets its scores within seconds without the
    importer having to know about risk; importers may also queue `request_recompute`.
    `before_jobs` is the worker's wait for a running rule evaluation (as the job thread's).
    """
    if before_jobs is not None:
        before_jobs()
    run_pending_jobs(session_factory, settings)
    with session_factory() as session:
        new = never_computed_layers(session)
    if new:
        risk_service.recompute_many(
            session_factory=session_factory, settings=settings, layer_ids=new, only_if_stale=True
        )


def schedule(scheduler: Any, rt: Any, before_jobs: Callable[[], None] | None = None) -> None:
    """Register the risk jobs on a worker's scheduler (called from service.scheduler)."""
    factory, settings = rt.session_factory, rt.settings
    scheduler.add_job(
        poll,
        "interval",
        seconds=JOB_POLL_SECONDS,
        args=[factory, settings, before_jobs],
        id="jobs.poll",
        name="run queued jobs; score new hazard layers",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        warm_weights,
        "interval",
        minutes=settings.risk.recompute_interval_minutes,
        args=[factory, settings],
        id="risk.warm_weights",
        name="hold the communities' coverage weights on each population raster",
        next_run_time=utcnow(),
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        recompute_stale,
        "interval",
        minutes=settings.risk.recompute_interval_minutes,
        args=[factory, settings],
        id="risk.stale",
        name="recompute stale risk layers",
        next_run_time=utcnow(),
        max_instances=1,
        coalesce=True,
    )
