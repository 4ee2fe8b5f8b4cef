"""The OGC API Features collection `risk`: community risk scores with their validity in time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, select, true

from service.api.ogc.registry import Collection, Filter, register
from service.communities.models import Community
from service.hazards.models import HAZARD_TYPES
from service.risk.models import RISK_LEVELS, RiskScore


def _source() -> FromClause:
    return (
        select(
            RiskScore.id.label("id"),
            Community.code.label("code"),
            Community.name.label("name"),
            RiskScore.hazard.label("hazard"),
            RiskScore.level.label("level"),
            RiskScore.score.label("score"),
            RiskScore.hazard_index.label("H"),
            RiskScore.vulnerability_index.label("V"),
            RiskScore.capacity_index.label("C"),
            RiskScore.method.label("method"),
            RiskScore.layer_id.label("layer_id"),
            RiskScore.layer_name.label("layer_name"),
            RiskScore.components.label("components"),
            RiskScore.exposure.label("exposure"),
            RiskScore.computed_at.label("computed_at"),
            RiskScore.superseded_at.label("superseded_at"),
            Community.geom.label("geom"),
        )
        .join(Community, Community.id == RiskScore.community_id)
        .subquery("ogc_risk")
    )


def _current(src: FromClause, values: list[Any]) -> ColumnElement[bool]:
    """`current=true`: scores still current; `false`: superseded ones; both: everything."""
    if all(values):
        return src.c.superseded_at.is_(None)
    if not any(values):
        return src.c.superseded_at.is_not(None)
    return true()


register(
    Collection(
        id="risk",
        title="Risiko bencana per desa (community risk)",
        description=(
            "Tingkat risiko (rendah/sedang/tinggi) dan skor R = H x V / C per desa/kelurahan dan "
            "lapisan bahaya, dengan komponen dan keterpaparan. Each feature is one score of one "
            "community for one hazard layer, valid from computed_at until superseded_at (null = "
            "current): `datetime=T` gives the map as of T, `current=true` today's map; filters "
            "hazard, level, bbox."
        ),
        source=_source,
        id_column="id",
        properties=(
            "code",
            "name",
            "hazard",
            "level",
            "score",
            "H",
            "V",
            "C",
            "method",
            "layer_id",
            "layer_name",
            "components",
            "exposure",
            "computed_at",
            "superseded_at",
        ),
        time_column="computed_at",
        time_end_column="superseded_at",
        filters=(
            Filter(name="hazard", column="hazard", enum=HAZARD_TYPES, description="hazard type"),
            Filter(name="level", column="level", enum=RISK_LEVELS, description="risk level"),
            Filter(name="code", column="code", description="Kemendagri code of the community"),
            Filter(
                name="current",
                type="boolean",
                where=_current,
                description="true: only current scores; false: only superseded ones",
            ),
        ),
        keywords=("risiko", "risk", "rendah", "sedang", "tinggi"),
    )
)
