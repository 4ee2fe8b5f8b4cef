"""Polling: fetch (service.feeds.fetching), parse by kind (service.feeds.kinds), ingest,
record health (service.feeds.health), then the shaking; never overlapping per feed.

* HTML, empty bodies, truncated JSON and every parse error leave the feed unhealthy with
  the error text; the ingest transaction rolls back, so earlier events stay as they were.
* A transaction-scoped PostgreSQL advisory lock per feed is held for the whole poll, so
  two worker processes never poll the same feed at once (the second one skips).
* Each new shaking layer's commit queues its risk recompute as a job (service.jobs) and wakes
  the workers; the poll never waits for scores, so nothing downstream of a poll does either.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from service.db import advisory_lock_key, try_advisory_xact_lock, utcnow
from service.feeds import shaking
from service.feeds.events import IngestResult, expire_events, ingest_reports
from service.feeds.fetching import FetchError, FetchResult, fetch, looks_like_html
from service.feeds.health import due_feed_ids, parse_error, reason_of, record_poll
from service.feeds.kinds import KINDS, Parsed, PollContext
from service.feeds.models import EventReport, Feed
from service.feeds.parsers.common import FeedParseError
from service.feeds.parsers.shakemap import ShakeMapGrid
from service.settings import Settings
from service.wakeup import SIGNALS, notify

log = logging.getLogger(__name__)


@dataclass
class PollOutcome:
    feed_id: int
    status: str  # ok | not_modified | no_events | error | skipped_locked | disabled
    error: str | None = None  # the full text (admins); `reason` is what the public sees
    reason: str | None = None
    ingest: IngestResult = field(default_factory=IngestResult)
    shaking: list[Any] = field(default_factory=list)
    fetched_at: float | None = None  # perf_counter when the response was complete
    done_at: float | None = None  # perf_counter when the shaking was stored (recompute queued)

    def public(self, *, detail: bool = True) -> dict[str, Any]:
        """The outcome; without `detail` the error is only its classified reason."""
        i = self.ingest
        return {
            "feed_id": self.feed_id,
            "status": self.status,
            "error": self.error if detail else self.reason,
            "new_events": i.new_events,
            "revised_events": i.revised_events,
            "reports_seen": i.reports_seen,
            "new_reports": i.new_reports,
            "updated_reports": i.updated_reports,
            "shaking_layers": [s.layer_id for s in self.shaking if s.layer_id is not None],
        }


@dataclass
class _Poll:
    """One poll of one feed: what it needs to fetch, parse and record."""

    ctx: PollContext
    kind: str
    url: str
    etag: str | None
    last_modified: str | None
    started: datetime = field(default_factory=utcnow)
    t0: float = field(default_factory=time.perf_counter)

    def record(self, *, ok: bool, status: str, error: str | None = None, **kw: Any) -> None:
        record_poll(
            self.ctx.session_factory,
            self.ctx.feed_id,
            ok=ok,
            status=status,
            error=error,
            started=self.started,
            t0=self.t0,
            **kw,
        )


def poll_feed(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    client: httpx.Client,
    feed_id: int,
    force: bool = False,
) -> PollOutcome:
    """Poll one feed now. Safe to call from any number of processes at once."""
    with session_factory() as lock_session, lock_session.begin():
        if not try_advisory_xact_lock(lock_session, "feed-poll", feed_id):
            return PollOutcome(feed_id, "skipped_locked")
        feed = lock_session.get(Feed, feed_id)
        if feed is None:
            return PollOutcome(feed_id, "error", error="feed not found", reason="not_found")
        if not feed.enabled and not force:
            return PollOutcome(feed_id, "disabled")
        ctx = PollContext(session_factory, settings, client, feed_id)
        poll = _Poll(ctx, feed.kind, feed.url, feed.etag, feed.last_modified)
        outcome = PollOutcome(feed_id, "ok")
        try:
            parsed = _fetch_and_parse(poll, outcome)
            if parsed is None:
                return outcome  # nothing new
            _ingest(poll, parsed, outcome)
        except (FetchError, FeedParseError, ValueError) as exc:
            outcome.status, outcome.error, outcome.reason = "error", str(exc), reason_of(exc)
            poll.record(ok=False, status="error", error=str(exc), reason=outcome.reason)
            log.warning("feed %s poll failed: %s", feed_id, exc)
            return outcome
        except Exception as exc:  # a bug or a database error: still recorded on the feed
            log.exception("feed %s poll crashed", feed_id)
            outcome.status, outcome.error = "error", f"internal error: {type(exc).__name__}: {exc}"
            outcome.reason = "internal_error"
            poll.record(ok=False, status="error", error=outcome.error, reason="internal_error")
            return outcome
        # The events are committed; now what they mean for communities: the per-community
        # shaking of every event (each commit wakes the rule evaluation and queues the
        # layer's risk recompute).
        outcome.shaking = _update_shaking_all(session_factory, settings, outcome, parsed.grid)
        outcome.done_at = time.perf_counter()
        return outcome


def _fetch_and_parse(poll: _Poll, outcome: PollOutcome) -> Parsed | None:
    """Fetch and parse the body; None (with the feed's state recorded) when there is nothing
    new. Raises FetchError / FeedParseError for the caller to record."""
    settings = poll.ctx.settings.feeds
    got = fetch(
        poll.ctx.client,
        poll.url,
        settings=settings,
        etag=poll.etag,
        last_modified=poll.last_modified,
    )
    outcome.fetched_at = time.perf_counter()
    kind = KINDS.get(poll.kind)
    if got.not_modified:
        outcome.status = "not_modified"
        poll.record(ok=True, status="not_modified")
        return None
    if got.no_content:
        if kind is None or not kind.empty_means_no_events:
            raise FetchError(
                f"{poll.url} answered HTTP {got.status_code} with no data",
                transient=False,
                reason=f"http_{got.status_code}",
            )
        outcome.status = "no_events"  # GDACS's way of saying "nothing matches"
        poll.record(ok=True, status="no_events")
        return None
    _check_body(poll, got, binary=kind is not None and kind.binary)
    if kind is None:
        raise FeedParseError(f"no parser for feed kind {poll.kind!r}")
    parsed = kind.handle(poll.ctx, got.body)
    poll.etag, poll.last_modified = got.etag, got.last_modified  # stored with the ingest
    return parsed


def _check_body(poll: _Poll, got: FetchResult, *, binary: bool) -> None:
    if not got.body.strip():
        raise parse_error(
            f"{poll.url} answered HTTP {got.status_code} with an empty body", "empty_body"
        )
    if looks_like_html(got.body, got.content_type) and not binary:
        raise parse_error(
            f"{poll.url} returned an HTML page ({got.content_type or 'no content-type'}), "
            f"not {poll.kind} data: the URL may be wrong or the site may be blocking us",
            "html_page",
        )


def _ingest(poll: _Poll, parsed: Parsed, outcome: PollOutcome) -> None:
    """Store the reports and the feed's state in one transaction."""
    settings = poll.ctx.settings
    with poll.ctx.session_factory() as s, s.begin():
        # One ingest at a time across feeds and workers: BMKG's and USGS's reports of
        # one quake arriving together must meet, not both create an event.
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_lock_key("feed-ingest")})
        outcome.ingest = ingest_reports(
            session=s, reports=parsed.reports, feed_id=poll.ctx.feed_id, tolerances=settings.feeds
        )
        expire_events(session=s)
        # Wake the rule evaluation at commit for events that are signals by their
        # footprint (CAP, GDACS); earthquakes wake it when their shaking is stored.
        for event_id in outcome.ingest.new_events + outcome.ingest.revised_events:
            if event_id not in outcome.ingest.shaking_changed:
                notify(s, SIGNALS, f"event:{event_id}")
        error = "; ".join(parsed.partial)[:2000] if parsed.partial else None
        poll.record(
            ok=not parsed.partial,
            status="ok" if not parsed.partial else "partial",
            error=error,
            reason="cap_alerts_failed",
            seen=len(outcome.ingest.new_events),
            etag=poll.etag,
            last_modified=poll.last_modified,
            session=s,
        )
    if parsed.partial:
        outcome.status, outcome.error = "partial", error
        outcome.reason = "cap_alerts_failed"


