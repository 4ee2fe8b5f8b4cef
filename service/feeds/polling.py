"""Polling: fetch robustly, parse, ingest, record health; never overlapping per feed.

* httpx client injected; explicit connect/read timeouts and a User-Agent naming Siaga.
* Conditional GET with the stored ETag / Last-Modified; 304 = nothing new.
* The body is streamed and abandoned past `max_body_mb` or `max_poll_seconds` (a body
  that never ends); 5xx, 429, timeouts and dropped connections are retried with
  exponential backoff; other 4xx are not.
* HTML, empty bodies, truncated JSON and every parse error leave the feed unhealthy with
  the error text; the ingest transaction rolls back, so earlier events stay as they were.
* A transaction-scoped PostgreSQL advisory lock per feed is held for the whole poll, so
  two worker processes never poll the same feed at once (the second one skips).
* Every connection goes through the address guard (service.feeds.guard): http(s) only, no
  private/loopback/link-local/metadata address unless SIAGA_FEEDS_ALLOWED_HOSTS lists it.
* A failure is stored as `<reason>: <detail>`; public views show only the reason (REASONS).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from service.db import advisory_lock_key, try_advisory_xact_lock, utcnow
from service.feeds.events import IngestResult, expire_events, ingest_reports
from service.feeds.guard import (
    AddressRefused,
    check_request,
    guarded_transport,
    mask_url,
    parse_allowed,
)
from service.feeds.models import EventReport, Feed
from service.feeds.parsers import bmkg, cap, gdacs, shakemap, usgs
from service.feeds.parsers.common import FeedParseError, Report
from service.settings import FeedSettings, Settings
from service.wakeup import SIGNALS, notify

log = logging.getLogger(__name__)
RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    def __init__(self, message: str, *, transient: bool, reason: str = "fetch_error") -> None:
        super().__init__(message)
        self.transient = transient
        self.reason = reason


def _parse_error(message: str, reason: str) -> FeedParseError:
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


@dataclass
class FetchResult:
    status_code: int
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status_code == 304

    @property
    def no_content(self) -> bool:
        return self.status_code in (204, 404)


def build_client(feeds: FeedSettings, **kwargs: Any) -> httpx.Client:
    """The client feeds are polled with (callers own and close it).

    Its connections go through the address guard; redirects are followed hop by hop, each hop
    opening a guarded connection. Proxy variables are ignored (a proxy would connect for us,
    past the guard)."""
    timeout = httpx.Timeout(feeds.read_timeout_s, connect=feeds.connect_timeout_s)
    allowed = parse_allowed(feeds.allowed_hosts)
    kwargs.setdefault("transport", guarded_transport(allowed))
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": feeds.user_agent},
        follow_redirects=True,
        trust_env=False,
        event_hooks={"request": [check_request(allowed)]},
        **kwargs,
    )


def _read_bounded(resp: httpx.Response, *, max_bytes: int, deadline: float, url: str) -> bytes:
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"{url} declares {int(declared)} bytes, over the {max_bytes} byte limit",
            transient=False,
            reason="too_large",
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(
                f"{url} sent more than {max_bytes} bytes; download abandoned",
                transient=False,
                reason="too_large",
            )
        if time.monotonic() > deadline:
            raise FetchError(
                f"{url} was still sending after the download deadline; abandoned",
                transient=False,
                reason="too_slow",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def fetch(
    client: httpx.Client,
    url: str,
    *,
    settings: FeedSettings,
    etag: str | None = None,
    last_modified: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """GET with conditional headers, bounded size and time, retries for transient errors."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    max_bytes = int(settings.max_body_mb * 1024 * 1024)
    attempts = settings.retries + 1
    last_error: FetchError | None = None
    for attempt in range(1, attempts + 1):
        deadline = time.monotonic() + settings.max_poll_seconds
        try:
            with client.stream("GET", url, headers=headers) as resp:
                status = resp.status_code
                if status == 304:
                    return FetchResult(304, b"", "", etag, last_modified, attempt)
                if status in RETRY_STATUSES:
                    raise FetchError(
                        f"{url} answered HTTP {status}", transient=True, reason=f"http_{status}"
                    )
                if status in (204, 404):
                    return FetchResult(
                        status, b"", resp.headers.get("content-type", ""), attempts=attempt
                    )
                if status >= 400:
                    raise FetchError(
                        f"{url} answered HTTP {status}", transient=False, reason=f"http_{status}"
                    )
                body = _read_bounded(resp, max_bytes=max_bytes, deadline=deadline, url=url)
                return FetchResult(
                    status,
                    body,
                    resp.headers.get("content-type", ""),
                    resp.headers.get("etag"),
                    resp.headers.get("last-modified"),
                    attempt,
                )
        except FetchError as exc:
            last_error = exc
        except (AddressRefused, httpx.UnsupportedProtocol) as exc:
            raise FetchError(str(exc), transient=False, reason="refused_address") from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"{url}: {exc}", transient=False, reason="too_many_redirects") from exc
        except httpx.TimeoutException as exc:
            last_error = FetchError(
                f"{url} timed out ({type(exc).__name__})", transient=True, reason="timeout"
            )
        except httpx.TransportError as exc:
            last_error = FetchError(
                f"{url} failed: {type(exc).__name__}: {exc}", transient=True, reason="connect_error"
            )
        if not last_error.transient or attempt == attempts:
            break
        sleep(settings.retry_backoff_s * 2 ** (attempt - 1) * (1 + random.random() / 4))
    assert last_error is not None
    if attempts > 1 and last_error.transient:
        raise FetchError(
            f"{last_error} (after {attempts} attempts)", transient=True, reason=last_error.reason
        )
    raise last_error


