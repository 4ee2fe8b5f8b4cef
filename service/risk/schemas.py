"""Risk output models: the risk card, layer states and recompute requests.

The read-outs build plain dicts (times as `isoformat()` strings); these models describe them
for /docs and check them on the way out. Numbers read back from JSONB keep their JSON type
(`Number`), so an integer population stays an integer on the wire."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Number = int | float
Timestamp = str  # RFC 3339, as datetime.isoformat() writes it


class RecomputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer_id: int | None = Field(
        None, description="hazard layer id; omit to recompute every current layer"
    )
    method: Literal["coverage", "centre"] | None = Field(
        None, description="default: SIAGA_RISK_METHOD"
    )


class RecomputeQueued(BaseModel):
    job_id: int
    status: Literal["queued"]
    href: str = Field(description="poll this for progress")


class LayerState(BaseModel):
    layer_id: int
    status: str
    method: str | None
    computed_at: Timestamp | None
    attempted_at: Timestamp
    duration_s: float | None
    communities: int | None
    error: str | None


class ExposureRow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    hazard_class: str = Field(alias="class")
    severity: Number | None
    population: Number | None
    area_km2: Number | None
    share: Number | None = Field(description="share of the population in this class")
    area_share: Number | None


class ScoreSource(BaseModel):
    """A layer behind a score (licence and event_id are given for the hazard layer only)."""

    role: Literal["hazard", "exposure"]
    layer_id: int | None
    name: str | None
    version: int | None
    source: str | None
    licence: str | None = None
    event_id: int | None = None


class ScoredLayer(BaseModel):
    layer_id: int
    layer_name: str
    level: str
    score: float
    computed_at: Timestamp


class ScoreHistoryEntry(ScoredLayer):
    H: float
    V: float
    C: float
    superseded_at: Timestamp | None


class HazardRisk(BaseModel):
    """One hazard on the card: its headline (highest) score with H/V/C, inputs and exposure."""

    hazard: str
    layer_id: int
    layer_name: str
    level: str
    score: float
    method: str
    H: float = Field(description="hazard index")
    V: float = Field(description="vulnerability index")
    C: float = Field(description="capacity index")
    components: dict[str, Any]
    inputs: dict[str, Any]
    exposure: dict[str, Any]
    exposure_rows: list[ExposureRow]
    sources: list[ScoreSource]
    event_id: int | None
    computed_at: Timestamp
    superseded_at: Timestamp | None
    layers: list[ScoredLayer] = Field(description="every layer's score for this hazard")
    history: list[ScoreHistoryEntry]


class NotScored(BaseModel):
    layer_id: int
    layer_name: str
    hazard: str
    reason: Literal["outside_extent", "not_computed", "failed"]
    error: str | None


class RiskCard(BaseModel):
    """The risk card. With `?hazard=`, that hazard's entry (HazardRisk's fields) is also spread
    over the top level; without it those fields are absent."""

    code: str
    name: str
    community_level: str | None
    district_name: str | None
    regency_name: str | None
    as_of: Timestamp | None
    last_computed: Timestamp | None
    hazards: list[HazardRisk]
    not_scored: list[NotScored]
    # The spread entry (present only with ?hazard=).
    hazard: str | None = None
    layer_id: int | None = None
    layer_name: str | None = None
    level: str | None = None
    score: float | None = None
    method: str | None = None
    H: float | None = None
    V: float | None = None
    C: float | None = None
    components: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    exposure: dict[str, Any] | None = None
    exposure_rows: list[ExposureRow] | None = None
    sources: list[ScoreSource] | None = None
    event_id: int | None = None
    computed_at: Timestamp | None = None
    superseded_at: Timestamp | None = None
    layers: list[ScoredLayer] | None = None
    history: list[ScoreHistoryEntry] | None = None
