"""Settings of the data work: imports, risk scoring, queued jobs, feed polling."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from service.settings.common import settings_config


class ImportSettings(BaseSettings):
    """Checks on imported boundaries and hazard zones (docs/imports.md)."""

    model_config = settings_config("SIAGA_IMPORT_")

    extent: Annotated[tuple[float, float, float, float] | None, NoDecode] = Field(
        (90.0, -15.0, 145.0, 10.0),
        validation_alias=AliasChoices("SIAGA_EXTENT", "SIAGA_IMPORT_EXTENT", "extent"),
        description="service extent 'west,south,east,north' in degrees; every imported "
        "community and zone must lie inside it; 'none' turns the check off",
    )
    max_vertices: int = Field(100_000, ge=4, description="vertices allowed per feature")
    simplify: bool = Field(
        False, description="simplify features over the vertex limit instead of refusing them"
    )

    @field_validator("extent", mode="before")
    @classmethod
    def _parse_extent(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            if text.lower() in ("", "none", "off", "false"):
                return None
            return tuple(float(part) for part in text.split(","))
        return value

    @field_validator("extent")
    @classmethod
    def _check_extent(
        cls, value: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if value is None:
            return None
        west, south, east, north = value
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError(
                "give west,south,east,north in degrees with west < east and south < north "
                "(e.g. 90,-15,145,10), or 'none'"
            )
        return value


class RiskSettings(BaseSettings):
    model_config = settings_config("SIAGA_RISK_")

    recompute_interval_minutes: float = Field(60.0, gt=0)
    method: Literal["coverage", "centre"] = "coverage"
    medium_cutoff: float = Field(0.33, ge=0, le=1, description="R at or above: level 'sedang'")
    high_cutoff: float = Field(0.66, ge=0, le=1, description="R at or above: level 'tinggi'")

    @model_validator(mode="after")
    def _ordered_cutoffs(self) -> RiskSettings:
        if self.high_cutoff <= self.medium_cutoff:
            raise ValueError(
                "SIAGA_RISK_HIGH_CUTOFF must be greater than SIAGA_RISK_MEDIUM_CUTOFF "
                f"(got {self.high_cutoff} <= {self.medium_cutoff})"
            )
        return self


class JobSettings(BaseSettings):
    """The generic `jobs` table (recompute and any other queued job)."""

    model_config = settings_config("SIAGA_JOBS_")

    lease_s: float = Field(
        60.0,
        ge=2,
        description="a running job whose worker sent no heartbeat for this long is taken back",
    )
    max_attempts: int = Field(
        3, ge=1, description="attempts before a job whose worker keeps dying is failed"
    )


class FeedSettings(BaseSettings):
    model_config = settings_config("SIAGA_FEEDS_")

    tick_seconds: float = Field(15.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(20.0, gt=0)
    max_body_mb: float = Field(50.0, gt=0)
    retries: int = Field(2, ge=0)
    user_agent: str = "Siaga/0.1 (+https://github.com/siaga; early warning for communities)"
    retry_backoff_s: float = Field(1.0, ge=0, description="first retry wait; doubles each time")
    max_poll_seconds: float = Field(120.0, gt=0, description="whole-download deadline per request")
    max_cap_alerts_per_poll: int = Field(50, ge=1, description="CAP index: alerts fetched per poll")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="feed hosts allowed although they resolve to private, loopback, link-local "
        "or metadata addresses: comma-separated `host` or `host:port` (e.g. 127.0.0.1:8081)",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Cross-source matching of earthquake reports (BMKG, USGS, GDACS) into one event.
    match_time_s: float = Field(90.0, gt=0)
    match_distance_km: float = Field(100.0, gt=0)
    match_magnitude: float = Field(0.8, gt=0)
    # Intensity estimate (Allen et al. 2012 IPE) for earthquakes without a ShakeMap yet.
    intensity_min_magnitude: float = Field(5.0, ge=0)
    intensity_cell_deg: float = Field(0.01, gt=0, le=0.1)
    intensity_min_mmi: float = Field(
        4.0, ge=1, description="grid extends to where MMI falls to this"
    )
    intensity_max_radius_km: float = Field(400.0, gt=0)
    # GeoJSON of mapped faults (BMKG fault_indo_world.geojson): event type and rupture strike.
    # Empty: event type from depth alone, worst-case rupture orientation.
    faults_path: str = ""
