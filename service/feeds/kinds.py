"""What each feed kind's body becomes: one table from kind to handler (`KINDS`).

A handler takes the poll's context and the fetched body and returns the reports to ingest
(and, for a ShakeMap, the grid to store as shaking; for a CAP index, the errors of the alerts
it could not fetch). A raster feed stores its GeoTIFF as a new hazard layer version and
queues the layer's risk recompute instead of returning reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.feeds.fetching import FetchError, fetch
from service.feeds.guard import mask_url
from service.feeds.layers import raster_layer_version, read_geotiff
from service.feeds.models import EventReport, Feed
from service.feeds.parsers import bmkg, cap, gdacs, shakemap, usgs
from service.feeds.parsers.common import FeedParseError, Report
from service.jobs import RECOMPUTE_LAYER, enqueue
from service.settings import Settings


@dataclass
class PollContext:
    """What a handler may use besides the body: the client for follow-up fetches (CAP index)
    and the database (known alerts, raster layers)."""

    session_factory: sessionmaker[Session]
    settings: Settings
    client: httpx.Client
    feed_id: int


@dataclass
class Parsed:
    reports: list[Report]
    grid: shakemap.ShakeMapGrid | None = None  # a ShakeMap: stored as the event's shaking
    partial: list[str] = field(default_factory=list)  # parts that failed (CAP index alerts)


BodyHandler = Callable[[PollContext, bytes], Parsed]


@dataclass(frozen=True)
class KindHandler:
    """How a poll treats a kind's answers: its body handler and two quirks."""

    handle: BodyHandler
    empty_means_no_events: bool = False  # 204/404 answers "nothing matches" (GDACS)
    binary: bool = False  # not a text format: the HTML-page check does not apply


def _reports(parse: Callable[[bytes], list[Report]]) -> BodyHandler:
    return lambda ctx, body: Parsed(parse(body))


def _shakemap(ctx: PollContext, body: bytes) -> Parsed:
    grid = shakemap.parse(body)
    return Parsed([grid.to_report()], grid=grid)


def _cap(ctx: PollContext, body: bytes) -> Parsed:
    """One CAP alert, or an index (ATOM/RSS) of alerts to fetch."""
    if cap.is_alert(body):
        return Parsed([cap.parse_alert(body)])
    reports, errors = _cap_index_reports(ctx, body)
    return Parsed(reports, partial=errors)


def _cap_index_reports(ctx: PollContext, body: bytes) -> tuple[list[Report], list[str]]:
    """Fetch the alerts an index lists that we do not have yet (bounded per poll)."""
    settings = ctx.settings.feeds
    entries = cap.parse_index(body)
    with ctx.session_factory() as s:
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
            got = fetch(ctx.client, str(entry.link), settings=settings)
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


def _raster(ctx: PollContext, body: bytes) -> Parsed:
    """A raster feed: the GeoTIFF becomes a new version of the configured hazard layer; its
    risk recompute is queued with it (service.jobs)."""
    try:
        array, transform, crs = read_geotiff(body)
    except Exception as exc:  # rasterio raises many types for a bad file
        raise FeedParseError(f"raster feed: not a readable GeoTIFF ({str(exc)[:200]})") from exc
    if crs not in ("EPSG:4326", "OGC:CRS84"):
        raise FeedParseError(f"raster feed: the GeoTIFF is in {crs}; publish it in EPSG:4326")
    with ctx.session_factory() as s:
        s.begin()  # committed inside the raster file's guard below
        feed = s.get(Feed, ctx.feed_id)
        assert feed is not None
        opts = feed.options or {}
        with raster_layer_version(
            session=s,
            data_dir=ctx.settings.storage.data_dir,
            name=opts.get("layer_name") or feed.name,
            hazard=opts.get("hazard") or "other",
            array=array,
            transform=transform,
            classification=opts.get("classification") or {},
            title=opts.get("title") or feed.name,
            source=mask_url(feed.url),  # layers are public: no credentials
            unit=opts.get("unit"),
            properties={"feed_id": ctx.feed_id},
        ) as layer:
            enqueue(session=s, kind=RECOMPUTE_LAYER, params={"layer_id": layer.id, "method": None})
            s.commit()
    return Parsed([])


# Every kind of service.feeds.models.FEED_KINDS has its row (tests/feeds/test_polling.py).
KINDS: dict[str, KindHandler] = {
    "bmkg": KindHandler(_reports(bmkg.parse)),
    "usgs": KindHandler(_reports(usgs.parse)),
    "gdacs": KindHandler(_reports(gdacs.parse), empty_means_no_events=True),
    "cap": KindHandler(_cap),
    "shakemap": KindHandler(_shakemap),
    "raster": KindHandler(_raster, binary=True),
}
