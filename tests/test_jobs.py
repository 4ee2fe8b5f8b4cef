"""The generic job queue (service.jobs): a kind runs through the handler registered for it, a
queued job wakes a listening worker's runner at commit, and a handler's Outcome is recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service import jobs
from service.settings import Settings
from service.wakeup import Listener

KIND = "test.echo"


@pytest.fixture
def echo_handler() -> Iterator[list[dict[str, Any]]]:
    """A handler for a test kind that remembers the params it ran with."""
    ran: list[dict[str, Any]] = []

    def echo(
        factory: sessionmaker[Session], settings: Settings, job: jobs.Job, progress: jobs.Progress
    ) -> dict[str, Any] | jobs.Outcome:
        ran.append(dict(job.params))
        progress(0.5, "half way")
        if job.params.get("fail"):
            return jobs.Outcome({"echo": job.params}, "asked to fail", failed=True)
        return {"echo": job.params}

    jobs.register_handler(KIND, echo)
    yield ran
    jobs.HANDLERS.pop(KIND, None)


def _enqueue(session_factory: sessionmaker[Session], **params: Any) -> int:
    with session_factory() as s, s.begin():
        return jobs.enqueue(session=s, kind=KIND, params=params)


def _job(session_factory: sessionmaker[Session], job_id: int) -> dict[str, Any]:
    with session_factory() as s:
        return jobs.get_job(session=s, job_id=job_id)


def test_a_job_runs_through_its_kinds_handler(
    session_factory: sessionmaker[Session], settings: Settings, echo_handler: list[Any]
) -> None:
    ok = _enqueue(session_factory, n=1)
    failed = _enqueue(session_factory, n=2, fail=True)
    assert _job(session_factory, ok)["status"] == "queued"
    assert jobs.run_pending_jobs(session_factory, settings) == 2
    assert echo_handler == [{"n": 1}, {"n": 2, "fail": True}]
    done = _job(session_factory, ok)
    assert (done["status"], done["progress"], done["result"]) == (
        "succeeded",
        1.0,
        {"echo": {"n": 1}},
    )
    assert done["attempts"] == 1 and done["error"] is None
    bad = _job(session_factory, failed)
    assert (bad["status"], bad["error"]) == ("failed", "asked to fail")
    assert bad["result"] == {"echo": {"n": 2, "fail": True}}


def test_a_kind_without_a_handler_is_left_queued(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """A worker claims only the kinds it has handlers for (another worker may know it)."""
    job_id = _enqueue(session_factory, n=1)
    assert jobs.run_pending_jobs(session_factory, settings) == 0
    assert _job(session_factory, job_id)["status"] == "queued"


def test_a_queued_job_wakes_the_runner_at_commit(
    session_factory: sessionmaker[Session], settings: Settings, echo_handler: list[Any]
) -> None:
    """What `siaga worker` wires: the listener hears JOBS_CHANNEL and wakes the runner, which
    calls its before-run hook and then runs the job well before the 2 s poll would."""
    stop = threading.Event()
    before: list[float] = []
    runner = jobs.JobRunner(
        session_factory, settings, stop, lambda: before.append(time.monotonic())
    )
    listener = Listener(
        settings.database.url,
        [jobs.JOBS_CHANNEL],
        lambda channel, payload: runner.wake.set(),
        stop=stop,
    )
    runner.start()
    listener.start()
    try:
        assert listener.listening.wait(10)
        with session_factory() as s, s.begin():
            job_id = jobs.enqueue(session=s, kind=KIND, params={"n": 3})
            time.sleep(0.3)  # not visible, not notified before the commit
            assert not runner.wake.is_set() and not echo_handler
        committed = time.monotonic()
        deadline = committed + 10
        while _job(session_factory, job_id)["status"] != "succeeded":
            assert time.monotonic() < deadline, "the woken runner did not run the job"
            time.sleep(0.02)
        took = time.monotonic() - committed
    finally:
        stop.set()
        listener.join(5)
        runner.join(5)
    assert echo_handler == [{"n": 3}] and len(before) >= 1
    assert took < 1.5, took
