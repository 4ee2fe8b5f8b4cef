"""Test data for the map: a grid of desa near Merapi, volcano and flood zones, real scores.

Scores come from the risk domain's own recompute (no hand-written levels), so the tiles and
the risk card the browser sees are what a deployment would serve.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine
from sqlalchemy.orm import Session, sessionmaker

from service.hazards import schemes
from service.risk.service import recompute_layer
from service.settings import Settings
from tests.risk import builders

WEST, SOUTH, STEP = 110.30, -7.80, 0.02
COLS, ROWS = 12, 8
VENT = (110.42, -7.64)  # north-east of the grid: the KRB rings cover its upper right


@dataclass(frozen=True)
class MapData:
    codes: list[str]
    names: list[str]
    centres: list[tuple[float, float]]
    bounds: tuple[float, float, float, float]


def code_of(i: int, j: int) -> str:
    return f"34.04.{i + 1:02d}.{2001 + j}"  # unique for i < 100 and any j


def build_map_data(
    session_factory: sessionmaker[Session],
    settings: Settings,
    *,
    cols: int = COLS,
    rows: int = ROWS,
    step: float = STEP,
) -> MapData:
    """cols x rows square desa of `step` degrees from (WEST, SOUTH); KRB rings and flood bands
    scaled to the grid."""
    boxes, codes, names, centres = [], [], [], []
    scale = (cols * step) / (COLS * STEP)
    for i in range(cols):
        for j in range(rows):
            x, y = WEST + i * step, SOUTH + j * step
            boxes.append(shapely.box(x, y, x + step, y + step))
            codes.append(code_of(i, j))
            names.append(f"Desa Uji {i + 1}-{j + 1}")
            centres.append((x + step / 2, y + step / 2))
    comms = gpd.GeoDataFrame({"kode": codes, "nama": names}, geometry=boxes, crs=4326)
    vent = shapely.Point(WEST + (VENT[0] - WEST) * scale, SOUTH + (VENT[1] - SOUTH) * scale)
    krb = gpd.GeoDataFrame(
        {"KRB": ["KRB III", "KRB II", "KRB I"]},
        geometry=[
            vent.buffer(0.06 * scale),
            vent.buffer(0.12 * scale).difference(vent.buffer(0.06 * scale)),
            vent.buffer(0.20 * scale).difference(vent.buffer(0.12 * scale)),
        ],
        crs=4326,
    )
    # Flood bands along the southern edge (a river plain): high, medium, low going north.
    flood = gpd.GeoDataFrame(
        {"kelas": ["high", "medium", "low"]},
        geometry=[
            shapely.box(WEST, SOUTH, WEST + cols * step, SOUTH + 0.03 * scale),
            shapely.box(WEST, SOUTH + 0.03 * scale, WEST + cols * step, SOUTH + 0.06 * scale),
            shapely.box(WEST, SOUTH + 0.06 * scale, WEST + cols * step, SOUTH + 0.09 * scale),
        ],
        crs=4326,
    )
    # Population: denser towards the south-west (the town), 0.002° cells.
    cell = 0.002
    cell = max(cell, step / 10)
    ncols, nrows = round(cols * step / cell), round(rows * step / cell)
    yy, xx = np.mgrid[0:nrows, 0:ncols]
    people = (5 + 40 * (xx / ncols < 0.4) * (yy / nrows > 0.5) + 10 * (yy / nrows)).astype(
        "float32"
    )
    transform = Affine(cell, 0, WEST, 0, -cell, SOUTH + rows * step)
    pop_path = builders.write_raster(
        settings.storage.data_dir / "pop_uji.tif", people, transform, nodata=-1.0
    )
    with session_factory() as s, s.begin():
        builders.add_raster_layer(
            s, settings.storage.data_dir, pop_path, name="pop_uji", role="exposure"
        )
        builders.add_communities(
            s,
            comms,
            share_poor=0.4,
            share_elderly=0.3,
            share_children=0.35,
            share_disabled=0.2,
            has_early_warning=False,
        )
        volcano = builders.add_zone_layer(
            s, krb, "KRB", name="krb_uji", hazard="volcano", scheme=schemes.VOLCANO_KRB.to_dict()
        )
        flooding = builders.add_zone_layer(
            s,
            flood,
            "kelas",
            name="banjir_uji",
            hazard="flood",
            scheme=schemes.LOW_MEDIUM_HIGH.to_dict(),
        )
        layer_ids = [volcano.id, flooding.id]
    for layer_id in layer_ids:
        result = recompute_layer(
            session_factory=session_factory, layer_id=layer_id, settings=settings
        )
        assert result["status"] == "succeeded", result
    bounds = (WEST, SOUTH, WEST + cols * step, SOUTH + rows * step)
    return MapData(codes=codes, names=names, centres=centres, bounds=bounds)
