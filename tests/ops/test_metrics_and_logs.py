"""/metrics in Prometheus text format; JSON logs carry the request id."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.logs import JsonFormatter, RequestIdFilter


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_metrics_latency_by_route_template(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.delete("/api/v1/keys/12345").status_code == 401
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    fams = _families(r.text)
    counts = {
        (lbl["method"], lbl["route"], lbl["status"]): v
        for lbl, v in fams["siaga_http_request_duration_seconds_count"]
    }
    assert counts[("GET", "/healthz", "200")] == 1
    assert counts[("DELETE", "/api/v1/keys/{key_id}", "401")] == 1
    assert fams["siaga_database_up"] == [({}, 1.0)]
    assert fams["siaga_metrics_query_errors"] == [({}, 0.0)]
    # No raw ids in route labels.
    assert not any("12345" in route for (_, route, _) in counts)


def test_request_id_generated_and_echoed(client: TestClient) -> None:
    r = client.get("/healthz")
    assert len(r.headers["x-request-id"]) == 32
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    # Anything unsafe for a log line is replaced, not echoed.
    r = client.get("/healthz", headers={"X-Request-ID": "x" * 300})
    assert r.headers["x-request-id"] != "x" * 300


def test_access_log_is_json_with_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.get("/healthz", headers={"X-Request-ID": "trace-7"})
    records = [r for r in caplog.records if r.name == "service.access"]
    assert records, "no access log line"
    record = records[-1]
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "trace-7"
    assert line["route"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
    assert isinstance(line["duration_ms"], float)


def test_unexpected_error_is_problem_json_with_request_id(app) -> None:
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("bug")

    with TestClient(app) as c:
        r = c.get("/boom-for-test", headers={"X-Request-ID": "r-500"})
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-request-id"] == "r-500" and r.json()["request_id"] == "r-500"
    assert "bug" not in r.text  # internals stay in the log


def test_scrape_time_gauges_are_guarded(clean_db) -> None:
    """A missing table is skipped, a broken query is counted, the rest still answer."""
    from prometheus_client import CollectorRegistry, generate_latest
    from sqlalchemy import text

    from service.ops.metrics import DatabaseCollector, DbGauge

    with clean_db.begin() as conn:
        conn.execute(text("CREATE TABLE ops_metric_probe (feed text, age float)"))
        conn.execute(text("INSERT INTO ops_metric_probe VALUES ('bmkg', 12.5), ('usgs', 3)"))
    try:
        gauges = [
            DbGauge("probe_missing", "absent table", ("no_such_table",), "SELECT 1"),
            DbGauge(
                "probe_broken",
                "bad column",
                ("ops_metric_probe",),
                "SELECT nope FROM ops_metric_probe",
            ),
            DbGauge(
                "probe_age",
                "ages",
                ("ops_metric_probe",),
                "SELECT feed, age FROM ops_metric_probe",
                ("feed",),
            ),
        ]
        registry = CollectorRegistry()
        registry.register(DatabaseCollector(lambda: clean_db, gauges))
        fams = _families(generate_latest(registry).decode())
        assert "probe_missing" not in fams and "probe_broken" not in fams
        ages = {labels["feed"]: value for labels, value in fams["probe_age"]}
        assert ages == {"bmkg": 12.5, "usgs": 3.0}
        assert fams["siaga_metrics_query_errors"] == [({}, 1.0)]
        assert fams["siaga_database_up"] == [({}, 1.0)]
    finally:
        with clean_db.begin() as conn:
            conn.execute(text("DROP TABLE ops_metric_probe"))
