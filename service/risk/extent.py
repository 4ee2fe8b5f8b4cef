"""Where the scored communities are: the map's first view."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# Communities whose label points lie within this distance (degrees, ~30 km) form one cluster.
CLUSTER_EPS_DEG = 0.3

_LARGEST_CLUSTER = text(
    """
    WITH scored AS (
        SELECT c.geom, ST_PointOnSurface(c.geom) AS p
        FROM communities c
        WHERE EXISTS (
            SELECT 1 FROM risk_scores s
            WHERE s.community_id = c.id AND s.superseded_at IS NULL
        )
    ), clustered AS (
        SELECT geom, ST_ClusterDBSCAN(p, eps := :eps, minpoints := 1) OVER () AS cid
        FROM scored
    )
    SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
    FROM (
        SELECT ST_Extent(geom) AS e, count(*) AS n FROM clustered
        GROUP BY cid ORDER BY n DESC, cid LIMIT 1
    ) AS biggest
    """
)
_ALL = text(
    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
    "FROM (SELECT ST_Extent(geom) AS e FROM communities) AS x"
)


def first_view_bounds(session: Session) -> list[float] | None:
    """The largest cluster of scored communities; without scores, every community; else None."""
    row = session.execute(_LARGEST_CLUSTER, {"eps": CLUSTER_EPS_DEG}).first()
    if row is None or row[0] is None:
        row = session.execute(_ALL).first()
    if row is None or row[0] is None:
        return None
    return [round(float(v), 6) for v in row]
