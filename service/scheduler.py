"""The worker process: builds the scheduler and registers every domain's jobs in one place,
and wires the wake-ups that make the warning chain event-driven.

Jobs are plain idempotent functions. Any number of workers may run: a job that must run
once takes a PostgreSQL advisory lock, outbox rows are claimed with FOR UPDATE SKIP LOCKED.

The chain (docs/architecture.md): a poll that stores an event, its per-community shaking or
a layer's risk scores NOTIFYs `siaga_signals` at commit; every worker's listener hands the
payload to its evaluator thread, which evaluates the rules of the communities touched at
once (service.alerts.jobs.evaluate_touched). The alert's outbox rows NOTIFY `siaga_outbox`,
which wakes the dispatcher thread. The interval evaluation stays as the safety net.
A shaking layer's commit also queues its risk recompute (service.jobs) and NOTIFYs
`siaga_jobs`: the job thread wakes, lets the evaluation that commit woke go first (bounded),
then runs it. The 2 s job poll stays as the safety net.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from service import table_changes
from service.alerts import hooks as alerts_hooks
from service.alerts import jobs as alerts_jobs
from service.db import utcnow
from service.feeds import jobs as feeds_jobs
from service.jobs import JOBS_CHANNEL, JobRunner
from service.messaging import jobs as messaging_jobs
from service.messaging.dispatcher import Dispatcher
from service.risk import jobs as risk_jobs
from service.runtime import Runtime, open_runtime
from service.wakeup import OUTBOX, SIGNALS, Listener

log = logging.getLogger(__name__)


def build_scheduler(rt: Runtime, evaluator: Evaluator | None = None) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
    )
    # Each domain adds its jobs here, in data-flow order (the dispatcher and the woken job
    # runner have their own threads), and registers the handlers of the job kinds it runs.
    # Queued jobs (a shaking layer's recompute) let the rule evaluation run first.
    risk_jobs.register_handlers()
    feeds_jobs.register(scheduler, rt)
    risk_jobs.schedule(scheduler, rt, evaluator.rules_first if evaluator else None)
    alerts_jobs.register(scheduler, rt)
    scheduler.add_job(
        table_changes.compact_job,
        "interval",
        minutes=table_changes.COMPACT_MINUTES,
        args=[rt.session_factory],
        id="table_changes.compact",
        name="fold the change rows behind the API's read cache",
    )
    return scheduler


class Evaluator(threading.Thread):
    """Runs the event-driven evaluation for the payloads the listener collected; payloads
    that arrive while it evaluates are taken together on the next round."""

    def __init__(self, rt: Runtime, stop: threading.Event) -> None:
        super().__init__(name="siaga-evaluator", daemon=True)
        self.rt = rt
        self.stop_event = stop
        self.pending: list[str] = []
        self.lock = threading.Lock()
        self.has_work = threading.Event()
        self.idle = threading.Event()  # nothing pending, nothing being evaluated
        self.idle.set()
        # The evaluation under way has committed its first alerts (or is done): their
        # messages are leaving, and a risk recompute may share the machine from here.
        self.first_out = threading.Event()
        self.first_out.set()

    def add(self, payload: str) -> None:
        with self.lock:
            if payload not in self.pending:
                self.pending.append(payload)
            self.idle.clear()
            self.first_out.clear()
        self.has_work.set()

    def wait_for_rules(self, grace_s: float = 0.5) -> None:
        """Called before a woken risk recompute runs: let the shaking's wake-up arrive (it
        follows the commit by milliseconds; no grace is needed when it came in the same
        commit as the job's, which the listener hands over first), then wait until the
        evaluation it started has committed its first alerts, at most
        `SIAGA_ALERTS_RECOMPUTE_WAIT_S`. The other rules' alerts follow while the scores
        are computed: waiting for all of them kept the map 9 s behind a national quake."""
        limit = self.rt.settings.alerts.recompute_wait_s
        if limit <= 0:
            return
        started = time.monotonic()
        while self.idle.is_set() and time.monotonic() - started < grace_s:
            time.sleep(0.01)
        self.first_out.wait(max(0.0, limit - (time.monotonic() - started)))

    def rules_first(self) -> None:
        """Before queued jobs run: a job's NOTIFY comes in the same commit as the signal that
        woke the evaluation, after it, so no grace for the wake-up is needed."""
        self.wait_for_rules(grace_s=0.0)

    def _first_out(self) -> None:
        # Payloads that came in meanwhile wait for their own evaluation's first alerts.
        with self.lock:
            if not self.pending:
                self.first_out.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            if not self.has_work.wait(1.0):
                continue
            self.has_work.clear()
            with self.lock:
                payloads, self.pending = self.pending, []
            try:
                alerts_jobs.evaluate_touched(self.rt, payloads, first_out=self._first_out)
            except Exception:  # the interval evaluation is the net; keep listening
                log.exception("event-driven evaluation of %s failed", payloads)
            with self.lock:
                if not self.pending:
                    self.idle.set()
                    self.first_out.set()


def start_chain(
    rt: Runtime, scheduler: BackgroundScheduler, evaluator: Evaluator, stop: threading.Event
) -> tuple[Listener, Dispatcher, list[threading.Thread]]:
    """Start the dispatcher, the evaluator, the job runner and the listener that wakes them;
    returns the threads to join at shutdown."""
    dispatcher, dispatch_thread = messaging_jobs.start(rt, stop)
    evaluator.start()
    runner = JobRunner(rt.session_factory, rt.settings, stop, evaluator.rules_first)
    runner.start()
    first = [True]

    def handle(channel: str, payload: str) -> None:
        if channel == SIGNALS:
            evaluator.add(payload)
        elif channel == OUTBOX:
            dispatcher.wake.set()
        elif channel == JOBS_CHANNEL:
            runner.wake.set()

    def reconnected() -> None:
        # Anything notified while the listener was away is caught now (the scheduler already
        # runs one evaluation at start).
        dispatcher.wake.set()
        runner.wake.set()
        if not first[0]:
            scheduler.modify_job("alerts.evaluate", next_run_time=utcnow())
        first[0] = False

    channels = [SIGNALS, OUTBOX, JOBS_CHANNEL]
    listener = Listener(
        rt.settings.database.url, channels, handle, on_connect=reconnected, stop=stop
    )
    listener.start()
    return listener, dispatcher, [evaluator, dispatch_thread, runner]


def run_worker() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    alerts_hooks.install()
    with open_runtime() as rt:
        evaluator = Evaluator(rt, stop)
        scheduler = build_scheduler(rt, evaluator)
        scheduler.start()
        listener, dispatcher, threads = start_chain(rt, scheduler, evaluator, stop)
        log.info("worker started with jobs: %s", [j.id for j in scheduler.get_jobs()])
        stop.wait()
        dispatcher.wake.set()
        scheduler.shutdown(wait=True)
        for thread in (listener, *threads):
            thread.join(timeout=35)
        dispatcher.close()
        log.info("worker stopped")
