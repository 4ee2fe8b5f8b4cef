"""Vector tiles of current risk levels, as the risk domain's query functions (the API's
/tiles routes call them): one feature per community in the tile with its highest current
score, and the version of what they show (service.table_changes) that a tile's ETag and
the API's remembered tiles are checked against."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.orm import Session

from service.communities.models import Community
from service.risk.models import RiskScore
from service.table_changes import tables_read_by, version_of

TILE_EXTENT = 4096
TILE_BUFFER = 64
LAYER_NAME = "risk"


@cache
def _version() -> ColumnElement[str]:
    """What changes when anything a tile shows changes: any committed write to the tables
    the tile query reads (service.table_changes: the communities and their scores)."""
    return version_of(tables_read_by(_tile_features(by_hazard=True)))


def score_version(session: Session | Connection) -> str:
    """The version of what the tiles show, now (an ETag's source, a cached tile's check)."""
    return str(session.execute(select(_version())).scalar_one())


def risk_tile(
    session: Session | Connection, *, z: int, x: int, y: int, hazard: str | None
) -> tuple[str, bytes]:
    """(version, Mapbox Vector Tile with layer `risk`) for tile z/x/y, read together.

    Communities not scored yet are kept with a null level, so the map shows them as "belum
    dinilai" instead of leaving a hole; the lateral lookup runs per community in the tile
    only, on the current-score index."""
    params: dict[str, object] = {"z": z, "x": x, "y": y}
    if hazard is not None:
        params["hazard"] = hazard
    version, data = session.execute(_tile_statement(hazard is not None), params).one()
    return str(version), bytes(data or b"")


@cache
def _tile_features(by_hazard: bool) -> Select[Any]:
    """The features of tile z, x, y (bound parameters): geometry in tile coordinates, code,
    name and the highest current score's hazard, level and score."""
    env = func.ST_TileEnvelope(bindparam("z"), bindparam("x"), bindparam("y"))
    bounds = select(env.label("env")).cte("bounds")
    top_query = select(RiskScore.hazard, RiskScore.level, RiskScore.score).where(
        RiskScore.community_id == Community.id, RiskScore.superseded_at.is_(None)
    )
    if by_hazard:
        top_query = top_query.where(RiskScore.hazard == bindparam("hazard"))
    top = top_query.order_by(RiskScore.score.desc(), RiskScore.id.desc()).limit(1).lateral("top")
    geom = func.ST_AsMVTGeom(
        func.ST_Transform(Community.geom, 3857), bounds.c.env, TILE_EXTENT, TILE_BUFFER, True
    )
    return (
        select(
            Community.code,
            Community.name,
            top.c.hazard,
            top.c.level,
            top.c.score,
            geom.label("geom"),
        )
        .select_from(Community)
        .join(bounds, true())
        .outerjoin(top, true())
        .where(Community.geom.op("&&")(func.ST_Transform(bounds.c.env, 4326)))
    )


@cache
def _tile_statement(by_hazard: bool) -> Select[Any]:
    """The tile query with z, x, y (and hazard) as bound parameters, built once per process:
    building the expression on every request cost more CPU than PostgreSQL spent on it."""
    mvt = _tile_features(by_hazard).cte("mvt")
    tile = (
        select(func.ST_AsMVT(literal_column("mvt"), LAYER_NAME, TILE_EXTENT, "geom"))
        .select_from(mvt)
        .where(mvt.c.geom.is_not(None))
        .scalar_subquery()
    )
    return select(_version(), tile)
