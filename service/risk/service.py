"""Recomputing exposure and risk scores for hazard layers.

What a recompute reads is in `inputs`, the exposure per layer kind in `layer_exposure`, and
reading scores back (the card, the layers' states) in `readouts`.

One recompute of a layer runs in one transaction holding a PostgreSQL advisory lock on that
layer: another worker asking for the same layer skips it; a failure rolls everything back
(the previous scores stay current) and is recorded in `risk_layer_states`.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.db import try_advisory_xact_lock, utcnow
from service.errors import InvalidInput, NotFound
from service.hazards.models import HazardLayer
from service.risk import cache, exposure, scoring, store
from service.risk.inputs import (
    CommunityRow,
    LayerInputs,
    Progress,
    RecomputeError,
    communities_for,
    population_layer_for,
    resolve_scheme,
)
from service.risk.layer_exposure import raster_exposure, zones_exposure
from service.risk.models import RiskLayerState, RiskScore
from service.risk.readouts import current_hazard_layers
from service.settings import Settings, load_settings
from service.wakeup import SIGNALS, notify

log = logging.getLogger(__name__)


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
        rows, timing, communities = raster_exposure(settings, session, inp, scheme, report)
    else:
        rows, timing, classes, unmapped = zones_exposure(settings, session, inp, scheme, report)
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
