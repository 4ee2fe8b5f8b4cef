"""Fixtures for the feeds tests: the fake feed server, fast-failing feed settings, builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pytest
from geoalchemy2.shape import from_shape
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.feeds.models import Feed
from service.settings import FeedSettings, Settings
from tests.fakes.feed_server import FeedServer

BOUNDARIES = "real/admin_boundaries_kepmendagri2025"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def feed_settings(settings: Settings) -> Settings:
    """Short timeouts and a small body limit so every failure mode shows up quickly."""
    feeds = FeedSettings(
        connect_timeout_s=1,
        read_timeout_s=0.5,
        retries=1,
        retry_backoff_s=0.01,
        max_body_mb=3,
        max_poll_seconds=3,
        max_cap_alerts_per_poll=5,
        allowed_hosts=["127.0.0.1"],  # the fake feed servers listen on loopback
    )
    return settings.model_copy(update={"feeds": feeds})


@pytest.fixture
def add_feed(session_factory: sessionmaker[Session]) -> Callable[..., int]:
    def make(name: str, kind: str, url: str, **kw: object) -> int:
        with session_factory() as s, s.begin():
            feed = Feed(
                name=name,
                kind=kind,
                url=url,
                poll_interval_s=kw.pop("interval", 60),
                enabled=kw.pop("enabled", True),
                options=kw.pop("options", {}),
                consecutive_failures=0,
                events_seen=0,
            )
            s.add(feed)
            s.flush()
            return feed.id

    return make


def _multi(geom: object) -> MultiPolygon:
    g = make_valid(geom)
    if isinstance(g, Polygon):
        return MultiPolygon([g])
    if isinstance(g, MultiPolygon):
        return g
    return MultiPolygon([p for p in getattr(g, "geoms", []) if isinstance(p, Polygon)])


def load_communities(
    session_factory: sessionmaker[Session], path: Path, *, population: int = 5000
) -> int:
    """Insert the kelurahan/desa of a boundary file as communities (builder, not the importer)."""
    frame = gpd.read_file(path)
    with session_factory() as s, s.begin():
        for row in frame.itertuples():
            s.add(
                Community(
                    code=row.kode,
                    name=row.nama,
                    level=row.level,
                    province_code=row.kode_prov,
                    province_name=row.nama_prov,
                    regency_code=row.kode_kab,
                    regency_name=row.nama_kab,
                    district_code=row.kode_kec,
                    district_name=row.nama_kec,
                    population=population,
                    properties={},
                    geom=from_shape(_multi(row.geometry), srid=4326),
                )
            )
    return len(frame)


@pytest.fixture
def padang_communities(shared_data: Path, session_factory: sessionmaker[Session]) -> int:
    return load_communities(
        session_factory, shared_data / BOUNDARIES / "kota_padang_kelurahan.geojson"
    )


@pytest.fixture
def banda_aceh_communities(shared_data: Path, session_factory: sessionmaker[Session]) -> int:
    return load_communities(
        session_factory, shared_data / BOUNDARIES / "kota_banda_aceh_desa.geojson"
    )
