"""The scrape-time gauges of /metrics: one query per gauge family, against the domains' models.

They read feeds, risk, jobs and messaging, so they live here above every domain (the
collector that runs them, service/ops/metrics.py, sits below the domains). Keep every query
cheap: small tables or indexed aggregates.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, extract, func, literal, select

from service.feeds.models import Feed
from service.hazards.models import HazardLayer
from service.jobs.models import Job
from service.messaging.models import Delivery
from service.ops.metrics import DbGauge
from service.risk.models import RiskLayerState

UNSENT = ("pending", "sending")


def _age(column: Any) -> ColumnElement[Any]:
    """Seconds from `column` to now."""
    return extract("epoch", func.now() - column)


def _feeds(*columns: Any) -> Any:
    return select(Feed.name, *columns).where(Feed.enabled)


def _layer_states(*columns: Any) -> Any:
    return select(HazardLayer.name, *columns).join(
        HazardLayer, HazardLayer.id == RiskLayerState.layer_id
    )


_FEEDS = (Feed.__tablename__,)
_LAYER_STATES = (RiskLayerState.__tablename__, HazardLayer.__tablename__)
_DELIVERIES = (Delivery.__tablename__,)

DB_GAUGES: tuple[DbGauge, ...] = (
    DbGauge(
        "siaga_feed_last_poll_age_seconds",
        "seconds since each feed was last polled",
        _FEEDS,
        _feeds(_age(Feed.last_poll_at)),
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_last_success_age_seconds",
        "seconds since each feed last polled successfully",
        _FEEDS,
        _feeds(_age(Feed.last_success_at)),
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_last_poll_duration_seconds",
        "duration of each feed's last poll",
        _FEEDS,
        _feeds(Feed.last_duration_ms / 1000.0),
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_consecutive_failures",
        "failed polls in a row per feed",
        _FEEDS,
        _feeds(Feed.consecutive_failures),
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_last_poll_result",
        "1 for each feed's last poll result",
        _FEEDS,
        _feeds(func.coalesce(Feed.last_status, "never"), literal(1)),
        ("feed", "result"),
    ),
    DbGauge(
        "siaga_risk_recompute_duration_seconds",
        "duration of the last recompute per hazard layer",
        _LAYER_STATES,
        _layer_states(RiskLayerState.status, RiskLayerState.duration_s),
        ("layer", "result"),
    ),
    DbGauge(
        "siaga_risk_last_recompute_age_seconds",
        "seconds since each hazard layer was last scored",
        _LAYER_STATES,
        _layer_states(_age(RiskLayerState.attempted_at)),
        ("layer",),
    ),
    DbGauge(
        "siaga_jobs",
        "background jobs by kind and status",
        (Job.__tablename__,),
        select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status),
        ("kind", "status"),
    ),
    DbGauge(
        "siaga_deliveries",
        "outbox deliveries by channel and status",
        _DELIVERIES,
        select(Delivery.channel, Delivery.status, func.count()).group_by(
            Delivery.channel, Delivery.status
        ),
        ("channel", "status"),
    ),
    DbGauge(
        "siaga_outbox_queue_depth",
        "deliveries not yet handed to a provider (pending or sending)",
        _DELIVERIES,
        select(func.count()).select_from(Delivery).where(Delivery.status.in_(UNSENT)),
    ),
    DbGauge(
        "siaga_outbox_oldest_undelivered_age_seconds",
        "age of the oldest delivery not yet handed to a provider (0 when none)",
        _DELIVERIES,
        select(func.coalesce(_age(func.min(Delivery.created_at)), 0)).where(
            Delivery.status.in_(UNSENT)
        ),
    ),
)
