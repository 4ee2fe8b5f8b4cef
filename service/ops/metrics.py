"""Prometheus metrics.

HTTP latency is measured in-process (per route template, so ids in paths do not explode the
label set). Everything about the pipeline (feeds, recomputes, deliveries, the outbox) is read
from PostgreSQL at scrape time, so any API process answers for the whole deployment; the
queries (`DbGauge`) come from the layer above that knows the domains (service/api/metrics.py),
as this module sits below them. Each query is guarded: a table that a database does not have
yet is skipped, and one failing query never breaks the endpoint.

With several uvicorn workers in one container set `PROMETHEUS_MULTIPROC_DIR` (an empty,
writable folder) and the HTTP histograms of all workers are summed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Executable, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class DbGauge:
    """One gauge family filled from one query: label columns first, value last.

    `query` is a SQLAlchemy select against the owning domain's models (the app's gauges are
    in service/api/metrics.py), or SQL text; `tables` are the tables it needs."""

    name: str
    documentation: str
    tables: Sequence[str]
    query: str | Executable
    labels: Sequence[str] = field(default_factory=tuple)


class DatabaseCollector(Collector):
    def __init__(
        self, engine_getter: Callable[[], Engine | None], gauges: Sequence[DbGauge] = ()
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
                gauges = self._gauges
                present = _present_tables(conn, {t for g in gauges for t in g.tables})
                for gauge in gauges:
                    if not all(t in present for t in gauge.tables):
                        continue
                    family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=gauge.labels)
                    try:
                        with conn.begin_nested() if conn.in_transaction() else conn.begin():
                            query = gauge.query
                            rows = conn.execute(
                                text(query) if isinstance(query, str) else query
                            ).all()
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
    """The registry of one app: HTTP latency plus the database collector of `gauges`."""

    def __init__(
        self, engine_getter: Callable[[], Engine | None], gauges: Sequence[DbGauge] = ()
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_latency = Histogram(
            "siaga_http_request_duration_seconds",
            "HTTP request latency by route template",
            labelnames=("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._db = DatabaseCollector(engine_getter, gauges)
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


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
