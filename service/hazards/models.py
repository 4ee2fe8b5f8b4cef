"""Layers are versioned: a re-import under the same name adds a version, never overwrites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

HAZARD_TYPES = (
    "flood",
    "earthquake",
    "tsunami",
    "volcano",
    "landslide",
    "extreme_weather",
    "other",
)
LAYER_KINDS = ("zones", "raster")
LAYER_ROLES = ("hazard", "exposure")


class HazardLayer(Base):
    __tablename__ = "hazard_layers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="hazard")
    hazard: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(32))
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # {"name": "volcano_krb", "type": "categorical"|"thresholds", "classes": [...]}
    classification: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    # For rasters: file path relative to the data dir plus grid metadata (crs, transform, ...).
    raster_path: Mapped[str | None] = mapped_column(Text)
    raster_meta: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    extent: Mapped[WKBElement | None] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=False)
    )
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    # The population raster this (hazard) layer is scored against; see hazards/population.py.
    population_layer_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("hazard_layers.id", ondelete="SET NULL")
    )
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)

    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_hazard_layers_name_version"),
        CheckConstraint(
            "hazard IS NULL OR hazard IN ('" + "','".join(HAZARD_TYPES) + "')", name="hazard"
        ),
        CheckConstraint("kind IN ('" + "','".join(LAYER_KINDS) + "')", name="kind"),
        CheckConstraint("role IN ('" + "','".join(LAYER_ROLES) + "')", name="role"),
        CheckConstraint("role = 'exposure' OR hazard IS NOT NULL", name="hazard_required"),
        Index("ix_hazard_layers_extent", "extent", postgresql_using="gist"),
    )


class HazardZone(Base):
    __tablename__ = "hazard_zones"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    layer_id: Mapped[int] = mapped_column(
        ForeignKey("hazard_layers.id", ondelete="CASCADE"), nullable=False, index=True
    )
    hazard_class: Mapped[str] = mapped_column(String(64), nullable=False)
    intensity: Mapped[float | None] = mapped_column(Float)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    geom: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )

    __table_args__ = (Index("ix_hazard_zones_geom", "geom", postgresql_using="gist"),)
