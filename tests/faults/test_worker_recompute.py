"""A worker SIGKILLed in the middle of a real recompute: the job is taken back after its lease
and finishes on another worker, or fails with the reason once its attempts are used; it never
stays `running`. A worker that is alive keeps its lease however long the job takes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.jobs import Job, reap_lost, run_pending_jobs
from service.risk.jobs import request_recompute
from service.risk.models import RiskScore
from service.risk.service import recompute_layer
from service.settings import JobSettings, Settings
from tests.faults.conftest import Procs, wait_for

pytestmark = pytest.mark.slow

LEASE_S = 2.0


def env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SIAGA_STORAGE_DATA_DIR": str(data_dir),
        "SIAGA_JOBS_LEASE_S": str(LEASE_S),
        "SIAGA_RISK_RECOMPUTE_INTERVAL_MINUTES": "600",
        **extra,
    }


def job(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as s:
        row = s.get(Job, job_id)
        assert row is not None
        return row


def queue_recompute(factory: sessionmaker[Session], settings: Settings, layer_id: int) -> int:
    # Scored once first, so the worker's stale sweep has nothing to do and only the job runs.
    recompute_layer(session_factory=factory, layer_id=layer_id, settings=settings)
    with factory() as s, s.begin():
        return request_recompute(session=s, layer_id=layer_id)


def scores_of(factory: sessionmaker[Session], job_id: int) -> int:
    with factory() as s:
        return int(
            s.scalar(select(func.count()).select_from(RiskScore).where(RiskScore.job_id == job_id))
            or 0
        )


def kill_mid_recompute(
    procs: Procs, factory: sessionmaker[Session], job_id: int, worker_env: dict[str, str]
) -> None:
    first = procs.spawn(["-m", "tests.faults.slow_worker"], worker_env, "first.log")
    wait_for(
        lambda: (j := job(factory, job_id)).status == "running" and 0 < j.progress < 1,
        90,
        "the recompute to be under way",
    )
    procs.kill(first)
    killed = job(factory, job_id)
    # What used to stay forever: running, no worker behind it.
    assert (killed.status, killed.attempts) == ("running", 1), procs.log("first.log")
    assert scores_of(factory, job_id) == 0  # the killed attempt wrote nothing half-way


def test_killed_worker_job_is_requeued_and_finishes(
    merapi: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    database_url: str,
    procs: Procs,
) -> None:
    job_id = queue_recompute(session_factory, settings, merapi["krb_id"])
    worker_env = env(database_url, data_dir, SLOW_PROGRESS_S="1")
    kill_mid_recompute(procs, session_factory, job_id, worker_env)

    procs.spawn(["-m", "service", "worker"], env(database_url, data_dir), "second.log")
    done = wait_for(
        lambda: (j := job(session_factory, job_id)).status not in ("queued", "running") and j,
        90,
        "the job to finish on the second worker",
        every=0.2,
    )
    assert done.status == "succeeded", (done.error, procs.log("second.log"))
    assert done.attempts == 2 and done.progress == 1.0 and done.heartbeat_at is None
    assert "stopped on attempt 1; re-queued" in procs.log("second.log")
    assert scores_of(session_factory, job_id) == len(merapi["codes"])  # once each, not twice
    with session_factory() as s:
        assert s.scalar(select(func.count()).where(Job.status == "running")) == 0


def test_job_fails_with_the_reason_after_its_last_attempt(
    merapi: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    database_url: str,
    procs: Procs,
) -> None:
    job_id = queue_recompute(session_factory, settings, merapi["krb_id"])
    worker_env = env(database_url, data_dir, SLOW_PROGRESS_S="1", SIAGA_JOBS_MAX_ATTEMPTS="1")
    kill_mid_recompute(procs, session_factory, job_id, worker_env)

    survivor = settings.model_copy(update={"jobs": JobSettings(lease_s=LEASE_S, max_attempts=1)})
    assert run_pending_jobs(session_factory, survivor) == 0  # lease not over yet
    assert job(session_factory, job_id).status == "running"
    wait_for(lambda: reap_lost(session_factory, survivor.jobs), 10, "the lease to expire")
    failed = job(session_factory, job_id)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.error is not None
    assert "stopped (no heartbeat for 2 s) on attempt 1 of 1; gave up" in failed.error
    assert run_pending_jobs(session_factory, survivor) == 0  # not run again
    assert scores_of(session_factory, job_id) == 0


def test_a_live_worker_keeps_its_lease_through_a_long_job(
    merapi: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    database_url: str,
    procs: Procs,
) -> None:
    job_id = queue_recompute(session_factory, settings, merapi["krb_id"])
    # Each progress step takes 1.5 s: the whole job lasts several leases.
    procs.spawn(
        ["-m", "tests.faults.slow_worker"],
        env(database_url, data_dir, SLOW_PROGRESS_S="1.5"),
        "slow.log",
    )
    reaper = JobSettings(lease_s=LEASE_S, max_attempts=3)
    taken_back = []

    def finished() -> bool:
        taken_back.append(reap_lost(session_factory, reaper))  # another worker's check
        return job(session_factory, job_id).status in ("succeeded", "failed")

    wait_for(finished, 120, "the slow job to finish", every=0.2)
    done = job(session_factory, job_id)
    assert (done.status, done.attempts) == ("succeeded", 1), procs.log("slow.log")
    assert sum(taken_back) == 0
    assert done.finished_at is not None and done.started_at is not None
    assert (done.finished_at - done.started_at).total_seconds() > 2 * LEASE_S
