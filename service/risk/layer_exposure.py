"""Exposure per kind of hazard layer: a raster warped onto the population grid, or vector
zones cut with the communities; both sum the population raster through coverage weights."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.hazards.models import HazardLayer, HazardZone
from service.risk import cache, rasters, scoring
from service.risk.batch_scoring import ExposureFrame
from service.risk.exposure import sums as exposure_sums
from service.risk.exposure.grid import cell_areas_m2
from service.risk.exposure.sums import aggregate_pieces, polygon_sums
from service.risk.exposure.weights import CoverageWeights
from service.risk.inputs import (
    EQUAL_AREA_CRS,
    CommunityRow,
    LayerInputs,
    Progress,
    RecomputeError,
    community_geoms,
    community_set_key,
    grid_community_set,
    raster_file,
    weights_for,
)
from service.settings import Settings

# ------------------------------------------------------------------------------------------
# Exposure per layer kind
# ------------------------------------------------------------------------------------------


def population_totals(weights: CoverageWeights, pop_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Population and area (m²) of every polygon of `weights` on the population grid."""
    areas = cell_areas_m2(weights.grid, weights.window)

    def stacked() -> Any:
        for op, pop in rasters.iter_population_bands(weights, pop_path):
            cell = np.broadcast_to(areas[op.row0 : op.row0 + op.nrows, None], pop.shape)
            yield op, np.stack([pop, cell], axis=-1)

    sums = polygon_sums(weights, stacked())
    if sums.ndim == 1:  # no band at all (no community on the grid)
        sums = np.zeros((weights.n, 2))
    return sums[:, 0].copy(), sums[:, 1].copy()


def raster_exposure(
    settings: Settings,
    session: Session,
    inp: LayerInputs,
    scheme: dict[str, Any],
    progress: Progress,
) -> tuple[ExposureFrame, dict[str, Any], list[CommunityRow]]:
    """Exposure of the communities the raster reaches; weights are those of every community
    on the population grid, so any hazard raster on that grid reuses them."""
    t0 = time.perf_counter()
    set_key, grid_ids = grid_community_set(session, inp.population)
    weights, source = weights_for(settings, session, set_key, grid_ids, inp.population, inp.method)
    t1 = time.perf_counter()
    pop_path = raster_file(settings, inp.population.raster_path or "")
    haz_path = raster_file(settings, inp.layer.raster_path or "")
    if not haz_path.is_file():
        raise RecomputeError(
            f"hazard raster file {inp.layer.raster_path} is missing from the data dir"
        )
    index = {cid: k for k, cid in enumerate(grid_ids)}
    assessed = [c for c in inp.communities if c.id in index]
    rows_of = np.array([index[c.id] for c in assessed], dtype=np.int64)
    # Population and area of the assessed communities only, on their own cells: a national
    # grid is never summed whole for one event.
    pop_total, area_total = population_totals(weights.subset(rows_of), pop_path)
    t2 = time.perf_counter()
    try:
        # Only the assessed communities, only on the cells the hazard raster reaches.
        window = rasters.hazard_window(weights.grid, haz_path)
        sub = weights.subset(rows_of, window)
        bands = rasters.iter_hazard_bands(sub, pop_path, haz_path, scheme)
        res = exposure_sums.raster_exposure(
            sub,
            bands,
            scheme,
            cell_area_rows=cell_areas_m2(sub.grid, sub.window),
            on_band=lambda done, total: progress(0.1 + 0.8 * done / max(total, 1), "exposure"),
        )
    except rasterio_errors() as exc:
        raise RecomputeError(f"cannot read hazard raster {inp.layer.raster_path}: {exc}") from exc
    t3 = time.perf_counter()
    frame = ExposureFrame(
        population=pop_total,
        area_m2=area_total,
        population_by_class=res.population_by_class,
        area_by_class_m2=res.area_by_class_m2,
        max_intensity=res.max_intensity,
        mean_intensity=res.mean_intensity,
    )
    timing = {
        "weights_s": round(t1 - t0, 3),
        "weights_source": source,
        "totals_s": round(t2 - t1, 3),
        "exposure_s": round(t3 - t2, 3),
        "resampling": rasters.resampling_for(scheme).name,
        "window": [sub.window.row_off, sub.window.col_off, sub.window.height, sub.window.width],
    }
    return frame, timing, assessed


