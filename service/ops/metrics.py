"""Prometheus metrics.

HTTP latency is measured in-process (per route template, so ids in paths do not explode the
label set). Everything about the pipeline (feeds, recomputes, deliveries, the outbox) is read
from PostgreSQL at scrape time, so any API process answers for the whole deployment. Each
query is guarded: a table that a database or branch does not have yet is skipped, and one
failing query never breaks the endpoint.

With several uvicorn workers in one container set `PROMETHEUS_MULTIPROC_DIR` (an empty,
writable folder) and the HTTP histograms of all workers are summed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class DbGauge:
    """One gauge family filled from one SQL query: label columns first, value last."""

    name: str
    documentation: str
    tables: Sequence[str]
    sql: str
    labels: Sequence[str] = field(default_factory=tuple)


# Keep every query cheap: small tables or indexed aggregates. Table and column names follow the
# domains' models; a query whose tables are absent is skipped.
_AGE = "EXTRACT(EPOCH FROM (now() - {}))"
DB_GAUGES: list[DbGauge] = [
    DbGauge(
        "siaga_feed_last_poll_age_seconds",
        "seconds since each feed was last polled",
        ("feeds",),
        f"SELECT name, {_AGE.format('last_poll_at')} FROM feeds WHERE enabled",
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_last_success_age_seconds",
        "seconds since each feed last polled successfully",
        ("feeds",),
        f"SELECT name, {_AGE.format('last_success_at')} FROM feeds WHERE enabled",
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_last_poll_duration_seconds",
        "duration of each feed's last poll",
        ("feeds",),
        "SELECT name, last_duration_ms / 1000.0 FROM feeds WHERE enabled",
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_consecutive_failures",
        "failed polls in a row per feed",
        ("feeds",),
        "SELECT name, consecutive_failures FROM feeds WHERE enabled",
        ("feed",),
    ),
    DbGauge(
        "siaga_feed_last_poll_result",
        "1 for each feed's last poll result",
        ("feeds",),
        "SELECT name, coalesce(last_status, 'never'), 1 FROM feeds WHERE enabled",
        ("feed", "result"),
    ),
    DbGauge(
        "siaga_risk_recompute_duration_seconds",
        "duration of the last recompute per hazard layer",
        ("risk_layer_states", "hazard_layers"),
        "SELECT l.name, s.status, s.duration_s FROM risk_layer_states s "
        "JOIN hazard_layers l ON l.id = s.layer_id",
        ("layer", "result"),
    ),
    DbGauge(
        "siaga_risk_last_recompute_age_seconds",
        "seconds since each hazard layer was last scored",
        ("risk_layer_states", "hazard_layers"),
        f"SELECT l.name, {_AGE.format('s.attempted_at')} FROM risk_layer_states s "
        "JOIN hazard_layers l ON l.id = s.layer_id",
        ("layer",),
    ),
    DbGauge(
        "siaga_jobs",
        "background jobs by kind and status",
        ("jobs",),
        "SELECT kind, status, count(*) FROM jobs GROUP BY kind, status",
        ("kind", "status"),
    ),
    DbGauge(
        "siaga_deliveries",
        "outbox deliveries by channel and status",
        ("message_deliveries",),
        "SELECT channel, status, count(*) FROM message_deliveries GROUP BY channel, status",
        ("channel", "status"),
    ),
    DbGauge(
        "siaga_outbox_queue_depth",
        "deliveries not yet handed to a provider (pending or sending)",
        ("message_deliveries",),
        "SELECT count(*) FROM message_deliveries WHERE status IN ('pending', 'sending')",
    ),
    DbGauge(
        "siaga_outbox_oldest_undelivered_age_seconds",
        "age of the oldest delivery not yet handed to a provider (0 when none)",
        ("message_deliveries",),
        f"SELECT coalesce({_AGE.format('min(created_at)')}, 0) FROM message_deliveries "
        "WHERE status IN ('pending', 'sending')",
    ),
]


def register_db_gauge(gauge: DbGauge) -> None:
    """Domains may add their own scrape-time gauges (called at import time)."""
    if all(g.name != gauge.name for g in DB_GAUGES):
        DB_GAUGES.append(gauge)


class DatabaseCollector(Collector):
    def __init__(
        self, engine_getter: Callable[[], Engine | None], gauges: Sequence[DbGauge] | None = None
    ) -> None:
        self._engine_getter = engine_getter
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        engine = self._engine_getter()
        up = GaugeMetricFamily("siaga_database_up", "1 when the database answered the scrape")
        scrape = GaugeMetricFamily(
            "siaga_metrics_query_errors", "scrape-time queries that failed (see the logs)"
        )
        if engine is None:
            up.add_metric([], 0)
            yield up
            return
        errors = 0
        families: list[Metric] = []
        try:
            with engine.connect() as conn:
                conn.execute(text("SET LOCAL statement_timeout = 5000"))
                gauges = DB_GAUGES if self._gauges is None else self._gauges
                present = _present_tables(conn, {t for g in gauges for t in g.tables})
                for gauge in gauges:
                    if not all(t in present for t in gauge.tables):
                        continue
                    family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
                    try:
                        with conn.begin_nested() if conn.in_transaction() else conn.begin():
                            rows = conn.execute(text(gauge.sql)).all()
                    except SQLAlchemyError as exc:
                        errors += 1
                        log.warning("metrics query %s failed: %s", gauge.name, exc)
                        continue
                    for row in rows:
                        *label_values, value = row
                        if value is None:
                            continue
                        family.add_metric([str(v) for v in label_values], float(value))
                    families.append(family)
            up.add_metric([], 1)
        except SQLAlchemyError as exc:
            log.warning("metrics: database unavailable: %s", exc)
            up.add_metric([], 0)
        scrape.add_metric([], errors)
        yield up
        yield scrape
        yield from families


def _present_tables(conn: object, names: Iterable[str]) -> set[str]:
    names = sorted(set(names))
    if not names:
        return set()
    rows = conn.execute(  # type: ignore[attr-defined]
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = ANY(:names)"
        ),
        {"names": names},
    )
    return {r[0] for r in rows}


class Metrics:
    """The registry of one app: HTTP latency plus the database collector."""

    def __init__(self, engine_getter: Callable[[], Engine | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_latency = Histogram(
            "siaga_http_request_duration_seconds",
            "HTTP request latency by route template",
            labelnames=("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._db = DatabaseCollector(engine_getter)
        self.registry.register(self._db)

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        self.http_latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            registry.register(self._db)
            return generate_latest(registry)
        return generate_latest(self.registry)
