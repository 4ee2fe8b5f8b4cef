"""What the API remembers of items pages and counts is served only while the tables they
were read from are unchanged (service/api/ogc/readcache.py, service/table_changes.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Column, Engine, Integer, MetaData, Table, Text, insert, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import find_tables

from service.api.ogc.catalog import build_catalog
from service.api.ogc.readcache import ItemsCache
from service.api.readcache import ENTRY_OVERHEAD, VersionedCache
from service.communities.models import Community
from service.db import make_session_factory
from service.main import create_app
from service.ogc_collections import Collection
from service.settings import ApiSettings, Settings
from service.table_changes import compact_job, tables_read_by, tables_with_trigger, version_of
from tests.ogc.builders import community_row, insert_communities, table_of

ITEMS = "/ogc/collections/communities/items"


def _cache(client: TestClient) -> ItemsCache:
    cache: ItemsCache = client.app.state.ogc_items_cache  # type: ignore[attr-defined]
    return cache


def _pages(client: TestClient) -> VersionedCache:
    pages: VersionedCache = client.app.state.read_cache  # type: ignore[attr-defined]
    return pages


def _fc(client: TestClient, url: str = ITEMS, **params: Any) -> dict[str, Any]:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _ids(fc: dict[str, Any]) -> list[str]:
    return [f["id"] for f in fc["features"]]


@pytest.fixture
def communities(clean_db: Engine) -> list[str]:
    return insert_communities(clean_db, 30)


def test_a_page_asked_again_is_served_from_memory_until_its_table_changes(
    client: TestClient, clean_db: Engine, communities: list[str]
) -> None:
    pages = _pages(client)
    first = _fc(client, limit=5, offset=10)
    again = _fc(client, limit=5, offset=10)
    assert pages.hits == 1
    assert _ids(again) == _ids(first) == communities[10:15]
    assert again["numberMatched"] == first["numberMatched"] == 30

    # Every kind of committed write is seen by the next request, never the remembered page.
    with clean_db.begin() as conn:
        conn.execute(
            text("UPDATE communities SET name = 'Desa Baru' WHERE code = :c"),
            {"c": communities[11]},
        )
    changed = _fc(client, limit=5, offset=10)
    assert changed["features"][1]["properties"]["name"] == "Desa Baru"
    assert pages.hits == 1

    insert_communities(clean_db, 1, start=200)
    assert _fc(client, limit=5, offset=10)["numberMatched"] == 31
    with clean_db.begin() as conn:
        conn.execute(text("DELETE FROM communities WHERE code = :c"), {"c": communities[10]})
    after_delete = _fc(client, limit=5, offset=10)
    assert after_delete["numberMatched"] == 30
    assert _ids(after_delete) == communities[11:16]
    with clean_db.begin() as conn:
        conn.execute(text("TRUNCATE communities CASCADE"))
    empty = _fc(client, limit=5, offset=10)
    assert empty["numberMatched"] == 0 and empty["features"] == []


def test_an_uncommitted_write_is_not_seen_and_its_commit_is(
    client: TestClient, clean_db: Engine, communities: list[str]
) -> None:
    _fc(client, limit=5)
    with clean_db.connect() as writer:
        writer.execute(text("DELETE FROM communities WHERE code = :c"), {"c": communities[0]})
        # Not committed: the page and count stand (and may be remembered again).
        assert _fc(client, limit=5)["numberMatched"] == 30
        assert _fc(client, limit=5)["features"][0]["id"] == communities[0]
        writer.commit()
    fc = _fc(client, limit=5)
    assert fc["numberMatched"] == 29
    assert fc["features"][0]["id"] == communities[1]


def test_the_count_is_taken_once_for_every_page_of_a_query(
    client: TestClient, clean_db: Engine, communities: list[str]
) -> None:
    cache = _cache(client)
    for offset in (0, 10, 20):
        assert _fc(client, limit=10, offset=offset)["numberMatched"] == 30
    # The first page counted; the next two found the count at the same version.
    assert (cache.count_misses, cache.count_hits) == (1, 2)
    # A filter is another query, with its own count; so is a bounding box.
    assert _fc(client, level="kelurahan", limit=3)["numberMatched"] == 10
    fc = _fc(client, bbox="119.8,-1.0,119.8005,-0.8", limit=3)
    assert fc["numberMatched"] == len([c for c in _ids(fc)])
    assert cache.count_misses == 3
    # Past the end, the count still comes back, and follows a write.
    assert _fc(client, limit=10, offset=100)["numberMatched"] == 30
    insert_communities(clean_db, 2, start=300)
    assert _fc(client, limit=10, offset=100)["numberMatched"] == 32


def test_csv_and_other_shapes_are_remembered_apart(
    client: TestClient, communities: list[str]
) -> None:
    geojson = _fc(client, limit=3, properties="name")
    assert list(geojson["features"][0]["properties"]) == ["name"]
    full = _fc(client, limit=3)
    assert "population" in full["features"][0]["properties"]
    csv = client.get(ITEMS, params={"limit": 3, "f": "csv"})
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("id,")
    epsg3857 = _fc(client, limit=3, crs="http://www.opengis.net/def/crs/EPSG/0/3857")
    x = epsg3857["features"][0]["geometry"]["coordinates"][0][0][0][0]
    assert abs(x) > 1000  # metres, not the degrees of the pages before


@pytest.fixture
def no_pages_client(settings: Settings, clean_db: Engine) -> Iterator[TestClient]:
    api = settings.api.model_dump() | {"read_cache_mb": 0}
    app: FastAPI = create_app(
        settings.model_copy(update={"api": ApiSettings(**api)}), engine=clean_db
    )
    with TestClient(app) as c:
        yield c


def test_read_cache_mb_zero_keeps_no_pages(
    no_pages_client: TestClient, communities: list[str]
) -> None:
    for _ in range(3):
        assert _ids(_fc(no_pages_client, limit=4)) == communities[:4]
    assert _pages(no_pages_client).hits == 0 and len(_pages(no_pages_client)) == 0
    assert _cache(no_pages_client).count_hits == 2  # numberMatched is still remembered


def test_entries_are_kept_within_the_memory_limit() -> None:
    cache = VersionedCache(max_bytes=10_000)
    for i in range(30):
        cache.put(("page", i), "1:1", b"x", 1_000 - ENTRY_OVERHEAD)
    assert cache.total <= 10_000
    assert len(cache) == 10
    assert ("page", 29) in cache and ("page", 0) not in cache
    cache.served(("page", 20))  # the least recently served goes first
    cache.put(("page", 30), "1:1", b"x", 1_000 - ENTRY_OVERHEAD)
    assert ("page", 20) in cache and ("page", 21) not in cache
    cache.put(("huge", 0), "1:1", b"x", 5_000)  # over a quarter of the limit: not kept
    assert ("huge", 0) not in cache


@pytest.fixture
def untracked(client: TestClient, clean_db: Engine) -> Iterator[Collection]:
    """A collection over a table without the change trigger."""
    table = Table(
        "ogc_untracked_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("label", Text),
        Column("geom", Text),
    )
    with clean_db.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE ogc_untracked_probe (id int PRIMARY KEY, label text, "
                "geom geometry(Point, 4326))"
            )
        )
        conn.execute(
            text("INSERT INTO ogc_untracked_probe VALUES (1, 'a', ST_Point(120, -1, 4326))")
        )
    catalog = client.app.state.ogc_catalog  # type: ignore[attr-defined]
    coll = catalog.add(
        Collection(
            id="untracked-probe",
            title="probe",
            description="no change trigger",
            source=table,
            id_column="id",
            properties=("label",),
        )
    )
    yield coll
    catalog.remove(coll.id)
    with clean_db.begin() as conn:
        conn.execute(text("DROP TABLE ogc_untracked_probe"))


def test_a_table_without_the_trigger_is_read_every_time(
    client: TestClient, clean_db: Engine, untracked: Collection
) -> None:
    url = "/ogc/collections/untracked-probe/items"
    assert _fc(client, url)["features"][0]["properties"]["label"] == "a"
    with clean_db.begin() as conn:
        conn.execute(text("UPDATE ogc_untracked_probe SET label = 'b'"))
    assert _fc(client, url)["features"][0]["properties"]["label"] == "b"
    cache = _cache(client)
    assert _pages(client).hits == 0 and cache.count_hits == cache.count_misses == 0


def test_every_table_a_collection_reads_carries_the_change_trigger(clean_db: Engine) -> None:
    with Session(clean_db) as session:
        covered = tables_with_trigger(session)
    for coll in build_catalog().collections():
        read = set(tables_read_by(coll.table()))
        for flt in coll.filters:
            if flt.where is not None:
                condition = flt.where(coll.table(), [1])
                read |= {t.name for t in find_tables(condition) if isinstance(t, Table)}
        assert read, coll.id
        assert read <= covered, (coll.id, read - covered)


def _version(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        weight, xid = conn.execute(select(version_of({"communities"}))).scalar_one().split(":")
    return int(weight), int(xid)


def _change_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM table_changes WHERE table_name = 'communities'")
            ).scalar_one()
        )


def test_compaction_keeps_the_version_and_folds_the_rows(
    clean_db: Engine, communities: list[str]
) -> None:
    start = _version(clean_db)
    for i in range(5):
        insert_communities(clean_db, 1, start=100 + i)
    before = _version(clean_db)
    assert before[0] == start[0] + 5 and before[1] > start[1]
    assert _change_rows(clean_db) >= 6
    compact_job(make_session_factory(clean_db))
    assert _change_rows(clean_db) == 1
    assert _version(clean_db)[0] == before[0]
    insert_communities(clean_db, 1, start=120)
    assert _version(clean_db)[0] == before[0] + 1


def test_one_write_transaction_is_one_change(clean_db: Engine) -> None:
    start = _version(clean_db)
    with clean_db.begin() as conn:
        for i in range(3):
            conn.execute(insert(table_of(Community)), [community_row(500 + i)])
        conn.execute(text("UPDATE communities SET population = 1"))
    weight, xid = _version(clean_db)
    assert weight == start[0] + 1 and xid > start[1]
    with clean_db.begin() as conn:
        conn.execute(text("SAVEPOINT s"))
        conn.execute(text("DELETE FROM communities"))
        conn.execute(text("ROLLBACK TO SAVEPOINT s"))
    # A rolled-back write (here a savepoint's) is no change: its change row goes with it.
    assert _version(clean_db)[0] == start[0] + 1
