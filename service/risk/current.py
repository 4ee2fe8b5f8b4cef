"""The current risk level of each community per hazard layer, for the layers above risk
(alerts turns them into signals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.communities.models import Community, code_in
from service.hazards.models import HazardLayer
from service.risk.models import RiskScore


@dataclass(frozen=True)
class CurrentLevel:
    community_code: str
    hazard: str
    layer_id: int
    layer_name: str
    layer_title: str | None
    level: str
    score: float
    computed_at: datetime
    # The layer was made by a feed or for an event (an observation, not a map).
    observed: bool


def current_levels(
    session: Session,
    *,
    now: datetime,
    layer_ids: list[int] | None = None,
    codes: Sequence[str] | None = None,
) -> list[CurrentLevel]:
    """The scores in force at `now` (not superseded), of the given layers only with
    `layer_ids`, at the given communities only with `codes`."""
    query = (
        select(
            Community.code,
            RiskScore.hazard,
            RiskScore.layer_id,
            RiskScore.layer_name,
            HazardLayer.title,
            RiskScore.level,
            RiskScore.score,
            RiskScore.computed_at,
            HazardLayer.event_id,
            HazardLayer.properties["feed_id"].astext.label("feed_id"),
        )
        .join(Community, Community.id == RiskScore.community_id)
        .join(HazardLayer, HazardLayer.id == RiskScore.layer_id)
        .where(RiskScore.superseded_at.is_(None), RiskScore.computed_at <= now)
    )
    if layer_ids is not None:
        query = query.where(RiskScore.layer_id.in_(layer_ids))
    if codes is not None:
        query = query.where(code_in(codes))
    return [
        CurrentLevel(
            community_code=r.code,
            hazard=r.hazard,
            layer_id=r.layer_id,
            layer_name=r.layer_name,
            layer_title=r.title,
            level=r.level,
            score=r.score,
            computed_at=r.computed_at,
            observed=r.event_id is not None or r.feed_id is not None,
        )
        for r in session.execute(query)
    ]
