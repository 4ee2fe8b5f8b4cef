"""OGC API Features collections of risk scores.

- `risk`: today's map. One feature per community and hazard: the highest-scoring current
  layer of that hazard (ties: the newest score), as the risk card ranks them. Feature id
  `{code}:{hazard}`, stable across recomputes.
- `risk-history`: every score version of every layer, valid from `computed_at` until
  `superseded_at` (null = current); `datetime=T` gives the map as of T.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, select, true
from sqlalchemy.dialects.postgresql import distinct_on

from service.communities.models import Community
from service.hazards.models import HAZARD_TYPES
from service.ogc_collections import Collection, Filter
from service.risk.models import RISK_LEVELS, RiskScore

_PROPERTIES = (
    "code",
    "name",
    "district_name",
    "regency_name",
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
)


def _columns() -> Select:
    return select(
        Community.code.label("code"),
        Community.name.label("name"),
        Community.district_name.label("district_name"),
        Community.regency_name.label("regency_name"),
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
    ).join(Community, Community.id == RiskScore.community_id)


def _current_source() -> FromClause:
    fid = (Community.code + ":" + RiskScore.hazard).label("id")
    return (
        _columns()
        .add_columns(fid)
        .where(RiskScore.superseded_at.is_(None))
        .ext(distinct_on(RiskScore.community_id, RiskScore.hazard))
        .order_by(
            RiskScore.community_id,
            RiskScore.hazard,
            RiskScore.score.desc(),
            RiskScore.id.desc(),
        )
        .subquery("ogc_risk")
    )


def _history_source() -> FromClause:
    return _columns().add_columns(RiskScore.id.label("id")).subquery("ogc_risk_history")


def _current(src: FromClause, values: list[Any]) -> ColumnElement[bool]:
    """`current=true`: scores still current; `false`: superseded ones; both: everything."""
    if all(values):
        return src.c.superseded_at.is_(None)
    if not any(values):
        return src.c.superseded_at.is_not(None)
    return true()


_FILTERS = (
    Filter(name="hazard", column="hazard", enum=HAZARD_TYPES, description="hazard type"),
    Filter(name="level", column="level", enum=RISK_LEVELS, description="risk level"),
    Filter(name="code", column="code", description="Kemendagri code of the community"),
)

RISK = Collection(
    id="risk",
    title="Risiko bencana per desa (community risk, current)",
    description=(
        "Tingkat risiko saat ini (rendah/sedang/tinggi) dan skor R = H x V / C per "
        "desa/kelurahan dan jenis bahaya. Today's risk: one feature per community and "
        "hazard (id `code:hazard`), the highest-scoring current layer of that hazard, as "
        "the risk card ranks them. Earlier versions: collection `risk-history`."
    ),
    source=_current_source,
    id_column="id",
    properties=_PROPERTIES,
    filters=_FILTERS,
    keywords=("risiko", "risk", "rendah", "sedang", "tinggi"),
)

RISK_HISTORY = Collection(
    id="risk-history",
    title="Riwayat skor risiko (risk score history)",
    description=(
        "Semua versi skor risiko. Each feature is one score of one community for one "
        "hazard layer (id = score id), valid from computed_at until superseded_at (null = "
        "current): `datetime=T` gives the map as of T, `current=true` only current scores."
    ),
    source=_history_source,
    id_column="id",
    properties=(*_PROPERTIES, "superseded_at"),
    time_column="computed_at",
    time_end_column="superseded_at",
    filters=(
        *_FILTERS,
        Filter(
            name="current",
            type="boolean",
            where=_current,
            description="true: only current scores; false: only superseded ones",
        ),
    ),
    keywords=("risiko", "risk", "history", "riwayat"),
)

COLLECTIONS = (RISK, RISK_HISTORY)
