"""Demo data: generated in code, realistic, consistent, and idempotent to load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import Engine, text

from service.demo import (
    DEMO_LAYERS,
    N_COMMUNITIES,
    demo_communities,
    demo_flood_depth,
    demo_grid,
    demo_population,
    demo_volcano_zones,
    load_demo,
)
from service.settings import DatabaseSettings, Settings


def test_generated_communities_tile_the_area() -> None:
    frame = demo_communities()
    assert len(frame) == N_COMMUNITIES and frame["kode"].is_unique
    assert frame["kode"].str.match(r"^99\.71\.0\d\.1\d{3}$").all()
    assert frame.geometry.is_valid.all()
    geoms = np.asarray(frame.geometry.values)
    union = shapely.union_all(geoms)
    assert abs(union.area - shapely.area(geoms).sum()) < 1e-9  # no overlaps
    assert frame["population"].gt(0).all()
    # Some indicators are deliberately unknown.
    assert frame["share_elderly"].isna().any() and frame["share_elderly"].notna().any()


def test_rasters_share_one_grid_and_keep_population() -> None:
    grid = demo_grid()
    communities = demo_communities()
    depth = demo_flood_depth(grid)
    population = demo_population(grid, communities)
    assert depth.shape == population.shape == (grid.height, grid.width)
    assert 0 < (depth > 0.1).mean() < 0.5  # some of the city is wet, most is not
    assert depth.max() > 1.5  # the deepest class occurs
    assert population.sum() == np.float32(population.sum())
    assert abs(float(population.sum()) - communities["population"].sum()) < 5


def test_volcano_zones_are_nested_rings() -> None:
    zones = demo_volcano_zones()
    assert list(zones["KRB"]) == [f"Kawasan Rawan Bencana {n}" for n in ("III", "II", "I")]
    geoms = list(zones.geometry)
    assert all(g.is_valid for g in geoms)
    assert geoms[0].intersection(geoms[1]).area < 1e-12  # rings do not overlap


def test_load_demo_is_idempotent(
    settings: Settings, database_url: str, clean_db: Engine, data_dir: Path
) -> None:
    # DatabaseSettings reads its URL by alias; `url=` alone would lose to the DATABASE_URL env.
    settings = settings.model_copy(update={"database": DatabaseSettings(DATABASE_URL=database_url)})
    first = load_demo(settings)
    assert first.communities == {"created": N_COMMUNITIES, "updated": 0, "unchanged": 0}
    assert first.layers_added == list(DEMO_LAYERS)
    # The real public feeds are registered, disabled: the demo never depends on reaching them.
    assert "bmkg-autogempa" in first.feeds_added
    second = load_demo(settings)
    assert second.feeds_added == []
    with clean_db.connect() as conn:
        enabled = conn.execute(text("SELECT bool_or(enabled) FROM feeds")).scalar()
    assert enabled is False
    assert second.communities == {"created": 0, "updated": 0, "unchanged": N_COMMUNITIES}
    assert second.layers_added == [] and second.layers_present == list(DEMO_LAYERS)
    with clean_db.connect() as conn:
        layers = conn.execute(
            text("SELECT name, version, kind, role, raster_path FROM hazard_layers ORDER BY name")
        ).all()
        zones = conn.execute(text("SELECT hazard_class FROM hazard_zones ORDER BY id")).scalars()
        assert list(zones) == ["KRB III", "KRB II", "KRB I"]
    assert [(n, v) for n, v, *_ in layers] == [(n, 1) for n in sorted(DEMO_LAYERS)]
    for _, _, kind, _, path in layers:
        assert kind == "zones" or (data_dir / path).is_file()
