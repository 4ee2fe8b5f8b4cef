"""Background jobs: the shared `jobs` table, the risk recompute job and the scheduled sweep.

Any domain can queue a job row; workers poll for queued rows every couple of seconds and
claim one with `FOR UPDATE SKIP LOCKED`, so each job runs once however many workers there
are. Progress is written in short transactions of its own so the API can show it live.

A claim is a lease: the worker's heartbeat thread bumps `heartbeat_at` (database clock) every
quarter of `SIAGA_JOBS_LEASE_S`. A job whose heartbeat is older than the lease lost its worker
(SIGKILL, power, a dead database connection): before claiming, every worker puts such jobs back
in the queue, or fails them with the reason once `SIAGA_JOBS_MAX_ATTEMPTS` claims are used.
`attempts` is the fencing token: heartbeats and the final write of an attempt that lost its
lease change nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.errors import InvalidInput, NotFound
from service.hazards.models import HazardLayer
from service.risk import service as risk_service
from service.risk.exposure import METHODS
from service.risk.models import Job
from service.risk.readouts import current_hazard_layers
from service.settings import JobSettings, Settings

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
        "attempts": job.attempts,
        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
    }


WORKER = f"{socket.gethostname()}:{os.getpid()}"

# Jobs whose worker stopped sending heartbeats go back to the queue, or fail with the reason
# once every attempt is used. The database clock decides, so workers' clocks may disagree.
_REAP = text(
    """
    WITH lost AS (
        SELECT id FROM jobs
        WHERE status = 'running' AND (heartbeat_at IS NULL OR
                                      heartbeat_at < now() - make_interval(secs => :lease))
        ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs j
    SET status = CASE WHEN j.attempts < :max_attempts THEN 'queued' ELSE 'failed' END,
        error = CASE WHEN j.attempts < :max_attempts THEN NULL ELSE
            format('worker %s stopped (no heartbeat for %s s) on attempt %s of %s; '
                   'gave up', coalesce(j.worker, '?'), :lease, j.attempts, :max_attempts) END,
        message = format('worker %s stopped (no heartbeat for %s s) on attempt %s of %s',
                         coalesce(j.worker, '?'), :lease, j.attempts, :max_attempts),
        finished_at = CASE WHEN j.attempts < :max_attempts THEN NULL ELSE now() END,
        heartbeat_at = NULL, updated_at = now()
    FROM lost WHERE j.id = lost.id
    RETURNING j.id, j.kind, j.status, j.attempts, j.worker
    """
)


def reap_lost(session_factory: sessionmaker[Session], settings: JobSettings) -> int:
    """Take back running jobs whose worker died; returns how many."""
    with session_factory() as session, session.begin():
        rows = session.execute(
            _REAP, {"lease": settings.lease_s, "max_attempts": settings.max_attempts}
        ).all()
    for r in rows:
        log.warning(
            "job %s (%s): worker %s stopped on attempt %s; %s",
            r.id,
            r.kind,
            r.worker,
            r.attempts,
            "re-queued" if r.status == "queued" else "failed",
        )
    return len(rows)


def claim_next(
    session_factory: sessionmaker[Session], kinds: list[str], settings: JobSettings | None = None
) -> Job | None:
    reap_lost(session_factory, settings or JobSettings())
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
        job.attempts += 1
        job.heartbeat_at = func.now()
        job.worker = WORKER
        session.flush()
        session.refresh(job)
        return job


class Heartbeat:
    """Bump a running job's heartbeat every quarter lease, from a thread of its own, so a
    handler busy in C code (GDAL, GEOS) still holds its lease; stops when the job ends."""

    def __init__(
        self, session_factory: sessionmaker[Session], job: Job, settings: JobSettings
    ) -> None:
        self.session_factory, self.job_id, self.attempt = session_factory, job.id, job.attempts
        self.interval = settings.lease_s / 4
        self.stopped = threading.Event()
        self.thread = threading.Thread(
            target=self._run, name=f"job-{job.id}-heartbeat", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                with self.session_factory() as session, session.begin():
                    held = session.execute(
                        update(Job)
                        .where(
                            Job.id == self.job_id,
                            Job.status == "running",
                            Job.attempts == self.attempt,
                        )
                        .values(heartbeat_at=func.now())
                    ).rowcount  # type: ignore[attr-defined]
            except Exception:  # the database may be down for a moment; try again next beat
                log.warning("job %s: heartbeat not written", self.job_id, exc_info=True)
                continue
            if not held:
                log.warning("job %s: lease lost (taken back by another worker)", self.job_id)
                return


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
        with Heartbeat(session_factory, job, settings.jobs):
            result = handler(
                session_factory, settings, job, _progress_writer(session_factory, job.id)
            )
        failed = [r for r in result.get("layers", []) if r.get("status") == "failed"]
        status = (
            "failed" if failed and len(failed) == len(result.get("layers", [])) else "succeeded"
        )
        error = "; ".join(f"layer {r['layer_id']}: {r['error']}" for r in failed) or None
    except Exception as exc:
        log.exception("job %s (%s) failed", job.id, job.kind)
        result, status, error = {}, "failed", str(exc) or type(exc).__name__
    with session_factory() as session, session.begin():
        written = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.status == "running", Job.attempts == job.attempts)
            .values(
                status=status,
                result=result,
                error=error,
                finished_at=utcnow(),
                progress=1.0 if status == "succeeded" else Job.progress,
                heartbeat_at=None,
            )
        ).rowcount  # type: ignore[attr-defined]
    if not written:
        log.warning("job %s: lease lost before the end; its outcome is not recorded", job.id)
    log.info("job %s (%s) %s in %.2f s", job.id, job.kind, status, time.perf_counter() - started)
    return result


def run_pending_jobs(
    session_factory: sessionmaker[Session], settings: Settings, *, max_jobs: int = 10
) -> int:
    """Claim and run queued jobs of the kinds this process knows; returns how many ran."""
    ran = 0
    while ran < max_jobs:
        job = claim_next(session_factory, list(HANDLERS), settings.jobs)
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
    return [layer.id for layer in current_hazard_layers(session) if layer.id not in done]


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
