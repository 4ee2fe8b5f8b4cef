"""What a recompute reads: the communities a layer reaches, its population raster, its scheme,
and the coverage weights of the population grid (cached)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import ARRAY, BigInteger, any_, bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from service.communities.models import Community
from service.hazards import population
from service.hazards.models import HazardLayer, HazardZone
from service.risk import cache, rasters
from service.risk.batch_scoring import FLAGS, SHARES, IndicatorFrame
from service.risk.exposure.scanline import coverage_weights
from service.risk.exposure.weights import CoverageWeights
from service.settings import Settings

EQUAL_AREA_CRS = "EPSG:6933"  # for zone/community areas in m²
Progress = Callable[[float, str], None]


class RecomputeError(Exception):
    """A layer could not be computed; the message says why and what to do."""


@dataclass
class LayerInputs:
    layer: HazardLayer
    population: HazardLayer
    communities: list[CommunityRow]
    method: str


# Only the columns scoring reads: loading 84,000 ORM objects with their geometries took
# seconds; geometries are read only when weights must be built (a cache miss).
_ROW_COLUMNS = (
    Community.id,
    Community.updated_at,
    Community.population,
    Community.area_km2,
    Community.share_elderly,
    Community.share_children,
    Community.share_disabled,
    Community.share_poor,
    Community.has_early_warning,
    Community.has_task_force,
    Community.has_evacuation_site,
    Community.drills_per_year,
)


class CommunityRow(NamedTuple):
    """What a recompute needs of a community (no geometry)."""

    id: int
    updated_at: datetime | None
    population: int | None
    area_km2: float | None
    share_elderly: float | None
    share_children: float | None
    share_disabled: float | None
    share_poor: float | None
    has_early_warning: bool | None
    has_task_force: bool | None
    has_evacuation_site: bool | None
    drills_per_year: int | None


def _community_rows(session: Session, where: Any = None) -> list[CommunityRow]:
    q = select(*_ROW_COLUMNS)
    if where is not None:
        q = q.where(where)
    return list(map(CommunityRow._make, session.execute(q.order_by(Community.id))))


def community_geoms(session: Session, ids: list[int]) -> gpd.GeoSeries:
    """The communities' geometries (EPSG:4326), in the order of `ids`."""
    wanted = bindparam("ids", ids, type_=ARRAY(BigInteger))
    found: dict[int, Any] = {
        int(r[0]): r[1]
        for r in session.execute(
            select(Community.id, func.ST_AsBinary(Community.geom)).where(
                Community.id == any_(wanted)
            )
        )
    }
    return gpd.GeoSeries(shapely.from_wkb([bytes(found[i]) for i in ids]), crs="EPSG:4326")


# ------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------


def raster_file(settings: Settings, relative: str) -> Path:
    p = Path(relative)
    return p if p.is_absolute() else settings.storage.data_dir / p


def population_layer_for(session: Session, layer: HazardLayer) -> HazardLayer:
    """The population raster the layer is pinned to; an unpinned layer is pinned now to the
    newest one covering it, so a later population import never changes its figures."""
    pop = session.get(HazardLayer, layer.population_layer_id) if layer.population_layer_id else None
    if pop is None:
        pop = population.newest_covering(session, layer)
        if pop is None:
            raise RecomputeError(
                "no population raster covers this hazard layer: import one as an exposure layer "
                "(siaga hazards import FILE.tif --name population --role exposure)"
            )
        layer.population_layer_id = pop.id
    return pop


def communities_for(session: Session, layer: HazardLayer) -> list[CommunityRow]:
    """Communities inside the layer's extent: those outside every zone get a zero-hazard score
    (the map says they are mapped and safe, not unknown); those outside stay unscored."""
    if layer.extent is not None:
        return _community_rows(session, func.ST_Intersects(Community.geom, layer.extent))
    if layer.kind == "zones":
        zones = select(HazardZone.id).where(
            HazardZone.layer_id == layer.id, func.ST_Intersects(HazardZone.geom, Community.geom)
        )
        return _community_rows(session, zones.exists())
    return _community_rows(session)


def community_set_key(communities: list[CommunityRow]) -> str:
    return cache.cache_key(
        tuple((c.id, c.updated_at.isoformat() if c.updated_at else "") for c in communities)
    )


def resolve_scheme(layer: HazardLayer) -> tuple[dict[str, Any], bool]:
    """The layer's classification scheme, or the hazard's default scheme (flagged)."""
    from service.hazards.schemes import default_scheme

    scheme = dict(layer.classification or {})
    if scheme.get("classes"):
        return scheme, False
    return default_scheme(layer.hazard or "other", layer.kind).to_dict(), True


def weights_for(
    settings: Settings,
    session: Session,
    set_key: str,
    ids: list[int],
    pop: HazardLayer,
    method: str,
    geoms: gpd.GeoSeries | None = None,
    extra_key: str = "",
) -> tuple[CoverageWeights, str]:
    """Weights of the polygons (`geoms`, else the communities `ids`) on the population grid;
    `set_key` names the community set (ids and update times), so a hit reads no geometry."""
    path = raster_file(settings, pop.raster_path or "")
    grid = rasters.grid_of(path)
    key = cache.cache_key(set_key, extra_key, pop.id, pop.version, grid.key(), method)

    def build() -> CoverageWeights:
        series = geoms if geoms is not None else community_geoms(session, ids)
        in_grid = series.to_crs(grid.crs) if grid.crs else series
        return coverage_weights(np.asarray(in_grid.values), grid, method=method)

    return cache.get_or_build(key, build, directory=settings.storage.data_dir / "cache" / "weights")


def grid_community_set(session: Session, pop: HazardLayer) -> tuple[str, list[int]]:
    """Every community on the population raster (the set the grid's weights are built for):
    a key that changes when any of them changes, and their ids in ascending order. Both are
    aggregated in PostgreSQL: reading 84,000 rows into Python to hash them took seconds.

    Intersecting 84,000 desa with the raster's extent still took most of a second, so the
    set is remembered per state of the communities table (its count, id sum and newest
    update time: every import, edit or deletion changes one of them).
    """
    count, id_sum, last = session.execute(
        select(func.count(Community.id), func.sum(Community.id), func.max(Community.updated_at))
    ).one()
    table_state = (
        str(session.connection().engine.url),
        pop.id,
        pop.version,
        count,
        id_sum,
        str(last),
    )

    def query() -> tuple[str, list[int]]:
        item = func.concat(Community.id, ":", Community.updated_at)
        q = select(
            func.md5(func.string_agg(item, aggregate_order_by(literal(","), Community.id))),
            func.array_agg(aggregate_order_by(Community.id, Community.id)),
        )
        if pop.extent is not None:
            q = q.where(func.ST_Intersects(Community.geom, pop.extent))
        digest, ids = session.execute(q).one()
        return f"grid:{digest or ''}", [int(i) for i in ids or []]

    return cache.remember(cache.cache_key("grid-set", *table_state), query)


def indicator_frame(communities: list[CommunityRow]) -> IndicatorFrame:
    """The communities' indicators as columns (None = nan; the area's None is kept apart,
    since a NaN area counts as known in `scoring`)."""

    def column(name: str) -> np.ndarray:
        return np.array([getattr(c, name) for c in communities], dtype=np.float64)

    return IndicatorFrame(
        population=column("population"),
        area_km2=column("area_km2"),
        area_known=np.array([c.area_km2 is not None for c in communities], dtype=bool),
        shares={name: column(name) for name in SHARES},
        flags={name: column(name) for name in FLAGS},
        drills_per_year=column("drills_per_year"),
    )
