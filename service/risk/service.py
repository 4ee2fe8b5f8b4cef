"""Recomputing exposure and risk scores for hazard layers.

What a recompute reads is in `inputs`, the exposure per layer kind in `layer_exposure`, the
scores of all its communities at once in `batch_scoring`, their COPY lines in `score_rows`,
and reading scores back (the card, the layers' states) in `readouts`.

One recompute of a layer runs in one transaction holding a PostgreSQL advisory lock on that
layer: another worker asking for the same layer skips it; a failure rolls everything back
(the previous scores stay current) and is recorded in `risk_layer_states`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.db import get_or_404, try_advisory_xact_lock, utcnow
from service.errors import InvalidInput, NotFound
from service.hazards.models import HazardLayer
from service.risk import cache, exposure, score_rows, scoring, store
from service.risk.batch_scoring import ExposureFrame, ScoreColumns, score_columns
from service.risk.inputs import (
    CommunityRow,
    LayerInputs,
    Progress,
    RecomputeError,
    communities_for,
    indicator_frame,
    population_layer_for,
    resolve_scheme,
)
from service.risk.layer_exposure import raster_exposure, zones_exposure
from service.risk.models import RiskLayerState, RiskScore
from service.risk.readouts import current_hazard_layers
from service.risk.score_rows import LayerConstants
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
            layer = get_or_404(
                session, HazardLayer, layer_id, f"hazard layer {layer_id} does not exist"
            )
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


def _layer_exposure(
    settings: Settings,
    session: Session,
    inp: LayerInputs,
    scheme: dict[str, Any],
    report: Progress,
) -> tuple[ExposureFrame, dict[str, Any], list[dict[str, Any]], list[str], list[CommunityRow]]:
    """Exposure of the layer's communities: (frame, timing, classes, unmapped, communities)."""
    layer = inp.layer
    if not inp.communities:
        classes = scoring.scheme_classes(scheme)
        return ExposureFrame.empty(len(classes)), {}, classes, [], []
    if layer.kind == "raster":
        if not layer.raster_path:
            raise RecomputeError(f"raster layer {layer.id} has no raster file recorded")
        frame, timing, assessed = raster_exposure(settings, session, inp, scheme, report)
        return frame, timing, scoring.scheme_classes(scheme), [], assessed
    frame, timing, classes, unmapped = zones_exposure(settings, session, inp, scheme, report)
    return frame, timing, classes, unmapped, inp.communities


def _layer_constants(
    settings: Settings,
    inp: LayerInputs,
    scheme: dict[str, Any],
    scheme_default: bool,
    unmapped: list[str],
    now: datetime,
    job_id: int | None,
) -> LayerConstants:
    """What every score row of this recompute shares (its `inputs` minus the indicators)."""
    layer, pop = inp.layer, inp.population
    inputs = {
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
        "unmapped_classes": unmapped,
        "cutoffs": {"sedang": settings.risk.medium_cutoff, "tinggi": settings.risk.high_cutoff},
        "model": MODEL_VERSION,
    }
    return LayerConstants(
        layer_id=layer.id,
        layer_name=layer.name,
        hazard=layer.hazard or "other",
        method=inp.method,
        unit=layer.unit,
        inputs=inputs,
        computed_at=now,
        job_id=job_id,
    )


def _store_scores(
    session: Session, constants: LayerConstants, lines: Iterable[str], scored: int
) -> None:
    """Supersede the series' current scores and COPY the new ones in (one transaction)."""
    session.execute(
        update(RiskScore)
        .where(RiskScore.layer_name == constants.layer_name, RiskScore.superseded_at.is_(None))
        .values(superseded_at=constants.computed_at)
    )
    if scored:
        store.copy_lines(session, lines)
        notify(session, SIGNALS, f"layer:{constants.layer_id}")  # risk-level rules hear it


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
    inp = LayerInputs(layer, pop, communities_for(session, layer), method)
    t_inputs = time.perf_counter()
    scheme, scheme_default = resolve_scheme(layer)
    frame, timing, classes, unmapped, communities = _layer_exposure(
        settings, session, inp, scheme, report
    )
    t_exposure = time.perf_counter()
    report(0.92, "scores")
    now = utcnow()
    scores = score_columns(
        classes,
        frame,
        indicator_frame(communities),
        medium_cutoff=settings.risk.medium_cutoff,
        high_cutoff=settings.risk.high_cutoff,
    )
    constants = _layer_constants(settings, inp, scheme, scheme_default, unmapped, now, job_id)
    ids = np.array([c.id for c in communities], dtype=np.int64)
    lines = score_rows.copy_text(constants, classes, ids, scores, frame)
    t_scores = time.perf_counter()
    _store_scores(session, constants, lines, len(ids))
    timing = timing | {
        "inputs_s": round(t_inputs - t_begin, 3),
        "scoring_s": round(t_scores - t_exposure, 3),
        "store_s": round(time.perf_counter() - t_scores, 3),
    }
    duration = time.perf_counter() - started
    summary = _summary(layer, method, scores, now, timing, duration)
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
            "communities": summary["communities"],
            "error": None,
            "summary": summary,
        },
    )
    report(1.0, "done")
    return summary


def _summary(
    layer: HazardLayer,
    method: str,
    scores: ScoreColumns,
    now: datetime,
    timing: dict[str, Any],
    duration: float,
) -> dict[str, Any]:
    counts = np.bincount(scores.level, minlength=len(scoring.LEVELS))
    exposed = np.round(scores.hazard.exposed_population, 3)
    return {
        "layer_id": layer.id,
        "layer_name": layer.name,
        "layer_version": layer.version,
        "hazard": layer.hazard,
        "status": "succeeded",
        "method": method,
        "communities": len(scores.score),
        "levels": {lvl: int(counts[k]) for k, lvl in enumerate(scoring.LEVELS)},
        "duration_s": round(duration, 3),
        "timing": timing,
        "computed_at": now.isoformat(),
        "event_id": layer.event_id,
        "population_exposed": round(sum(exposed.tolist()), 1),
    }


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
