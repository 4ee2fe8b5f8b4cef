"""Input and output models of the feeds API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

FeedKind = Literal["bmkg", "usgs", "gdacs", "cap", "shakemap", "raster"]


class FeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="unique, e.g. 'bmkg-autogempa'")
    kind: FeedKind
    url: HttpUrl
    poll_interval_s: int = Field(60, ge=5, le=86_400, description="seconds between polls")
    enabled: bool = True
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="raster feeds: layer_name, hazard, unit, classification",
    )

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name must not be blank")
        return v


class FeedUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    url: HttpUrl | None = None
    poll_interval_s: int | None = Field(None, ge=5, le=86_400)
    enabled: bool | None = None
    options: dict[str, Any] | None = None


class FeedHealth(BaseModel):
    healthy: bool
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_status: str | None
    last_error: str | None = Field(
        description="short classified reason of the last failure, e.g. timeout, http_503, "
        "parse_error, refused_address"
    )
    last_error_detail: str | None = Field(
        None, description="the full error text: admins only (null for everyone else)"
    )
    last_error_at: datetime | None
    last_duration_ms: float | None
    consecutive_failures: int
    events_seen: int


class FeedPublic(BaseModel):
    id: int
    name: str
    kind: str
    url: str = Field(description="credentials in the URL are masked (`***:***@`) for non-admins")
    poll_interval_s: int
    enabled: bool
    options: dict[str, Any]
    health: FeedHealth
    created_at: datetime
    updated_at: datetime


class PollResult(BaseModel):
    feed_id: int
    status: str
    error: str | None
    new_events: list[int]
    revised_events: list[int]
    reports_seen: int
    new_reports: int
    updated_reports: int
    shaking_layers: list[int]
    feed: FeedPublic


class EventReportPublic(BaseModel):
    source: str
    source_id: str
    time: datetime
    magnitude: float | None
    lon: float | None
    lat: float | None
    revision: int
    feed_id: int | None
    first_seen: datetime
    last_seen: datetime


class EventPublic(BaseModel):
    id: int
    type: str
    status: str
    title: str | None
    time: datetime
    expires: datetime | None
    magnitude: float | None
    depth_km: float | None
    mmi: float | None
    severity: str | None
    urgency: str | None
    certainty: str | None
    alert_level: str | None
    tsunami: bool | None
    lon: float | None
    lat: float | None
    revision: int
    primary_source: str
    properties: dict[str, Any]
    reports: list[EventReportPublic]
    revisions: list[dict[str, Any]]
    intensities: list[dict[str, Any]]
