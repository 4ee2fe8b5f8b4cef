"""Assembly points and shelters (issue 13 item 6): CRUD by coordinators in JSON, GeoJSON and
CSV, the 5 km rule, the OGC collection, and the nearest one named in members' messages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.shelters.models import Shelter
from tests.alerts.conftest import add_community

CODE = "32.73.01.1001"  # the square 107.60..107.62 E, -6.90..-6.88 N
URL = f"/api/v1/communities/{CODE}/shelters"


@pytest.fixture
def coordinator(auth_headers):
    return auth_headers("coordinator")


@pytest.fixture
def community(session):
    c = add_community(session, CODE, "Sukamaju")
    session.commit()
    return c


def _count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Shelter))


def test_one_point_as_json_or_feature(client, community, coordinator, session) -> None:
    r = client.post(
        URL,
        headers=coordinator,
        json={
            "name": "Masjid Al-Ikhlas",
            "kind": "shelter",
            "capacity": 150,
            "notes": "lantai 2",
            "lon": 107.61,
            "lat": -6.89,
        },
    )
    assert r.status_code == 201, r.text
    [made] = r.json()
    assert made["name"] == "Masjid Al-Ikhlas" and made["kind"] == "shelter"
    assert (made["lon"], made["lat"], made["capacity"]) == (107.61, -6.89, 150)
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [107.615, -6.885]},
        "properties": {"name": "Lapangan RW 03", "kind": "titik_kumpul"},
    }
    r = client.post(URL, headers=coordinator, json=feature)
    assert r.status_code == 201, r.text
    listed = client.get(URL).json()
    assert [s["name"] for s in listed] == ["Masjid Al-Ikhlas", "Lapangan RW 03"]


def test_bulk_feature_collection_and_csv(client, community, coordinator, session) -> None:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [107.601 + i / 1000, -6.89]},
                "properties": {"name": f"Titik {i}", "capacity": 50},
            }
            for i in range(3)
        ],
    }
    r = client.post(URL, headers=coordinator, json=fc)
    assert r.status_code == 201 and len(r.json()) == 3
    csv = "name,kind,capacity,notes,lon,lat\nSD Negeri 1,shelter,200,,107.612,-6.888\n"
    csv += "Balai Desa,posko,,buka 24 jam,107.613,-6.887\n"
    r = client.post(URL, headers={**coordinator, "content-type": "text/csv"}, content=csv)
    assert r.status_code == 201, r.text
    assert [s["kind"] for s in r.json()] == ["shelter", "posko"]
    assert r.json()[1]["capacity"] is None
    assert _count(session) == 5


def test_far_outside_is_refused_with_the_distance(client, community, coordinator, session) -> None:
    # 2 km outside the boundary is fine (a shelter on the next hill); 9 km is a typo.
    near = {"name": "Bukit", "lon": 107.64, "lat": -6.89}
    assert client.post(URL, headers=coordinator, json=near).status_code == 201
    far = {"name": "Salah ketik", "lon": 107.70, "lat": -6.89}
    r = client.post(URL, headers=coordinator, json=far)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "Salah ketik" in detail and "km outside" in detail and "limit is 5 km" in detail
    assert "8.8 km" in detail or "8.9 km" in detail
    # A bulk with one bad row stores nothing.
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": c},
                "properties": {"name": n},
            }
            for n, c in (("Baik", [107.61, -6.89]), ("Jauh", [106.8, -6.2]))
        ],
    }
    r = client.post(URL, headers=coordinator, json=fc)
    assert r.status_code == 400 and "shelter 2 'Jauh'" in r.json()["detail"]
    assert _count(session) == 1


@pytest.mark.parametrize(
    ("body", "headers", "needle"),
    [
        ('{"name": "x", "lon": 107.61}', {}, "lat"),
        ('{"name": "x", "lon": 107.61, "lat": -6.89, "kind": "rumah"}', {}, "kind"),
        ('{"name": "x", "lon": 107.61, "lat": -6.89, "parent": 1}', {}, "parent"),
        ('{"name": "x", "lon": 190, "lat": -6.89}', {}, "lon"),
        ('{"name": "  ", "lon": 107.61, "lat": -6.89}', {}, "name"),
        ("{not json", {}, "not valid JSON"),
        ('{"type": "Feature", "geometry": {"type": "Polygon"}}', {}, "Point"),
        ('{"type": "FeatureCollection", "features": []}', {}, "at least one"),
        ("name,lon\nx,107.6\n", {"content-type": "text/csv"}, "lat"),
        ("name,lon,lat,owner\nx,107.6,-6.9,y\n", {"content-type": "text/csv"}, "owner"),
        ("name,lon,lat\nx,abc,-6.9\n", {"content-type": "text/csv"}, "CSV line 2"),
        ("name,lon,lat\n", {"content-type": "text/csv"}, "no shelter rows"),
        ("<xml/>", {"content-type": "application/xml"}, "application/xml"),
    ],
)
def test_bad_input_is_a_clear_400(
    client, community, coordinator, session, body, headers, needle
) -> None:
    r = client.post(
        URL, headers={"content-type": "application/json", **coordinator, **headers}, content=body
    )
    assert r.status_code == 400, r.text
    assert needle in r.json()["detail"]
    assert _count(session) == 0


def test_roles_edit_and_delete(client, community, coordinator, auth_headers, session) -> None:
    point = {"name": "Pos RW", "lon": 107.61, "lat": -6.89}
    assert client.post(URL, json=point).status_code == 401
    assert client.post(URL, headers=auth_headers("viewer"), json=point).status_code == 403
    r = client.post("/api/v1/communities/99.99/shelters", headers=coordinator, json=point)
    assert r.status_code == 404 and "99.99" in r.json()["detail"]
    made = client.post(URL, headers=coordinator, json=point).json()[0]
    one = f"{URL}/{made['id']}"
    r = client.patch(one, headers=coordinator, json={"capacity": 80, "kind": "posko"})
    assert r.status_code == 200 and (r.json()["capacity"], r.json()["kind"]) == (80, "posko")
    assert r.json()["lon"] == 107.61  # the position stays
    r = client.patch(one, headers=coordinator, json={"lon": 107.9})
    assert r.status_code == 400 and "km outside" in r.json()["detail"]
    r = client.patch(one, headers=coordinator, json={"name": None})
    assert r.status_code == 400
    assert client.patch(one, json={"capacity": 1}).status_code == 401
    assert client.delete(one).status_code == 401
    assert client.delete(one, headers=coordinator).status_code == 204
    assert client.delete(one, headers=coordinator).status_code == 404
    assert client.get("/api/v1/communities/99.99/shelters").status_code == 404


def test_ogc_collection_masks_numbers(client, community, coordinator, auth_headers) -> None:
    point = {
        "name": "Masjid",
        "kind": "shelter",
        "capacity": 100,
        "notes": "kunci di Pak RT 0812-3456-7890",
        "lon": 107.61,
        "lat": -6.89,
    }
    client.post(URL, headers=coordinator, json=point)
    collections = {c["id"] for c in client.get("/ogc/collections").json()["collections"]}
    assert "shelters" in collections
    r = client.get("/ogc/collections/shelters/items", params={"kind": "shelter"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    [feature] = r.json()["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [107.61, -6.89]}
    props = feature["properties"]
    assert props["community_code"] == CODE and props["capacity"] == 100
    assert "0812" not in props["notes"] and "disembunyikan" in props["notes"]
    assert "0812" not in client.get(URL).text  # the public list masks too
    assert "0812" not in client.get(URL, headers=coordinator).text  # PII: responders only
    assert "0812-3456-7890" in client.get(URL, headers=auth_headers("responder")).text
    empty = client.get("/ogc/collections/shelters/items", params={"kind": "posko"}).json()
    assert empty["features"] == []
