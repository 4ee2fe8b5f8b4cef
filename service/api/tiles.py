"""Vector tiles of current risk levels: `GET /tiles/risk/{z}/{x}/{y}.pbf` (ST_AsMVT)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import text

from service.api.deps import SessionDep
from service.errors import InvalidInput

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22

# One feature per community in the tile: its highest current score (for the given hazard, or
# any). Communities not scored yet are kept with a null level, so the map shows them as
# "belum dinilai" instead of leaving a hole; the lateral lookup runs per community in the
# tile only, on the current-score index.
_TILE_SQL = text("""
WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env),
mvt AS (
  SELECT c.code, c.name, top.hazard, top.level, top.score,
         ST_AsMVTGeom(ST_Transform(c.geom, 3857), bounds.env, 4096, 64, true) AS geom
  FROM communities c
  CROSS JOIN bounds
  LEFT JOIN LATERAL (
    SELECT s.hazard, s.level, s.score
    FROM risk_scores s
    WHERE s.community_id = c.id AND s.superseded_at IS NULL
      AND (CAST(:hazard AS text) IS NULL OR s.hazard = :hazard)
    ORDER BY s.score DESC, s.id DESC
    LIMIT 1
  ) top ON true
  WHERE c.geom && ST_Transform(bounds.env, 4326)
)
SELECT ST_AsMVT(mvt, 'risk', 4096, 'geom') FROM mvt WHERE geom IS NOT NULL
""")


@router.get("/risk/{z}/{x}/{y}.pbf", response_class=Response)
def risk_tile(
    session: SessionDep,
    z: int,
    x: int,
    y: int,
    hazard: Annotated[str | None, Query(description="flood, earthquake, volcano, ...")] = None,
) -> Response:
    """Mapbox Vector Tile (layer `risk`) with code, name, hazard, level, score per community."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {z} is out of range: use 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidInput(
            f"tile {z}/{x}/{y} does not exist: x and y must be in 0..{n - 1} at zoom {z}"
        )
    data = session.execute(_TILE_SQL, {"z": z, "x": x, "y": y, "hazard": hazard}).scalar()
    return Response(
        content=bytes(data or b""),
        media_type=MVT_MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=60"},
    )
