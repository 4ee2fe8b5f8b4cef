"""Recomputing exposure and risk scores for hazard layers, and reading them back.

One recompute of a layer runs in one transaction holding a PostgreSQL advisory lock on that
layer: another worker asking for the same layer skips it; a failure rolls everything back
(the previous scores stay current) and is recorded in `risk_layer_states`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import ARRAY, BigInteger, any_, bindparam, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.db import try_advisory_xact_lock, utcnow
from service.errors import InvalidInput, NotFound
from service.hazards import population
from service.hazards.models import HazardLayer, HazardZone
from service.risk import cache, exposure, rasters, scoring, store
from service.risk.models import RiskLayerState, RiskScore
from service.settings import Settings, load_settings
from service.wakeup import SIGNALS, notify

log = logging.getLogger(__name__)

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
) -> tuple[exposure.CoverageWeights, str]:
    """Weights of the polygons (`geoms`, else the communities `ids`) on the population grid;
    `set_key` names the community set (ids and update times), so a hit reads no geometry."""
    path = raster_file(settings, pop.raster_path or "")
    grid = rasters.grid_of(path)
    key = cache.cache_key(set_key, extra_key, pop.id, pop.version, grid.key(), method)

    def build() -> exposure.CoverageWeights:
        series = geoms if geoms is not None else community_geoms(session, ids)
        in_grid = series.to_crs(grid.crs) if grid.crs else series
        return exposure.coverage_weights(np.asarray(in_grid.values), grid, method=method)

    return cache.get_or_build(key, build, directory=settings.storage.data_dir / "cache" / "weights")


def grid_community_set(session: Session, pop: HazardLayer) -> tuple[str, list[int]]:
    """Every community on the population raster (the set the grid's weights are built for):
    a key that changes when any of them changes, and their ids in ascending order. Both are
    aggregated in PostgreSQL: reading 84,000 rows into Python to hash them took seconds."""
    item = func.concat(Community.id, ":", Community.updated_at)
    q = select(
        func.md5(func.string_agg(item, aggregate_order_by(literal(","), Community.id))),
        func.array_agg(aggregate_order_by(Community.id, Community.id)),
    )
    if pop.extent is not None:
        q = q.where(func.ST_Intersects(Community.geom, pop.extent))
    digest, ids = session.execute(q).one()
    return f"grid:{digest or ''}", [int(i) for i in ids or []]


# ------------------------------------------------------------------------------------------
# Exposure per layer kind
# ------------------------------------------------------------------------------------------


def population_totals(
    weights: exposure.CoverageWeights, pop_path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """Population and area (m²) of every polygon of `weights` on the population grid."""
    areas = exposure.cell_areas_m2(weights.grid, weights.window)

    def stacked() -> Any:
        for op, pop in rasters.iter_population_bands(weights, pop_path):
            cell = np.broadcast_to(areas[op.row0 : op.row0 + op.nrows, None], pop.shape)
            yield op, np.stack([pop, cell], axis=-1)

    sums = exposure.polygon_sums(weights, stacked())
    if sums.ndim == 1:  # no band at all (no community on the grid)
        sums = np.zeros((weights.n, 2))
    return sums[:, 0].copy(), sums[:, 1].copy()


def _raster_exposure(
    settings: Settings,
    session: Session,
    inp: LayerInputs,
    scheme: dict[str, Any],
    progress: Progress,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[CommunityRow]]:
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
        res = exposure.raster_exposure(
            sub,
            bands,
            scheme,
            cell_area_rows=exposure.cell_areas_m2(sub.grid, sub.window),
            on_band=lambda done, total: progress(0.1 + 0.8 * done / max(total, 1), "exposure"),
        )
    except rasterio_errors() as exc:
        raise RecomputeError(f"cannot read hazard raster {inp.layer.raster_path}: {exc}") from exc
    t3 = time.perf_counter()
    out = []
    for k in range(len(rows_of)):
        out.append(
            {
                "population": float(pop_total[k]),
                "area_m2": float(area_total[k]),
                "population_by_class": res.population_by_class[k].tolist(),
                "area_by_class_m2": res.area_by_class_m2[k].tolist(),
                "max_intensity": None
                if np.isnan(res.max_intensity[k])
                else float(res.max_intensity[k]),
                "mean_intensity": None
                if np.isnan(res.mean_intensity[k])
                else float(res.mean_intensity[k]),
            }
        )
    timing = {
        "weights_s": round(t1 - t0, 3),
        "weights_source": source,
        "totals_s": round(t2 - t1, 3),
        "exposure_s": round(t3 - t2, 3),
        "resampling": rasters.resampling_for(scheme).name,
        "window": [sub.window.row_off, sub.window.col_off, sub.window.height, sub.window.width],
    }
    return out, timing, assessed


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


def _zones_exposure(
    settings: Settings,
    session: Session,
    inp: LayerInputs,
    scheme: dict[str, Any],
    progress: Progress,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], list[str]]:
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
    sums = exposure.polygon_sums(weights, rasters.iter_population_bands(weights, pop_path))
    n = len(inp.communities)
    kz = len(zone_classes)
    pop_by = exposure.aggregate_pieces(sums[n:], ci.astype(np.int64), zi.astype(np.int64), n, kz)
    area_by = exposure.aggregate_pieces(areas[n:], ci.astype(np.int64), zi.astype(np.int64), n, kz)
    intensity = {k: c.get("intensity") for k, c in enumerate(zone_classes)}
    rows = []
    for k in range(n):
        rows.append(
            {
                "population": float(sums[k]),
                "area_m2": float(areas[k]),
                "population_by_class": pop_by[k].tolist(),
                "area_by_class_m2": area_by[k].tolist(),
                "max_intensity": None,
                "mean_intensity": None,
            }
        )
    del intensity
    timing = {
        "weights_s": round(t1 - t0, 3),
        "weights_source": source,
        "exposure_s": round(time.perf_counter() - t1, 3),
        "pieces": len(pieces),
    }
    return (
        rows,
        timing,
        [{k: v for k, v in c.items() if k != "_index"} for c in zone_classes],
        unmapped,
    )


# ------------------------------------------------------------------------------------------
# Recompute
# ------------------------------------------------------------------------------------------


def global_fingerprint(
    session: Session, settings: Settings, layer: HazardLayer, method: str
) -> str:
    """Changes when anything a layer's scores depend on changes (communities, population, model)."""
    count, last = session.execute(
        select(func.count(Community.id), func.max(Community.updated_at))
    ).one()
    return cache.cache_key(
        layer.id,
        layer.version,
        method,
        count,
        str(last),
        layer.population_layer_id,  # its pin: another population import changes nothing
        settings.risk.medium_cutoff,
        settings.risk.high_cutoff,
        MODEL_VERSION,
    )


MODEL_VERSION = "perka2-2012-v1"


def _indicators(c: CommunityRow, exp: dict[str, Any]) -> dict[str, Any]:
    density = None
    if c.population is not None and c.area_km2:
        density = c.population / c.area_km2
    elif exp["area_m2"] > 0 and exp["population"] > 0:
        density = exp["population"] / (exp["area_m2"] / 1e6)
    return {
        "density_per_km2": density,
        "share_elderly": c.share_elderly,
        "share_children": c.share_children,
        "share_disabled": c.share_disabled,
        "share_poor": c.share_poor,
        "has_early_warning": c.has_early_warning,
        "has_task_force": c.has_task_force,
        "has_evacuation_site": c.has_evacuation_site,
        "drills_per_year": c.drills_per_year,
    }


def recompute_layer(
    *,
    session_factory: sessionmaker[Session],
    layer_id: int,
    method: str | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    only_if_stale: bool = False,
    job_id: int | None = None,
) -> dict[str, Any]:
    """Recompute exposure and scores of one hazard layer; returns a summary (never raises
    for a bad layer: the error is recorded and returned with status 'failed')."""
    settings = settings or load_settings()
    report = progress or (lambda _f, _m: None)
    started = time.perf_counter()
    t_start = utcnow()
    try:
        with session_factory() as session, session.begin():
            if not try_advisory_xact_lock(session, "risk.recompute", layer_id):
                log.info("risk: layer %s is being recomputed by another worker; skipped", layer_id)
                return {
                    "layer_id": layer_id,
                    "status": "skipped",
                    "reason": "another worker is recomputing this layer",
                }
            layer = session.get(HazardLayer, layer_id)
            if layer is None:
                raise NotFound(f"hazard layer {layer_id} does not exist")
            if layer.role != "hazard":
                raise InvalidInput(
                    f"layer {layer_id} ({layer.name}) is an exposure layer, not a hazard"
                )
            use = method or (layer.properties or {}).get("risk_method") or settings.risk.method
            if use not in exposure.METHODS:
                raise InvalidInput(f"unknown method {use!r}; use 'coverage' or 'centre'")
            population_layer_for(session, layer)  # pins an unpinned layer before the fingerprint
            fingerprint = global_fingerprint(session, settings, layer, use)
            if only_if_stale:
                state = session.get(RiskLayerState, layer_id)
                if (
                    state is not None
                    and state.status == "succeeded"
                    and state.fingerprint == fingerprint
                ):
                    return {"layer_id": layer_id, "status": "skipped", "reason": "up to date"}
            summary = _compute_and_store(
                session, settings, layer, use, fingerprint, report, job_id, t_start, started
            )
        log.info(
            "risk: layer %s (%s v%s) recomputed for %d communities in %.2f s (%s)",
            layer_id,
            summary["layer_name"],
            summary["layer_version"],
            summary["communities"],
            summary["duration_s"],
            summary["timing"],
        )
        return summary
    except Exception as exc:
        duration = time.perf_counter() - started
        message = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        if not isinstance(exc, RecomputeError | InvalidInput | NotFound):
            log.exception("risk: layer %s failed after %.2f s", layer_id, duration)
        else:
            log.warning("risk: layer %s failed after %.2f s: %s", layer_id, duration, message)
        _record_failure(session_factory, layer_id, method, message, t_start, duration)
        return {
            "layer_id": layer_id,
            "status": "failed",
            "error": message,
            "duration_s": round(duration, 3),
        }


def _score_records(
    settings: Settings,
    layer: HazardLayer,
    pop: HazardLayer,
    method: str,
    scheme: dict[str, Any],
    scheme_default: bool,
    classes: list[dict[str, Any]],
    unmapped: list[str],
    communities: list[CommunityRow],
    rows: list[dict[str, Any]],
    now: datetime,
    job_id: int | None,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One risk_scores row per community from its exposure (and the counts per level)."""
    layer_ref = {
        "layer_id": layer.id,
        "layer_name": layer.name,
        "layer_version": layer.version,
        "source": layer.source,
        "licence": layer.licence,
        "event_id": layer.event_id,
        "scheme": scheme.get("name"),
        "scheme_default": scheme_default,
        "population_layer_id": pop.id,
        "population_layer_name": pop.name,
        "population_layer_version": pop.version,
        "population_source": pop.source,
    }
    records = []
    levels = {lvl: 0 for lvl in scoring.LEVELS}
    for c, exp in zip(communities, rows, strict=True):
        h = scoring.hazard_index(
            classes=classes,
            population=exp["population"],
            area_m2=exp["area_m2"],
            population_by_class=exp["population_by_class"],
            area_by_class_m2=exp["area_by_class_m2"],
        )
        indicators = _indicators(c, exp)
        r = scoring.risk_score(
            hazard=h,
            indicators=indicators,
            medium_cutoff=settings.risk.medium_cutoff,
            high_cutoff=settings.risk.high_cutoff,
        )
        levels[r.level] += 1
        records.append(
            {
                "community_id": c.id,
                "layer_id": layer.id,
                "layer_name": layer.name,
                "hazard": layer.hazard or "other",
                "method": method,
                "score": r.score,
                "level": r.level,
                "hazard_index": round(h.value, 6),
                "vulnerability_index": r.vulnerability.value,
                "capacity_index": r.capacity.value,
                "components": r.components(),
                "inputs": layer_ref
                | {
                    "indicators": r.vulnerability.inputs | r.capacity.inputs,
                    "defaults": r.defaults(),
                    "unmapped_classes": unmapped,
                    "cutoffs": {
                        "sedang": settings.risk.medium_cutoff,
                        "tinggi": settings.risk.high_cutoff,
                    },
                    "model": MODEL_VERSION,
                },
                "exposure": {
                    "population": round(exp["population"], 3),
                    "area_m2": round(exp["area_m2"], 1),
                    "population_exposed": round(h.exposed_population, 3),
                    "area_exposed_m2": round(h.exposed_area_m2, 1),
                    "max_intensity": exp["max_intensity"],
                    "mean_intensity": exp["mean_intensity"],
                    "unit": layer.unit,
                    "classes": h.by_class,
                },
                "computed_at": now,
                "job_id": job_id,
            }
        )
    return records, levels


def _compute_and_store(
    session: Session,
    settings: Settings,
    layer: HazardLayer,
    method: str,
    fingerprint: str,
    report: Progress,
    job_id: int | None,
    t_start: datetime,
    started: float,
) -> dict[str, Any]:
    t_begin = time.perf_counter()
    report(0.02, f"layer {layer.id}: inputs")
    pop = population_layer_for(session, layer)
    communities = communities_for(session, layer)
    t_inputs = time.perf_counter()
    inp = LayerInputs(layer, pop, communities, method)
    scheme, scheme_default = resolve_scheme(layer)
    unmapped: list[str] = []
    if not communities:
        rows: list[dict[str, Any]] = []
        timing: dict[str, Any] = {}
        classes = scoring.scheme_classes(scheme)
    elif layer.kind == "raster":
        if not layer.raster_path:
            raise RecomputeError(f"raster layer {layer.id} has no raster file recorded")
        classes = scoring.scheme_classes(scheme)
        rows, timing, communities = _raster_exposure(settings, session, inp, scheme, report)
    else:
        rows, timing, classes, unmapped = _zones_exposure(settings, session, inp, scheme, report)
    t_exposure = time.perf_counter()
    report(0.92, "scores")
    now = utcnow()
    records, levels = _score_records(
        settings,
        layer,
        pop,
        method,
        scheme,
        scheme_default,
        classes,
        unmapped,
        communities,
        rows,
        now,
        job_id,
    )
    t_scores = time.perf_counter()
    session.execute(
        update(RiskScore)
        .where(RiskScore.layer_name == layer.name, RiskScore.superseded_at.is_(None))
        .values(superseded_at=now)
    )
    if records:
        store.copy_scores(session, records)
        notify(session, SIGNALS, f"layer:{layer.id}")  # risk-level rules hear it at commit
    t_store = time.perf_counter()
    timing = timing | {
        "inputs_s": round(t_inputs - t_begin, 3),
        "scoring_s": round(t_scores - t_exposure, 3),
        "store_s": round(t_store - t_scores, 3),
    }
    exposed = [float(rec["exposure"]["population_exposed"]) for rec in records]
    duration = time.perf_counter() - started
    summary = {
        "layer_id": layer.id,
        "layer_name": layer.name,
        "layer_version": layer.version,
        "hazard": layer.hazard,
        "status": "succeeded",
        "method": method,
        "communities": len(records),
        "levels": levels,
        "duration_s": round(duration, 3),
        "timing": timing,
        "computed_at": now.isoformat(),
        "event_id": layer.event_id,
        "population_exposed": round(sum(exposed), 1),
    }
    _upsert_state(
        session,
        {
            "layer_id": layer.id,
            "status": "succeeded",
            "method": method,
            "fingerprint": fingerprint,
            "computed_at": now,
            "attempted_at": t_start,
            "duration_s": duration,
            "communities": len(records),
            "error": None,
            "summary": summary,
        },
    )
    report(1.0, "done")
    return summary


def _upsert_state(session: Session, values: dict[str, Any]) -> None:
    stmt = pg_insert(RiskLayerState).values(**values)
    cols = {k: stmt.excluded[k] for k in values if k != "layer_id"}
    if values["status"] == "failed":
        # Keep what the last success computed; only the attempt and error change.
        cols = {k: stmt.excluded[k] for k in ("status", "attempted_at", "duration_s", "error")}
    session.execute(stmt.on_conflict_do_update(index_elements=["layer_id"], set_=cols))


def _record_failure(
    session_factory: sessionmaker[Session],
    layer_id: int,
    method: str | None,
    message: str,
    t_start: datetime,
    duration: float,
) -> None:
    try:
        with session_factory() as session, session.begin():
            if session.get(HazardLayer, layer_id) is None:
                return
            _upsert_state(
                session,
                {
                    "layer_id": layer_id,
                    "status": "failed",
                    "method": method,
                    "fingerprint": None,
                    "computed_at": None,
                    "attempted_at": t_start,
                    "duration_s": duration,
                    "communities": None,
                    "error": message[:2000],
                    "summary": {},
                },
            )
    except Exception:
        log.exception("risk: could not record the failure of layer %s", layer_id)


def current_hazard_layers(session: Session) -> list[HazardLayer]:
    """The newest version of every hazard layer that is still valid."""
    latest = (
        select(HazardLayer.name, func.max(HazardLayer.version).label("v"))
        .where(HazardLayer.role == "hazard")
        .group_by(HazardLayer.name)
        .subquery()
    )
    q = (
        select(HazardLayer)
        .join(latest, (HazardLayer.name == latest.c.name) & (HazardLayer.version == latest.c.v))
        .where((HazardLayer.valid_to.is_(None)) | (HazardLayer.valid_to > func.now()))
        .order_by(HazardLayer.id)
    )
    return list(session.scalars(q))


def recompute_many(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    layer_ids: list[int] | None = None,
    method: str | None = None,
    only_if_stale: bool = False,
    progress: Progress | None = None,
    job_id: int | None = None,
) -> dict[str, Any]:
    """Recompute several layers (all current hazard layers by default), one after another."""
    if layer_ids is None:
        with session_factory() as session:
            layer_ids = [layer.id for layer in current_hazard_layers(session)]
    report = progress or (lambda _f, _m: None)
    results = []
    started = time.perf_counter()
    for i, lid in enumerate(layer_ids):

        def sub(f: float, msg: str, i: int = i, lid: int = lid) -> None:
            report((i + f) / max(len(layer_ids), 1), f"layer {lid}: {msg}")

        results.append(
            recompute_layer(
                session_factory=session_factory,
                layer_id=lid,
                method=method,
                settings=settings,
                progress=sub,
                only_if_stale=only_if_stale,
                job_id=job_id,
            )
        )
    report(1.0, "done")
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return {
        "layers": results,
        "counts": counts,
        "duration_s": round(time.perf_counter() - started, 3),
    }


# ------------------------------------------------------------------------------------------
# Reading scores
# ------------------------------------------------------------------------------------------


def _sources(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "role": "hazard",
            "layer_id": inputs.get("layer_id"),
            "name": inputs.get("layer_name"),
            "version": inputs.get("layer_version"),
            "source": inputs.get("source"),
            "licence": inputs.get("licence"),
            "event_id": inputs.get("event_id"),
        },
        {
            "role": "exposure",
            "layer_id": inputs.get("population_layer_id"),
            "name": inputs.get("population_layer_name"),
            "version": inputs.get("population_layer_version"),
            "source": inputs.get("population_source"),
        },
    ]


def _exposure_rows(exposure_: dict[str, Any]) -> list[dict[str, Any]]:
    """Per class: population, area (km²) and population share, for tables."""
    return [
        {
            "class": c["class"],
            "severity": c["severity"],
            "population": c["population"],
            "area_km2": round(c["area_m2"] / 1e6, 4),
            "share": c["population_share"],
            "area_share": c["area_share"],
        }
        for c in exposure_.get("classes", [])
    ]


def _score_json(s: RiskScore) -> dict[str, Any]:
    inputs = s.inputs or {}
    return {
        "hazard": s.hazard,
        "layer_id": s.layer_id,
        "layer_name": s.layer_name,
        "level": s.level,
        "score": s.score,
        "method": s.method,
        "H": s.hazard_index,
        "V": s.vulnerability_index,
        "C": s.capacity_index,
        "components": s.components,
        "inputs": inputs,
        "exposure": s.exposure or {},
        "exposure_rows": _exposure_rows(s.exposure or {}),
        "sources": _sources(inputs),
        "event_id": inputs.get("event_id"),
        "computed_at": s.computed_at.isoformat(),
        "superseded_at": s.superseded_at.isoformat() if s.superseded_at else None,
    }


def _valid_at(at: datetime | None) -> Any:
    if at is None:
        return RiskScore.superseded_at.is_(None)
    return (RiskScore.computed_at <= at) & (
        RiskScore.superseded_at.is_(None) | (RiskScore.superseded_at > at)
    )


def get_risk_card(
    *,
    session: Session,
    code: str,
    at: datetime | None = None,
    hazard: str | None = None,
    history_limit: int = 50,
) -> dict[str, Any]:
    """Per hazard: the headline (highest) score with H/V/C, inputs, exposure, sources, history.

    With `hazard`, that hazard's entry is also spread over the top level (what a map panel
    wants); no score for it is a 404.
    """
    c = session.scalars(select(Community).where(Community.code == code)).first()
    if c is None:
        raise NotFound(
            f"no community with code {code!r}; list them at /ogc/collections/communities/items"
        )
    q = select(RiskScore).where(RiskScore.community_id == c.id, _valid_at(at))
    if hazard:
        q = q.where(RiskScore.hazard == hazard)
    scores = session.scalars(q.order_by(RiskScore.hazard, RiskScore.score.desc())).all()
    hazards: dict[str, dict[str, Any]] = {}
    for s in scores:
        entry = hazards.setdefault(s.hazard, _score_json(s) | {"layers": []})
        entry["layers"].append(
            {
                "layer_id": s.layer_id,
                "layer_name": s.layer_name,
                "level": s.level,
                "score": s.score,
                "computed_at": s.computed_at.isoformat(),
            }
        )
    hq = select(RiskScore).where(RiskScore.community_id == c.id)
    if hazard:
        hq = hq.where(RiskScore.hazard == hazard)
    history = session.scalars(
        hq.order_by(RiskScore.computed_at.desc(), RiskScore.id.desc()).limit(history_limit)
    ).all()
    for entry in hazards.values():
        entry["history"] = [
            {
                "layer_id": h.layer_id,
                "layer_name": h.layer_name,
                "level": h.level,
                "score": h.score,
                "H": h.hazard_index,
                "V": h.vulnerability_index,
                "C": h.capacity_index,
                "computed_at": h.computed_at.isoformat(),
                "superseded_at": h.superseded_at.isoformat() if h.superseded_at else None,
            }
            for h in history
            if h.hazard == entry["hazard"]
        ]
    last = max((s.computed_at for s in scores), default=None)
    scored_layers = {s.layer_id for s in scores}
    card: dict[str, Any] = {
        "code": c.code,
        "name": c.name,
        "community_level": c.level,
        "district_name": c.district_name,
        "regency_name": c.regency_name,
        "as_of": at.isoformat() if at else None,
        "last_computed": last.isoformat() if last else None,
        "hazards": list(hazards.values()),
        "not_scored": [] if at else _not_scored(session, c, scored_layers, hazard),
    }
    if hazard:
        if hazard not in hazards:
            when = f" as of {at.isoformat()}" if at else ""
            raise NotFound(f"{c.name} ({code}) has no {hazard} risk score{when} yet")
        card = hazards[hazard] | card
    return card


def _not_scored(
    session: Session, c: Community, scored: set[int], hazard: str | None
) -> list[dict[str, Any]]:
    """Current hazard layers without a score for this community, each with the reason."""
    out = []
    for layer in current_hazard_layers(session):
        if layer.id in scored or (hazard and layer.hazard != hazard):
            continue
        inside = layer.extent is None or bool(
            session.scalar(select(func.ST_Intersects(layer.extent, c.geom)))
        )
        state = session.get(RiskLayerState, layer.id)
        if not inside:
            reason = "outside_extent"
        elif state is None:
            reason = "not_computed"
        elif state.status == "failed":
            reason = "failed"
        else:
            reason = "not_computed"
        out.append(
            {
                "layer_id": layer.id,
                "layer_name": layer.name,
                "hazard": layer.hazard,
                "reason": reason,
                "error": state.error if state is not None and reason == "failed" else None,
            }
        )
    return out


def layer_states(*, session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(RiskLayerState).order_by(RiskLayerState.layer_id)).all()
    return [
        {
            "layer_id": r.layer_id,
            "status": r.status,
            "method": r.method,
            "computed_at": r.computed_at.isoformat() if r.computed_at else None,
            "attempted_at": r.attempted_at.isoformat(),
            "duration_s": r.duration_s,
            "communities": r.communities,
            "error": r.error,
        }
        for r in rows
    ]


def risk_features(
    *,
    session: Session,
    hazard: str | None = None,
    level: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    at: datetime | None = None,
    limit: int = 10,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """GeoJSON features, one per community and hazard (its highest score), and the match count."""
    where = (
        ["s.superseded_at IS NULL"]
        if at is None
        else ["s.computed_at <= :at", "(s.superseded_at IS NULL OR s.superseded_at > :at)"]
    )
    params: dict[str, Any] = {"limit": limit, "offset": offset, "at": at}
    if hazard:
        where.append("s.hazard = :hazard")
        params["hazard"] = hazard
    if bbox:
        where.append(
            "c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) "
            "AND ST_Intersects(c.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))"
        )
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    level_where = "WHERE level = :level" if level else ""
    if level:
        params["level"] = level
    base = f"""
        WITH ranked AS (
          SELECT DISTINCT ON (s.community_id, s.hazard) s.*, c.code, c.name
          FROM risk_scores s JOIN communities c ON c.id = s.community_id
          WHERE {" AND ".join(where)}
          ORDER BY s.community_id, s.hazard, s.score DESC, s.id DESC
        ) SELECT * FROM ranked {level_where}
    """
    total = session.execute(text(f"SELECT count(*) FROM ({base}) q"), params).scalar() or 0
    rows = (
        session.execute(
            text(f"""
        SELECT q.*, ST_AsGeoJSON(c.geom, 6) AS geometry FROM ({base}) q
        JOIN communities c ON c.id = q.community_id
        ORDER BY q.code, q.hazard LIMIT :limit OFFSET :offset
    """),
            params,
        )
        .mappings()
        .all()
    )
    import json

    features = []
    for r in rows:
        features.append(
            {
                "type": "Feature",
                "id": f"{r['code']}:{r['hazard']}",
                "geometry": json.loads(r["geometry"]),
                "properties": {
                    "code": r["code"],
                    "name": r["name"],
                    "hazard": r["hazard"],
                    "level": r["level"],
                    "score": r["score"],
                    "H": r["hazard_index"],
                    "V": r["vulnerability_index"],
                    "C": r["capacity_index"],
                    "method": r["method"],
                    "layer_id": r["layer_id"],
                    "layer_name": r["layer_name"],
                    "components": r["components"],
                    "exposure": r["exposure"],
                    "computed_at": r["computed_at"].isoformat(),
                },
            }
        )
    return features, int(total)