def looks_like_html(body: bytes, content_type: str) -> bool:
    head = body.lstrip()[:200].lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


@dataclass
class PollOutcome:
    feed_id: int
    status: str  # ok | not_modified | no_events | error | skipped_locked | disabled
    error: str | None = None  # the full text (admins); `reason` is what the public sees
    reason: str | None = None
    ingest: IngestResult = field(default_factory=IngestResult)
    shaking: list[Any] = field(default_factory=list)
    fetched_at: float | None = None  # perf_counter when the response was complete
    done_at: float | None = None  # perf_counter when scores were stored

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


def _parse(kind: str, body: bytes) -> list[Report]:
    if kind == "bmkg":
        return bmkg.parse(body)
    if kind == "usgs":
        return usgs.parse(body)
    if kind == "gdacs":
        return gdacs.parse(body)
    if kind == "cap":
        return [cap.parse_alert(body)]
    raise FeedParseError(f"no parser for feed kind {kind!r}")


def _cap_index_reports(
    client: httpx.Client,
    session_factory: sessionmaker[Session],
    body: bytes,
    settings: FeedSettings,
) -> tuple[list[Report], list[str]]:
    """Fetch the alerts an index lists that we do not have yet (bounded per poll)."""
    entries = cap.parse_index(body)
    with session_factory() as s:
        known = set(
            s.scalars(
                select(EventReport.source_id).where(
                    EventReport.source == "cap", EventReport.source_id.in_([e.id for e in entries])
                )
            )
        )
    reports, errors = [], []
    for entry in [e for e in entries if e.id not in known and e.link][
        : settings.max_cap_alerts_per_poll
    ]:
        try:
            got = fetch(client, str(entry.link), settings=settings)
            if got.no_content:
                raise FetchError(
                    f"{entry.link} answered HTTP {got.status_code}",
                    transient=False,
                    reason=f"http_{got.status_code}",
                )
            reports.append(cap.parse_alert(got.body))
        except (FetchError, FeedParseError) as exc:
            errors.append(f"{entry.id}: {exc}")
    return reports, errors


