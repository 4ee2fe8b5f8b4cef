"""Imports from several processes at once: exact counts, no duplicate codes or versions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.communities.service import import_communities
from service.hazards.schemas import HazardLayerCreate
from service.hazards.service import import_hazard_layer
from tests.geobuilders import community_rows, square, write_geojson


def test_parallel_community_imports_create_each_code_once(
    tmp_path: Path, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    path = write_geojson(tmp_path / "desa.geojson", community_rows(40))
    with ThreadPoolExecutor(4) as pool:
        reports = list(
            pool.map(
                lambda _: import_communities(session_factory=session_factory, path=path), range(4)
            )
        )
    assert sorted(r.created for r in reports) == [0, 0, 0, 40]
    assert sorted(r.unchanged for r in reports) == [0, 40, 40, 40]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM communities")).scalar() == 40


def test_parallel_layer_imports_get_distinct_versions(
    tmp_path: Path, session_factory: sessionmaker[Session], data_dir: Path
) -> None:
    rows = [{"KRB": "III", "geometry": square(0, 0)}]
    path = write_geojson(tmp_path / "krb.geojson", rows)
    spec = HazardLayerCreate(name="krb", hazard="volcano")
    with ThreadPoolExecutor(4) as pool:
        reports = list(
            pool.map(
                lambda _: import_hazard_layer(
                    session_factory=session_factory, data_dir=data_dir, paths=[path], spec=spec
                ),
                range(4),
            )
        )
    assert sorted(r.layer.version for r in reports) == [1, 2, 3, 4]