def _update_shaking_all(
    session_factory: sessionmaker[Session],
    settings: Settings,
    outcome: PollOutcome,
    grid: ShakeMapGrid | None,
) -> list[shaking.ShakingResult]:
    """Per-community shaking for every earthquake the poll changed; each queues its layer's
    risk recompute."""
    results = []
    targets = outcome.ingest.shaking_changed
    if grid is not None:
        event_id = _event_of(session_factory, grid.event_id)
        targets = [t for t in targets if t != event_id]
        if event_id is not None:
            results.append(
                shaking.update_shaking(
                    session_factory=session_factory, settings=settings, event_id=event_id, grid=grid
                )
            )
    for event_id in targets:
        try:
            results.append(
                shaking.update_shaking(
                    session_factory=session_factory, settings=settings, event_id=event_id
                )
            )
        except Exception:  # one event's estimate must not stop the others
            log.exception("shaking estimate for event %s failed", event_id)
    return results


def _event_of(session_factory: sessionmaker[Session], shakemap_id: str) -> int | None:
    with session_factory() as s:
        return s.scalar(
            select(EventReport.event_id).where(
                EventReport.source == "shakemap", EventReport.source_id == shakemap_id
            )
        )


def poll_due_feeds(
    *, session_factory: sessionmaker[Session], settings: Settings, client: httpx.Client
) -> list[PollOutcome]:
    """The scheduler tick: poll each due feed; one feed's failure never stops the others."""
    with session_factory() as s, s.begin():
        expire_events(session=s)  # CAP nowcasts lapse even when no feed is due
        ids = due_feed_ids(s)
    outcomes = []
    for feed_id in ids:
        try:
            outcomes.append(
                poll_feed(
                    session_factory=session_factory,
                    settings=settings,
                    client=client,
                    feed_id=feed_id,
                )
            )
        except Exception as exc:  # a bug or DB hiccup on one feed: record it, go on
            log.exception("polling feed %s crashed", feed_id)
            outcomes.append(
                PollOutcome(
                    feed_id, "error", error=f"internal error: {exc}", reason="internal_error"
                )
            )
    return outcomes
