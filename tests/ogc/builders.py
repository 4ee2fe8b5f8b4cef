"""Builders for OGC API test data: communities and hazard zones on a grid of squares near Palu."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, insert

from service.communities.models import Community
from service.db import Base
from service.hazards.models import HazardLayer, HazardZone

# Cells of CELL degrees laid out in rows of ROW_LEN, starting at the south-west corner ORIGIN.
ORIGIN = (119.80, -1.00)
CELL = 0.01
ROW_LEN = 20


def table_of(model: type[Base]) -> Table:
    """The model's Table: declarative types `__table__` as a FromClause, which insert() refuses."""
    table = model.__table__
    assert isinstance(table, Table), table
    return table


def square_wkt(index: int) -> str:
    x0 = ORIGIN[0] + (index % ROW_LEN) * CELL
    y0 = ORIGIN[1] + (index // ROW_LEN) * CELL
    x1, y1 = x0 + CELL * 0.9, y0 + CELL * 0.9
    ring = f"{x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}"
    return f"SRID=4326;MULTIPOLYGON((({ring})))"


def cell_centre(index: int) -> tuple[float, float]:
    x0 = ORIGIN[0] + (index % ROW_LEN) * CELL
    y0 = ORIGIN[1] + (index // ROW_LEN) * CELL
    return x0 + CELL * 0.45, y0 + CELL * 0.45


def community_code(index: int) -> str:
    return f"72.71.{index // 100 + 1:02d}.{1001 + index % 100}"


def community_row(index: int) -> dict[str, Any]:
    district = f"72.71.{index // 100 + 1:02d}"
    return {
        "code": community_code(index),
        "name": f"Desa Uji {index}",
        "level": "kelurahan" if index % 3 == 0 else "desa",
        "province_code": "72",
        "province_name": "Sulawesi Tengah",
        "regency_code": "72.71",
        "regency_name": "Kota Palu",
        "district_code": district,
        "district_name": f"Kecamatan {index // 100 + 1}",
        "population": 1000 + index,
        "area_km2": 1.25,
        "share_elderly": 0.1 if index % 2 else None,
        "has_early_warning": bool(index % 2),
        "drills_per_year": index % 4,
        "properties": {},
        "geom": square_wkt(index),
    }


def insert_communities(engine: Engine, count: int, start: int = 0) -> list[str]:
    rows = [community_row(i) for i in range(start, start + count)]
    with engine.begin() as conn:
        conn.execute(insert(table_of(Community)), rows)
    return [r["code"] for r in rows]


def insert_hazard_layer(
    engine: Engine,
    *,
    name: str,
    hazard: str,
    version: int = 1,
    classes: list[tuple[str, float | None, int]],
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
) -> tuple[int, list[int]]:
    """A zones layer; classes are (class, intensity, grid cell index) -> layer id, zone ids."""
    layers, zones = table_of(HazardLayer), table_of(HazardZone)
    with engine.begin() as conn:
        layer_id = conn.execute(
            insert(layers).returning(layers.c.id),
            {
                "name": name,
                "version": version,
                "role": "hazard",
                "hazard": hazard,
                "kind": "zones",
                "source": "test",
                "valid_from": valid_from,
                "valid_to": valid_to,
                "classification": {},
                "properties": {},
            },
        ).scalar_one()
        ids = [
            conn.execute(
                insert(zones).returning(zones.c.id),
                {
                    "layer_id": layer_id,
                    "hazard_class": cls,
                    "intensity": intensity,
                    "properties": {},
                    "geom": square_wkt(cell),
                },
            ).scalar_one()
            for cls, intensity, cell in classes
        ]
    return layer_id, ids
