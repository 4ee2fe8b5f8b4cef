"""The running side of the `jobs` table: a table from job kind to handler that domains fill at
start-up, the heartbeat that holds a claim's lease, and the loop that runs queued jobs.

Progress is written in short transactions of its own so the API can show it live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.jobs.models import Job
from service.jobs.queue import claim_next
from service.settings import JobSettings, Settings

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]


@dataclass
class Outcome:
    """What a handler returns when a plain result dict does not say it all: a job that failed
    with a result worth keeping, or one that succeeded with an error worth showing."""

    result: dict[str, Any]
    error: str | None = None
    failed: bool = False


Handler = Callable[[sessionmaker[Session], Settings, Job, Progress], dict[str, Any] | Outcome]
HANDLERS: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    """Domains register their job kinds here at start-up (kind -> handler)."""
    HANDLERS[kind] = handler


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


def _progress_writer(session_factory: sessionmaker[Session], job_id: int) -> Progress:
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
    """Run one claimed job through its kind's handler and record the outcome (fenced by
    `attempts`: an attempt that lost its lease records nothing)."""
    handler = HANDLERS.get(job.kind)
    started = time.perf_counter()
    error: str | None = None
    result: dict[str, Any]
    try:
        if handler is None:
            raise RuntimeError(f"no handler for job kind {job.kind!r}")
        with Heartbeat(session_factory, job, settings.jobs):
            out = handler(session_factory, settings, job, _progress_writer(session_factory, job.id))
        if isinstance(out, Outcome):
            result, error, status = out.result, out.error, "failed" if out.failed else "succeeded"
        else:
            result, status = out, "succeeded"
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


class JobRunner(threading.Thread):
    """A worker's thread that runs queued jobs as soon as it is woken (a NOTIFY on
    JOBS_CHANNEL), so a job queued by a poll or a request does not wait for the next poll.

    `before_run` is called after a wake-up and before the jobs run: the worker uses it to let
    the rule evaluation that the same commit woke go first."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: Settings,
        stop: threading.Event,
        before_run: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(name="siaga-jobs", daemon=True)
        self.session_factory, self.settings = session_factory, settings
        self.stop_event, self.before_run = stop, before_run
        self.wake = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            if not self.wake.wait(1.0):
                continue
            self.wake.clear()
            try:
                if self.before_run is not None:
                    self.before_run()
                while run_pending_jobs(self.session_factory, self.settings):
                    if self.stop_event.is_set():  # until the queue is empty
                        break
            except Exception:  # the scheduler's poll is the net; keep listening
                log.exception("running woken jobs failed")
