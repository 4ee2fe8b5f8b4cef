"""Risk tables: time-versioned scores and per-layer recompute state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

RISK_LEVELS = ("rendah", "sedang", "tinggi")


class RiskScore(Base):
    """One score of one community for one hazard layer, valid from computed_at until superseded.

    The current score has `superseded_at` NULL; history keeps every earlier row, so the score
    as of time T is the row with computed_at <= T < coalesce(superseded_at, infinity).
    """

    __tablename__ = "risk_scores"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), nullable=False
    )
    layer_id: Mapped[int] = mapped_column(
        ForeignKey("hazard_layers.id", ondelete="CASCADE"), nullable=False
    )
    # The series a score belongs to: one hazard layer name (its versions replace each other).
    layer_name: Mapped[str] = mapped_column(String(200), nullable=False)
    hazard: Mapped[str] = mapped_column(String(32), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    hazard_index: Mapped[float] = mapped_column(Float, nullable=False)
    vulnerability_index: Mapped[float] = mapped_column(Float, nullable=False)
    capacity_index: Mapped[float] = mapped_column(Float, nullable=False)
    components: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    exposure: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    job_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint("level IN ('" + "','".join(RISK_LEVELS) + "')", name="level"),
        CheckConstraint("method IN ('coverage','centre')", name="method"),
        CheckConstraint("score >= 0 AND score <= 1", name="score"),
        Index("ix_risk_scores_community_hazard", "community_id", "hazard", "computed_at"),
        Index("ix_risk_scores_layer", "layer_id"),
        Index(
            "ix_risk_scores_current",
            "hazard",
            "level",
            postgresql_where=text("superseded_at IS NULL"),
        ),
        # The recompute supersedes a series' current scores by layer name (migration 0011).
        Index(
            "ix_risk_scores_current_layer",
            "layer_name",
            postgresql_where=text("superseded_at IS NULL"),
        ),
        Index(
            "uq_risk_scores_current_series",
            "community_id",
            "layer_name",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
    )


class RiskLayerState(Base):
    """What was last computed for a hazard layer, so the scheduler knows what is stale."""

    __tablename__ = "risk_layer_states"

    layer_id: Mapped[int] = mapped_column(
        ForeignKey("hazard_layers.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str | None] = mapped_column(String(16))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    computed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_s: Mapped[float | None] = mapped_column(Float)
    communities: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)

    __table_args__ = (CheckConstraint("status IN ('succeeded','failed')", name="status"),)
