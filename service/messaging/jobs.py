"""Messaging in the worker: the dispatcher runs as a scheduler job that drains the outbox.

The job fires every `dispatch_interval_s` (max one instance per worker, so a tick that finds a
running drain is skipped) and sends until nothing is due. Several workers simply compete for
rows with SKIP LOCKED. `siaga messaging dispatch` runs the same loop without the scheduler,
for dedicated dispatcher processes.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING

from service.messaging.dispatcher import Dispatcher

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from service.runtime import Runtime


def register(scheduler: BaseScheduler, rt: Runtime) -> None:
    dispatcher = Dispatcher.from_settings(
        session_factory=rt.session_factory, settings=rt.settings.alerts
    )
    atexit.register(dispatcher.close)
    scheduler.add_job(
        dispatcher.drain,
        "interval",
        seconds=rt.settings.alerts.dispatch_interval_s,
        id="messaging.dispatch",
        name="send due outbox deliveries",
        kwargs={"max_seconds": 10.0},
        max_instances=1,
        coalesce=True,
    )
