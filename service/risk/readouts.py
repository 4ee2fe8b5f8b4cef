"""Reading scores back: the risk card, the layers' states and the features behind the map and
the OGC `risk` collections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.communities.models import Community
from service.errors import NotFound
from service.hazards.models import HazardLayer
from service.risk.models import RiskLayerState, RiskScore


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


# Reading scores


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
