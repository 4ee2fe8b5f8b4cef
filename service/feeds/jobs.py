"""Scheduled feed work: a tick that polls every due feed (registered in service.scheduler)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.base import BaseScheduler

from service.feeds.fetching import build_client
from service.feeds.polling import poll_due_feeds
from service.runtime import Runtime

log = logging.getLogger(__name__)
JOB_ID = "feeds.poll_due"


def poll_due(rt: Runtime) -> None:
    """Poll the feeds whose interval has passed; per-feed advisory locks make this safe to
    run in every worker at once."""
    with build_client(rt.settings.feeds) as client:
        outcomes = poll_due_feeds(
            session_factory=rt.session_factory, settings=rt.settings, client=client
        )
    for o in outcomes:
        if o.status == "error":
            log.warning("feed %s: %s", o.feed_id, o.error)
        elif o.ingest.new_events or o.ingest.revised_events:
            log.info(
                "feed %s: %d new, %d revised events",
                o.feed_id,
                len(o.ingest.new_events),
                len(o.ingest.revised_events),
            )


def register(scheduler: BaseScheduler, rt: Runtime) -> None:
    scheduler.add_job(
        poll_due,
        "interval",
        seconds=rt.settings.feeds.tick_seconds,
        args=[rt],
        id=JOB_ID,
        replace_existing=True,
    )