def _record(
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


def poll_feed(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    client: httpx.Client,
    feed_id: int,
    force: bool = False,
    before_recompute: Callable[[], None] | None = None,
) -> PollOutcome:
    """Poll one feed now. Safe to call from any number of processes at once.

    `before_recompute` is called after the per-community shaking is committed and before the
    risk recompute starts (the worker waits there for the rule evaluation it woke)."""
    from service.feeds import shaking

    with session_factory() as lock_session, lock_session.begin():
        if not try_advisory_xact_lock(lock_session, "feed-poll", feed_id):
            return PollOutcome(feed_id, "skipped_locked")
        feed = lock_session.get(Feed, feed_id)
        if feed is None:
            return PollOutcome(feed_id, "error", error="feed not found", reason="not_found")
        if not feed.enabled and not force:
            return PollOutcome(feed_id, "disabled")
        kind, url, etag, last_modified = feed.kind, feed.url, feed.etag, feed.last_modified
        started, t0 = utcnow(), time.perf_counter()
        outcome = PollOutcome(feed_id, "ok")
        try:
            got = fetch(
                client, url, settings=settings.feeds, etag=etag, last_modified=last_modified
            )
            outcome.fetched_at = time.perf_counter()
            if got.not_modified:
                outcome.status = "not_modified"
                _record(
                    session_factory,
                    feed_id,
                    ok=True,
                    status="not_modified",
                    error=None,
                    started=started,
                    t0=t0,
                )
                return outcome
            if got.no_content:
                if kind != "gdacs":
                    raise FetchError(
                        f"{url} answered HTTP {got.status_code} with no data",
                        transient=False,
                        reason=f"http_{got.status_code}",
                    )
                outcome.status = "no_events"  # GDACS's way of saying "nothing matches"
                _record(
                    session_factory,
                    feed_id,
                    ok=True,
                    status="no_events",
                    error=None,
                    started=started,
                    t0=t0,
                )
                return outcome
            if not got.body.strip():
                raise _parse_error(
                    f"{url} answered HTTP {got.status_code} with an empty body", "empty_body"
                )
            if looks_like_html(got.body, got.content_type) and kind != "raster":
                raise _parse_error(
                    f"{url} returned an HTML page ({got.content_type or 'no content-type'}), "
                    f"not {kind} data: the URL may be wrong or the site may be blocking us",
                    "html_page",
                )
            grid = None
            partial: list[str] = []
            if kind == "shakemap":
                grid = shakemap.parse(got.body)
                reports = [grid.to_report()]
            elif kind == "cap" and not cap.is_alert(got.body):
                reports, partial = _cap_index_reports(
                    client, session_factory, got.body, settings.feeds
                )
            elif kind == "raster":
                reports = []
                _ingest_raster(session_factory, settings, feed_id, got.body)
            else:
                reports = _parse(kind, got.body)
            with session_factory() as s, s.begin():
                # One ingest at a time across feeds and workers: BMKG's and USGS's reports of
                # one quake arriving together must meet, not both create an event.
                s.execute(
                    text("SELECT pg_advisory_xact_lock(:k)"),
                    {"k": advisory_lock_key("feed-ingest")},
                )
                outcome.ingest = ingest_reports(
                    session=s, reports=reports, feed_id=feed_id, tolerances=settings.feeds
                )
                expire_events(session=s)
                # Wake the rule evaluation at commit for events that are signals by their
                # footprint (CAP, GDACS); earthquakes wake it when their shaking is stored.
                for event_id in outcome.ingest.new_events + outcome.ingest.revised_events:
                    if event_id not in outcome.ingest.shaking_changed:
                        notify(s, SIGNALS, f"event:{event_id}")
                error = "; ".join(partial)[:2000] if partial else None
                _record(
                    session_factory,
                    feed_id,
                    ok=not partial,
                    status="ok" if not partial else "partial",
                    error=error,
                    reason="cap_alerts_failed",
                    started=started,
                    t0=t0,
                    seen=len(outcome.ingest.new_events),
                    etag=got.etag,
                    last_modified=got.last_modified,
                    session=s,
                )
            if partial:
                outcome.status, outcome.error = "partial", error
                outcome.reason = "cap_alerts_failed"
        except (FetchError, FeedParseError, ValueError) as exc:
            outcome.status, outcome.error, outcome.reason = "error", str(exc), reason_of(exc)
            _record(
                session_factory,
                feed_id,
                ok=False,
                status="error",
                error=str(exc),
                reason=outcome.reason,
                started=started,
                t0=t0,
            )
            log.warning("feed %s poll failed: %s", feed_id, exc)
            return outcome
        except Exception as exc:  # a bug or a database error: still recorded on the feed
            log.exception("feed %s poll crashed", feed_id)
            outcome.status, outcome.error = "error", f"internal error: {type(exc).__name__}: {exc}"
            outcome.reason = "internal_error"
            _record(
                session_factory,
                feed_id,
                ok=False,
                status="error",
                error=outcome.error,
                reason="internal_error",
                started=started,
                t0=t0,
            )
            return outcome
        # The events are committed; now what they mean for communities: the per-community
        # shaking of every event first (each commit wakes the rule evaluation), the slower
        # risk recompute after, so no alert waits for a score.
        outcome.shaking = _update_shaking_all(session_factory, settings, outcome, grid)
        if before_recompute is not None and any(r.layer_id for r in outcome.shaking):
            before_recompute()
        for result in outcome.shaking:
            if result.layer_id is None:
                continue
            t = time.perf_counter()
            result.recomputed = shaking.recompute_risk(session_factory, result.layer_id, settings)
            result.recompute_seconds = time.perf_counter() - t
            result.seconds += result.recompute_seconds
        outcome.done_at = time.perf_counter()
        return outcome


def _update_shaking_all(
    session_factory: sessionmaker[Session],
    settings: Settings,
    outcome: PollOutcome,
    grid: shakemap.ShakeMapGrid | None,
) -> list[Any]:
    """Per-community shaking for every earthquake the poll changed (no risk recompute)."""
    from service.feeds import shaking

    results = []
    targets = outcome.ingest.shaking_changed
    if grid is not None:
        event_id = _event_of(session_factory, grid.event_id)
        targets = [t for t in targets if t != event_id]
        if event_id is not None:
            results.append(
                shaking.update_shaking(
                    session_factory=session_factory,
                    settings=settings,
                    event_id=event_id,
                    grid=grid,
                    recompute=False,
                )
            )
    for event_id in targets:
        try:
            results.append(
                shaking.update_shaking(
                    session_factory=session_factory,
                    settings=settings,
                    event_id=event_id,
                    recompute=False,
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


def _ingest_raster(
    session_factory: sessionmaker[Session], settings: Settings, feed_id: int, body: bytes
) -> None:
    """A raster feed: the GeoTIFF becomes a new version of the configured hazard layer."""
    from service.feeds.layers import raster_layer_version, read_geotiff
    from service.feeds.shaking import recompute_risk

    try:
        array, transform, crs = read_geotiff(body)
    except Exception as exc:  # rasterio raises many types for a bad file
        raise FeedParseError(f"raster feed: not a readable GeoTIFF ({str(exc)[:200]})") from exc
    if crs not in ("EPSG:4326", "OGC:CRS84"):
        raise FeedParseError(f"raster feed: the GeoTIFF is in {crs}; publish it in EPSG:4326")
    with session_factory() as s:
        s.begin()  # committed inside the raster file's guard below
        feed = s.get(Feed, feed_id)
        assert feed is not None
        opts = feed.options or {}
        with raster_layer_version(
            session=s,
            data_dir=settings.storage.data_dir,
            name=opts.get("layer_name") or feed.name,
            hazard=opts.get("hazard") or "other",
            array=array,
            transform=transform,
            classification=opts.get("classification") or {},
            title=opts.get("title") or feed.name,
            source=mask_url(feed.url),  # layers are public: no credentials
            unit=opts.get("unit"),
            properties={"feed_id": feed_id},
        ) as layer:
            layer_id = layer.id
            s.commit()
    recompute_risk(session_factory, layer_id, settings)


def due_feed_ids(session: Session, *, now: datetime | None = None) -> list[int]:
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


def poll_due_feeds(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    client: httpx.Client,
    before_recompute: Callable[[], None] | None = None,
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
                    before_recompute=before_recompute,
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
