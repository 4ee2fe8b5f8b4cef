"""Signals from the risk and feeds tables, through the scheduled job, into alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Point, box
from sqlalchemy import select

from service.alerts.jobs import evaluate_job
from service.alerts.models import Alert, AlertRule
from service.alerts.signals import gather_signals
from service.communities.models import Community
from service.feeds.models import EventIntensity, HazardEvent
from service.hazards.models import HazardLayer
from service.risk.models import RiskScore
from service.runtime import Runtime

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
A, B = "32.73.01.1001", "32.73.01.1002"


def _layer(session, name: str, version: int) -> HazardLayer:
    layer = HazardLayer(
        name=name,
        version=version,
        role="hazard",
        hazard="flood",
        kind="zones",
        classification={"name": "x", "type": "categorical", "classes": []},
        properties={},
        extent=from_shape(box(107.6, -6.9, 107.8, -6.8), srid=4326),
    )
    session.add(layer)
    session.flush()
    return layer


def _score(
    session, community_id: int, layer: HazardLayer, level: str, superseded: bool = False
) -> None:
    session.add(RiskScore(
        community_id=community_id, layer_id=layer.id, layer_name=layer.name, hazard="flood",
        method="coverage", score={"rendah": 0.1, "sedang": 0.5, "tinggi": 0.8}[level], level=level,
        hazard_index=0.5, vulnerability_index=0.5, capacity_index=0.5,
        computed_at=NOW - timedelta(hours=1),
        superseded_at=NOW if superseded else None,
    ))  # fmt: skip


def _event(session, **kw) -> HazardEvent:
    values = {
        "status": "active",
        "time": NOW - timedelta(hours=1),
        "primary_source": "bmkg",
        "primary_source_id": kw.pop("sid"),
        "revision": 1,
        "properties": {},
        "raw": {},
    }
    values.update(kw)
    event = HazardEvent(**values)
    session.add(event)
    session.flush()
    return event


def seed(session, tree) -> None:
    ids = {c: session.scalar(select(Community.id).where(Community.code == c)) for c in (A, B)}
    old, new = _layer(session, "banjir-bandung", 1), _layer(session, "banjir-bandung", 2)
    _score(session, ids[A], old, "tinggi", superseded=True)  # history: not a signal
    _score(session, ids[A], new, "sedang")
    _score(session, ids[B], new, "rendah")
    quake = _event(
        session,
        sid="q1",
        type="earthquake",
        title="Gempa M5.9 Garut",
        magnitude=5.9,
        epicentre=from_shape(Point(107.7, -7.3), srid=4326),
    )
    session.add(EventIntensity(event_id=quake.id, community_id=ids[A], mmi=6.2, method="ipe"))
    session.add(EventIntensity(event_id=quake.id, community_id=ids[B], mmi=3.1, method="ipe"))
    _event(session, sid="old", type="earthquake", time=NOW - timedelta(days=2))  # outside window
    _event(
        session,
        sid="cap1",
        type="extreme_weather",
        severity="Severe",
        alert_level=None,
        title="Hujan Lebat dan Petir",
        expires=NOW + timedelta(hours=2),
        footprint=from_shape(MultiPolygon([box(107.69, -6.91, 107.75, -6.85)]), srid=4326),
    )
    _event(
        session,
        sid="gone",
        type="flood",
        severity="Extreme",
        status="cancelled",
        footprint=from_shape(MultiPolygon([box(107.5, -7.0, 107.9, -6.7)]), srid=4326),
    )
    session.commit()


def test_gather_signals_reads_current_scores_and_recent_events(
    session, settings, make_tree
) -> None:
    tree = make_tree()
    seed(session, tree)
    signals = gather_signals(session=session, settings=settings, now=NOW)
    got = sorted((s.community_code, s.hazard, s.risk_level, s.mmi, s.cap_severity) for s in signals)
    assert got == [
        (A, "earthquake", None, 6.2, None),
        (A, "flood", "sedang", None, None),
        (B, "earthquake", None, 3.1, None),
        (B, "extreme_weather", None, None, "Severe"),  # the CAP polygon touches B only
        (B, "flood", "rendah", None, None),
    ]
    refs = {(s.community_code, s.hazard): s.source_ref for s in signals}
    assert refs[(A, "flood")].startswith("risk:layer:") and refs[(A, "earthquake")].startswith(
        "event:"
    )


def test_evaluate_job_turns_signals_into_alerts(
    settings, engine, session_factory, session, make_tree, outbox_rows
) -> None:
    tree = make_tree()
    seed(session, tree)
    for rule in (
        AlertRule(
            group_id=tree.group.id,
            name="gempa",
            hazards=["earthquake"],
            trigger="mmi",
            threshold="5",
        ),
        AlertRule(
            group_id=tree.group.id,
            name="cuaca",
            hazards=["extreme_weather"],
            trigger="cap_severity",
            threshold="Severe",
        ),
        AlertRule(
            group_id=tree.group.id,
            name="banjir",
            hazards=["flood"],
            trigger="risk_level",
            threshold="sedang",
        ),
    ):
        rule.ack_minutes = {}
        session.add(rule)
    session.commit()
    rt = Runtime(settings, engine, session_factory)
    summary = evaluate_job(rt, now=NOW)
    # The flood score comes from a hazard map (no feed, no event): never a warning.
    assert summary is not None and len(summary.alerts_created) == 2
    assert summary.notices_created == []  # the rule did not ask for preparedness notices
    again = evaluate_job(rt, now=NOW + timedelta(minutes=1))
    assert again is not None and again.alerts_created == []
    session.expire_all()
    alerts = {(a.hazard, a.community_code): a for a in session.scalars(select(Alert))}
    assert set(alerts) == {("earthquake", A), ("extreme_weather", B)}
    # The reason: magnitude, place and the local time of the quake (02:00 UTC = 09:00 WIB).
    assert (
        alerts[("earthquake", A)].level == 2
        and alerts[("earthquake", A)].headline == "Gempa M5.9 Garut 09:00 WIB"
    )
    assert alerts[("extreme_weather", B)].level == 2
    body = outbox_rows.sent(alert_id=alerts[("earthquake", A)].id)[0]["body"]
    assert "GEMPA BUMI" in body and "Sukamaju" in body
