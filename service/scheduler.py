"""The worker process: builds the scheduler and registers every domain's jobs in one place.

Jobs are plain idempotent functions. Any number of workers may run: a job that must run
once takes a PostgreSQL advisory lock, outbox rows are claimed with FOR UPDATE SKIP LOCKED.
"""

from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler

from service.alerts import jobs as alerts_jobs
from service.feeds import jobs as feeds_jobs
from service.messaging import jobs as messaging_jobs
from service.risk import jobs as risk_jobs
from service.runtime import Runtime, open_runtime

log = logging.getLogger(__name__)


def build_scheduler(rt: Runtime) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
    )
    # Each domain adds its jobs here, in data-flow order.
    feeds_jobs.register(scheduler, rt)
    risk_jobs.schedule(scheduler, rt)
    alerts_jobs.register(scheduler, rt)
    messaging_jobs.register(scheduler, rt)
    return scheduler


def run_worker() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open_runtime() as rt:
        scheduler = build_scheduler(rt)
        scheduler.start()
        log.info("worker started with jobs: %s", [j.id for j in scheduler.get_jobs()])
        stop.wait()
        scheduler.shutdown(wait=True)
        log.info("worker stopped")
