"""A feed's health and polling state: what its last poll did, why it failed, when it is due.

A failure is stored as `<reason>: <detail>`; public views show only the reason (the
classified `reason_of`, e.g. `timeout`, `http_503`, `html_page`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.feeds.fetching import FetchError
from service.feeds.guard import AddressRefused
from service.feeds.models import Feed
from service.feeds.parsers.common import FeedParseError


def parse_error(message: str, reason: str) -> FeedParseError:
    """A parse error with its classified reason (what the public sees)."""
    exc = FeedParseError(message)
    exc.reason = reason  # type: ignore[attr-defined]
    return exc


def reason_of(exc: BaseException) -> str:
    """The short, classified reason a poll failed (what the public sees)."""
    if isinstance(exc, FetchError | AddressRefused):
        return exc.reason
    if isinstance(exc, FeedParseError | ValueError):
        return str(getattr(exc, "reason", "parse_error"))
    return "internal_error"


def record_poll(
    session_factory: sessionmaker[Session],
    feed_id: int,
    *,
    ok: bool,
    status: str,
    error: str | None,
    started: datetime,
    reason: str | None = None,
    t0: float,
    seen: int = 0,
    etag: str | None = None,
    last_modified: str | None = None,
    session: Session | None = None,
) -> None:
    """Store a poll's outcome on its feed: in `session` (the ingest's transaction) when given,
    else in a transaction of its own."""

    def apply(s: Session) -> None:
        feed = s.get(Feed, feed_id, with_for_update=True)
        if feed is None:
            return
        feed.last_poll_at = started
        feed.last_status = status
        feed.last_duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        if ok:
            feed.last_success_at = utcnow()
            feed.consecutive_failures = 0
            feed.events_seen += seen
            if etag is not None or last_modified is not None:
                feed.etag, feed.last_modified = etag, last_modified
        else:
            feed.consecutive_failures += 1
            feed.last_error = f"{reason or 'error'}: {error or 'unknown error'}"[:2000]
            feed.last_error_at = utcnow()

    if session is not None:
        apply(session)
        return
    with session_factory() as s, s.begin():
        apply(s)


def due_feed_ids(session: Session, *, now: datetime | None = None) -> list[int]:
    """Enabled feeds whose poll interval has passed (or that were never polled)."""
    now = now or utcnow()
    feeds = session.scalars(
        select(Feed)
        .where(Feed.enabled.is_(True))
        .where(or_(Feed.last_poll_at.is_(None), Feed.last_poll_at <= now - timedelta(seconds=5)))
    ).all()
    return [
        f.id
        for f in feeds
        if f.last_poll_at is None or f.last_poll_at + timedelta(seconds=f.poll_interval_s) <= now
    ]
