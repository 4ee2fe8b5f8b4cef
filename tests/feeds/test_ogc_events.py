"""The OGC API collection `events`: footprints and epicentres, filters type/time/bbox/magnitude."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.feeds.events import ingest_reports
from service.feeds.parsers import cap, usgs
from service.settings import FeedSettings

ITEMS = "/ogc/collections/events/items"


def _seed(shared_data: Path, session_factory: sessionmaker[Session]) -> None:
    reports = usgs.parse(
        (shared_data / "feeds/usgs/usgs_summary_4.5_week_2020.geojson").read_bytes()
    )
    reports.append(
        cap.parse_alert(
            (shared_data / "feeds/cap/bmkg_nowcast_cap_id_CGT20260924002_alert.xml").read_bytes()
        )
    )
    with session_factory() as s, s.begin():
        ingest_reports(session=s, reports=reports, feed_id=None, tolerances=FeedSettings())


def test_events_collection_is_listed(client: TestClient) -> None:
    ids = [c["id"] for c in client.get("/ogc/collections").json()["collections"]]
    assert "events" in ids
    meta = client.get("/ogc/collections/events").json()
    assert meta["id"] == "events" and any(link["rel"] == "items" for link in meta["links"])


def test_events_filters(
    client: TestClient, shared_data: Path, session_factory: sessionmaker[Session]
) -> None:
    _seed(shared_data, session_factory)
    r = client.get(ITEMS, params={"limit": 1000})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["numberMatched"] == 92
    # CAP: the unioned kecamatan polygons; earthquakes: the MMI VI area or the epicentre.
    kinds = {f["properties"]["type"]: f["geometry"]["type"] for f in body["features"]}
    assert kinds["extreme_weather"] == "MultiPolygon"

    weather = client.get(ITEMS, params={"type": "extreme_weather"}).json()
    (alert,) = weather["features"]
    assert alert["properties"]["severity"] == "Moderate" and alert["properties"]["source"] == "cap"

    strong = client.get(ITEMS, params={"min_magnitude": "6", "limit": 1000}).json()
    mags = [f["properties"]["magnitude"] for f in strong["features"]]
    assert mags and min(mags) >= 6.0
    assert strong["numberMatched"] == sum(
        1 for f in body["features"] if (f["properties"]["magnitude"] or 0) >= 6
    )

    # Indonesia's bounding box and the first days of the week only.
    indonesia = client.get(
        ITEMS, params={"bbox": "95,-11,141,6", "type": "earthquake", "limit": 1000}
    ).json()
    ternate = [f for f in indonesia["features"] if f["properties"]["epicentre_lon"] == 127.2634]
    assert len(ternate) == 1 and ternate[0]["properties"]["magnitude"] == 5.0
    assert all(95 - 5 <= f["properties"]["epicentre_lon"] <= 141 + 5 for f in indonesia["features"])
    window = client.get(
        ITEMS, params={"datetime": "2020-10-06T00:00:00Z/2020-10-06T23:59:59Z", "limit": 1000}
    ).json()
    days = {f["properties"]["time"][:10] for f in window["features"]}
    assert days == {"2020-10-06"} and 0 < window["numberMatched"] < 91

    bad = client.get(ITEMS, params={"min_magnitude": "big"})
    assert bad.status_code == 400
    one = client.get(f"{ITEMS}/{alert['id']}").json()
    assert one["id"] == alert["id"] and one["properties"]["type"] == "extreme_weather"
