"""Feeds tables: the feed registry with its health, normalised hazard events, the reports
each source gave about an event, the event's revision history, and per-community intensity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
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

from service.db import Base, TimestampMixin

FEED_KINDS = (
    "bmkg",  # autogempa / gempaterkini / gempadirasakan, JSON or XML
    "usgs",  # GeoJSON summary feed
    "gdacs",  # RSS or JSON event API
    "cap",  # one CAP alert, or an Atom/RSS index of CAP alerts
    "shakemap",  # a grid.xml
    "raster",  # a GeoTIFF that becomes a new version of a hazard layer
)
EVENT_STATUSES = ("active", "cancelled", "expired", "deleted")


class Feed(TimestampMixin, Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    poll_interval_s: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Kind-specific options, e.g. {"layer_name": ..., "hazard": "flood"} for raster feeds.
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    # Conditional GET validators from the last 200 response.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    # Health.
    last_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(32))
    last_duration_ms: Mapped[float | None] = mapped_column(Float)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    events_seen: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    __table_args__ = (
        CheckConstraint("kind IN ('" + "','".join(FEED_KINDS) + "')", name="kind"),
        CheckConstraint("poll_interval_s >= 5", name="poll_interval"),
    )


class HazardEvent(TimestampMixin, Base):
    """One real-world event, however many sources reported it."""

    __tablename__ = "hazard_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    title: Mapped[str | None] = mapped_column(Text)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    magnitude: Mapped[float | None] = mapped_column(Float)
    depth_km: Mapped[float | None] = mapped_column(Float)
    mmi: Mapped[float | None] = mapped_column(Float)
    severity: Mapped[str | None] = mapped_column(String(16))
    urgency: Mapped[str | None] = mapped_column(String(16))
    certainty: Mapped[str | None] = mapped_column(String(16))
    alert_level: Mapped[str | None] = mapped_column(String(16))
    tsunami: Mapped[bool | None] = mapped_column(Boolean)
    # The report whose values the event shows (see service.feeds.events.SOURCE_PRIORITY).
    primary_source: Mapped[str] = mapped_column(String(32), nullable=False)
    primary_source_id: Mapped[str] = mapped_column(Text, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    epicentre: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    footprint: Mapped[WKBElement | None] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)
    )

    __table_args__ = (
        CheckConstraint("status IN ('" + "','".join(EVENT_STATUSES) + "')", name="status"),
        Index("ix_hazard_events_epicentre", "epicentre", postgresql_using="gist"),
        Index("ix_hazard_events_footprint", "footprint", postgresql_using="gist"),
        Index("ix_hazard_events_type_time", "type", "time"),
    )


class EventReport(Base):
    """One source's record of an event; (source, source_id) is unique, so re-polls upsert."""

    __tablename__ = "hazard_event_reports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("hazard_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    source_id: Mapped[str] = mapped_column(Text, nullable=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    source_updated: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    magnitude: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    first_seen: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    last_seen: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_hazard_event_reports_source"),
    )


class EventRevision(Base):
    """What a revision changed: {field: [old, new]}, kept for every change of an event."""

    __tablename__ = "hazard_event_revisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(
        ForeignKey("hazard_events.id", ondelete="CASCADE"), nullable=False, index=True
    )
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    source_id: Mapped[str] = mapped_column(Text, nullable=False)
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class EventIntensity(Base):
    """Shaking at a community's representative point for an earthquake (reporting)."""

    __tablename__ = "hazard_event_intensities"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("hazard_events.id", ondelete="CASCADE"), primary_key=True
    )
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    mmi: Mapped[float] = mapped_column(Float, nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)  # ipe | shakemap
    layer_id: Mapped[int | None] = mapped_column(
        ForeignKey("hazard_layers.id", ondelete="SET NULL")
    )
    distance_km: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
