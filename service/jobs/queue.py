"""The queue side of the `jobs` table: enqueue (with a wake-up), read, claim with a lease, and
take back the jobs of workers that died.

A claim is a lease: the worker's heartbeat (service.jobs.runner.Heartbeat) bumps
`heartbeat_at` (database clock) every quarter of `SIAGA_JOBS_LEASE_S`. A job whose heartbeat is
older than the lease lost its worker (SIGKILL, power, a dead database connection): before
claiming, every worker puts such jobs back in the queue, or fails them with the reason once
`SIAGA_JOBS_MAX_ATTEMPTS` claims are used. `attempts` is the fencing token: heartbeats and the
final write of an attempt that lost its lease change nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from service.db import get_or_404, utcnow
from service.jobs.models import Job
from service.settings import JobSettings

log = logging.getLogger(__name__)

# NOTIFY channel of a new queued job (payload: its kind). Workers listening on it run the job
# at once instead of at their next poll; the poll stays the safety net.
JOBS_CHANNEL = "siaga_jobs"
# Well-known kinds other domains queue without importing the domain that runs them.
RECOMPUTE_LAYER = "risk.recompute"  # params: {"layer_id": int | None, "method": str | None}

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def enqueue(*, session: Session, kind: str, params: dict[str, Any], wake: bool = True) -> int:
    """Queue a job in the caller's transaction and return its id.

    The job becomes visible to workers when that transaction commits (so a layer and the job
    that scores it land together); with `wake`, listening workers hear of it at that commit.
    """
    job = Job(kind=kind, params=params, status="queued", progress=0.0)
    session.add(job)
    session.flush()
    if wake:
        session.execute(text("SELECT pg_notify(:c, :p)"), {"c": JOBS_CHANNEL, "p": kind})
    return int(job.id)


def get_job(*, session: Session, job_id: int) -> dict[str, Any]:
    job = get_or_404(session, Job, job_id, f"job {job_id} does not exist")
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


def open_jobs_params(session: Session, kind: str) -> list[dict[str, Any]]:
    """The params of the queued and running jobs of one kind (what is already on its way)."""
    return [
        dict(p or {})
        for p in session.scalars(
            select(Job.params).where(Job.kind == kind, Job.status.in_(("queued", "running")))
        )
    ]


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
    """Claim the oldest queued job of one of `kinds` (SKIP LOCKED: each job runs once)."""
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
