"""Background jobs: the shared `jobs` table, the risk recompute job and the scheduled sweep.

Any domain can queue a job row; workers poll for queued rows every couple of seconds and
claim one with `FOR UPDATE SKIP LOCKED`, so each job runs once however many workers there
are. Progress is written in short transactions of its own so the API can show it live.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.errors import InvalidInput, NotFound
from service.hazards.models import HazardLayer
from service.risk import service as risk_service
from service.risk.exposure import METHODS
from service.risk.models import Job
from service.settings import Settings

log = logging.getLogger(__name__)

RECOMPUTE = "risk.recompute"
Handler = Callable[
    [sessionmaker[Session], Settings, Job, Callable[[float, str], None]], dict[str, Any]
]
HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    """Other domains register their job kinds here (kind -> handler)."""
    HANDLERS[kind] = handler


def create_job(*, session: Session, kind: str, params: dict[str, Any]) -> int:
    job = Job(kind=kind, params=params, status="queued", progress=0.0)
    session.add(job)
    session.flush()
    return int(job.id)


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
        layer = session.get(HazardLayer, layer_id)
        if layer is None:
            raise NotFound(f"hazard layer {layer_id} does not exist")
        if layer.role != "hazard":
            raise InvalidInput(f"layer {layer_id} is an exposure layer; give a hazard layer id")
    return create_job(
        session=session, kind=RECOMPUTE, params={"layer_id": layer_id, "method": method}
    )


def get_job(*, session: Session, job_id: int) -> dict[str, Any]:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job_json(job)


def job_json(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "params": job.params,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "result": job.result,
        "error": job.error,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def claim_next(session_factory: sessionmaker[Session], kinds: list[str]) -> Job | None:
    with session_factory() as session, session.begin():
        job = session.scalars(
            select(Job)
            .where(Job.status == "queued", Job.kind.in_(kinds))
            .order_by(Job.created_at, Job.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if job is None:
            return None
        job.status = "running"
        job.started_at = utcnow()
        job.progress = 0.0
        return job


def _progress_writer(
    session_factory: sessionmaker[Session], job_id: int
) -> Callable[[float, str], None]:
    last = [0.0]

    def write(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and fraction < 1.0:
            return  # at most two writes a second
        last[0] = now
        with session_factory() as session, session.begin():
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(progress=min(1.0, max(0.0, fraction)), message=message[:500])
            )

    return write


def run_job(session_factory: sessionmaker[Session], settings: Settings, job: Job) -> dict[str, Any]:
    handler = HANDLERS.get(job.kind)
    started = time.perf_counter()
    try:
        if handler is None:
            raise RuntimeError(f"no handler for job kind {job.kind!r}")
        result = handler(session_factory, settings, job, _progress_writer(session_factory, job.id))
        failed = [r for r in result.get("layers", []) if r.get("status") == "failed"]
        status = (
            "failed" if failed and len(failed) == len(result.get("layers", [])) else "succeeded"
        )
        error = "; ".join(f"layer {r['layer_id']}: {r['error']}" for r in failed) or None
    except Exception as exc:
        log.exception("job %s (%s) failed", job.id, job.kind)
        result, status, error = {}, "failed", str(exc) or type(exc).__name__
    with session_factory() as session, session.begin():
        session.execute(
            update(Job)
            .where(Job.id == job.id)
            .values(
                status=status,
                result=result,
                error=error,
                finished_at=utcnow(),
                progress=1.0 if status == "succeeded" else Job.progress,
            )
        )
    log.info("job %s (%s) %s in %.2f s", job.id, job.kind, status, time.perf_counter() - started)
    return result


def run_pending_jobs(
    session_factory: sessionmaker[Session], settings: Settings, *, max_jobs: int = 10
) -> int:
    """Claim and run queued jobs of the kinds this process knows; returns how many ran."""
    ran = 0
    while ran < max_jobs:
        job = claim_next(session_factory, list(HANDLERS))
        if job is None:
            break
        run_job(session_factory, settings, job)
        ran += 1
    return ran


def _recompute_handler(
    session_factory: sessionmaker[Session],
    settings: Settings,
    job: Job,
    progress: Callable[[float, str], None],
) -> dict[str, Any]:
    params = job.params or {}
    layer_id = params.get("layer_id")
    return risk_service.recompute_many(
        session_factory=session_factory,
        settings=settings,
        layer_ids=[int(layer_id)] if layer_id is not None else None,
        method=params.get("method"),
        progress=progress,
        job_id=job.id,
    )


register_handler(RECOMPUTE, _recompute_handler)


def recompute_stale(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, Any]:
    """The scheduled sweep: recompute every current layer whose inputs changed or that failed."""
    result = risk_service.recompute_many(
        session_factory=session_factory, settings=settings, only_if_stale=True
    )
    done = result["counts"].get("succeeded", 0) + result["counts"].get("failed", 0)
    if done:
        log.info("risk: stale sweep %s in %.2f s", result["counts"], result["duration_s"])
    return result


JOB_POLL_SECONDS = 2.0


def never_computed_layers(session: Session) -> list[int]:
    """Current hazard layers with no computation recorded yet (new imports, new events)."""
    from service.risk.models import RiskLayerState

    done = set(session.scalars(select(RiskLayerState.layer_id)))
    return [
        layer.id for layer in risk_service.current_hazard_layers(session) if layer.id not in done
    ]


def poll(session_factory: sessionmaker[Session], settings: Settings) -> None:
    """Every couple of seconds: run queued jobs, then score any hazard layer never scored.

    The second part is how a newly imported layer gets its scores within seconds without the
    importer having to know about risk; importers may also queue `request_recompute`.
    """
    run_pending_jobs(session_factory, settings)
    with session_factory() as session:
        new = never_computed_layers(session)
    if new:
        risk_service.recompute_many(
            session_factory=session_factory, settings=settings, layer_ids=new, only_if_stale=True
        )


def schedule(scheduler: Any, rt: Any) -> None:
    """Register the risk jobs on a worker's scheduler (called from service.scheduler)."""
    factory, settings = rt.session_factory, rt.settings
    scheduler.add_job(
        poll,
        "interval",
        seconds=JOB_POLL_SECONDS,
        args=[factory, settings],
        id="jobs.poll",
        name="run queued jobs; score new hazard layers",
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