def rasterio_errors() -> tuple[type[BaseException], ...]:
    from rasterio.errors import RasterioError

    return (RasterioError, ValueError)


def _zone_pieces(
    session: Session, layer: HazardLayer, scheme: dict[str, Any]
) -> tuple[list[dict[str, Any]], gpd.GeoSeries, list[str]]:
    """Zones dissolved per scheme class, each less the more severe classes (no double count)."""
    rows = session.execute(
        select(HazardZone.hazard_class, func.ST_AsBinary(func.ST_Union(HazardZone.geom)))
        .where(HazardZone.layer_id == layer.id)
        .group_by(HazardZone.hazard_class)
    ).all()
    classes = scoring.scheme_classes(scheme)
    unmapped: list[str] = []
    by_index: dict[int, Any] = {}
    for zone_class, wkb in rows:
        k = scoring.zone_class_index(scheme, zone_class)
        if k is None:
            # A class the scheme does not know counts at full severity, and is reported.
            unmapped.append(str(zone_class))
            classes.append({"name": str(zone_class), "severity": 1.0})
            k = len(classes) - 1
        g = shapely.from_wkb(bytes(wkb))
        by_index[k] = shapely.union(by_index[k], g) if k in by_index else g
    order = sorted(by_index, key=lambda k: -classes[k]["severity"])
    taken = None
    geoms = []
    for k in order:
        g = by_index[k] if taken is None else shapely.difference(by_index[k], taken)
        taken = by_index[k] if taken is None else shapely.union(taken, by_index[k])
        geoms.append(g)
    return (
        [classes[k] | {"_index": k} for k in order],
        gpd.GeoSeries(geoms, crs="EPSG:4326"),
        unmapped,
    )


def zones_exposure(
    settings: Settings,
    session: Session,
    inp: LayerInputs,
    scheme: dict[str, Any],
    progress: Progress,
) -> tuple[ExposureFrame, dict[str, Any], list[dict[str, Any]], list[str]]:
    t0 = time.perf_counter()
    zone_classes, zone_geoms, unmapped = _zone_pieces(session, inp.layer, scheme)
    communities = community_geoms(session, [c.id for c in inp.communities])
    # Pieces: community ∩ class zone, found with an STRtree and cut in one vectorised call.
    tree = shapely.STRtree(zone_geoms.values)
    ci, zi = tree.query(communities.values, predicate="intersects")
    pieces = shapely.intersection(communities.values[ci], zone_geoms.values[zi])
    polys = gpd.GeoSeries(list(communities.values) + list(pieces), crs="EPSG:4326")
    progress(0.2, "zones")
    areas = polys.to_crs(EQUAL_AREA_CRS).area.to_numpy()
    key = cache.cache_key("zones", inp.layer.id, inp.layer.version)
    ids = [c.id for c in inp.communities]
    weights, source = weights_for(
        settings,
        session,
        community_set_key(inp.communities),
        ids,
        inp.population,
        inp.method,
        polys,
        key,
    )
    t1 = time.perf_counter()
    pop_path = raster_file(settings, inp.population.raster_path or "")
    sums = polygon_sums(weights, rasters.iter_population_bands(weights, pop_path))
    n = len(inp.communities)
    kz = len(zone_classes)
    pop_by = aggregate_pieces(sums[n:], ci.astype(np.int64), zi.astype(np.int64), n, kz)
    area_by = aggregate_pieces(areas[n:], ci.astype(np.int64), zi.astype(np.int64), n, kz)
    none = np.full(n, np.nan)
    frame = ExposureFrame(sums[:n].copy(), areas[:n].copy(), pop_by, area_by, none, none.copy())
    timing = {
        "weights_s": round(t1 - t0, 3),
        "weights_source": source,
        "exposure_s": round(time.perf_counter() - t1, 3),
        "pieces": len(pieces),
    }
    return (
        frame,
        timing,
        [{k: v for k, v in c.items() if k != "_index"} for c in zone_classes],
        unmapped,
    )
