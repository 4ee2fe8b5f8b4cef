"""Configuration: one settings class per concern, read from the environment and `.env`.

Every variable is prefixed `SIAGA_` except `DATABASE_URL`. Logic never imports a global
settings object: `Settings` is built once at start (`load_settings`) and passed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

_ENV_FILE = ".env"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/siaga"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "placeholder", "xxx"}


def _config(prefix: str) -> SettingsConfigDict:
    # populate_by_name: code (and tests) may pass `url=...` even where the env var is an alias.
    return SettingsConfigDict(
        env_prefix=prefix, env_file=_ENV_FILE, extra="ignore", populate_by_name=True
    )


class DatabaseSettings(BaseSettings):
    model_config = _config("SIAGA_DB_")

    url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "SIAGA_DB_URL"),
        description="SQLAlchemy URL of the PostGIS database",
    )
    pool_size: int = Field(5, ge=1, le=100)
    statement_timeout_ms: int = Field(60_000, ge=0)

    @model_validator(mode="after")
    def _psycopg_driver(self) -> DatabaseSettings:
        # Accept plain postgres:// URLs as most hosting platforms hand them out.
        for prefix in ("postgresql://", "postgres://"):
            if self.url.startswith(prefix):
                self.url = "postgresql+psycopg://" + self.url[len(prefix) :]
        return self


class ApiSettings(BaseSettings):
    model_config = _config("SIAGA_API_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_url: str | None = Field(None, description="base URL clients see, for links")
    max_upload_mb: float = Field(200.0, gt=0)
    ogc_default_limit: int = Field(10, ge=1)
    ogc_max_limit: int = Field(10_000, ge=1)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins allowed to call the API from a browser: comma-separated or a JSON "
        "list, e.g. https://bpbd.example.go.id; '*' allows any (no credentials are used)",
    )
    write_rate_per_minute: int = Field(
        120, ge=1, description="writes per minute allowed per API key and per client address"
    )
    max_body_mb: float = Field(
        10.0, gt=0, description="request bodies on paths other than uploads (JSON, forms)"
    )
    max_webhook_mb: float = Field(1.0, gt=0, description="provider webhook bodies")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not (
                origin.startswith(("http://", "https://")) and "/" not in origin.split("://", 1)[1]
            ):
                raise ValueError(
                    f"{origin!r} is not an origin: use scheme://host[:port] with no path, or '*'"
                )
        return value


class StorageSettings(BaseSettings):
    model_config = _config("SIAGA_STORAGE_")

    data_dir: Path = Field(Path(".var/data"), description="where raster files are kept")
    upload_dir: Path | None = Field(
        None,
        description="where uploads are staged while they are imported (a local folder); "
        "default: siaga-uploads in the system temp folder",
    )


class ImportSettings(BaseSettings):
    """Checks on imported boundaries and hazard zones (docs/imports.md)."""

    model_config = _config("SIAGA_IMPORT_")

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
    model_config = _config("SIAGA_RISK_")

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

    model_config = _config("SIAGA_JOBS_")

    lease_s: float = Field(
        60.0,
        ge=2,
        description="a running job whose worker sent no heartbeat for this long is taken back",
    )
    max_attempts: int = Field(
        3, ge=1, description="attempts before a job whose worker keeps dying is failed"
    )


class FeedSettings(BaseSettings):
    model_config = _config("SIAGA_FEEDS_")

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


class AlertSettings(BaseSettings):
    model_config = _config("SIAGA_ALERTS_")

    sms_provider: Literal["console", "twilio"] = "console"
    whatsapp_provider: Literal["console", "twilio", "meta"] = "console"
    sender_name: str = "BPBD"
    dispatch_batch: int = Field(50, ge=1)
    max_attempts: int = Field(6, ge=1)
    rate_per_second: float = Field(50.0, gt=0)
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_sms_from: str = ""
    twilio_whatsapp_from: str = ""
    twilio_public_base_url: str | None = None
    meta_base_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    meta_phone_number_id: str = ""
    meta_access_token: str = ""
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    # messaging: dispatcher, retries, fallback (see docs/messaging.md)
    http_timeout_s: float = Field(10.0, gt=0, description="per provider request")
    dispatch_interval_s: float = Field(1.0, gt=0, description="idle poll of the outbox")
    dispatch_concurrency: int = Field(
        64, ge=1, le=256, description="provider requests in flight per worker"
    )
    http_engine: Literal["curl", "httpx"] = Field(
        "curl", description="runs the dispatcher's provider requests (docs/messaging.md)"
    )
    retry_base_s: float = Field(2.0, gt=0, description="first retry delay; doubles each attempt")
    retry_max_s: float = Field(300.0, gt=0)
    sending_lease_s: float = Field(
        120.0, gt=0, description="a row 'sending' longer than this is reconciled, then retried"
    )
    meta_reconcile_wait_s: float = Field(
        300.0, ge=0, description="Meta has no lookup: wait this long for a status webhook"
    )
    whatsapp_receipt_timeout_s: float = Field(
        900.0, gt=0, description="WhatsApp without a delivery receipt after this falls back to SMS"
    )
    # Rules, CAP and message texts (the alerts work).
    cap_sender: str = Field("siaga@localhost", description="CAP <sender>, unique per installation")
    cap_identifier_prefix: str = Field("siaga", pattern=r"^[^\s,<&]+$")
    timezone: str = Field("Asia/Jakarta", description="offset used in CAP times and quiet hours")
    sms_max_segments: int = Field(1, ge=1, le=10)
    alert_expires_hours: float = Field(24.0, gt=0)
    ack_minutes_waspada: float = Field(60.0, gt=0)
    ack_minutes_siaga: float = Field(30.0, gt=0)
    ack_minutes_awas: float = Field(15.0, gt=0)
    evaluate_interval_seconds: float = Field(
        60.0, gt=0, description="the safety net; events wake the evaluation at once"
    )
    recompute_wait_s: float = Field(
        30.0,
        ge=0,
        description="a worker's risk recompute of new shaking waits this long at most for the "
        "rule evaluation the shaking woke (0: no wait)",
    )
    evaluate_threads: int = Field(
        8, ge=1, le=32, description="rules evaluated at once in an event-driven evaluation"
    )
    escalate_interval_seconds: float = Field(60.0, gt=0)
    event_window_hours: float = Field(6.0, gt=0, description="feed events this young are signals")

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> AlertSettings:
        # The dispatcher starts no request after 3/4 of the lease minus one timeout, so the
        # lease must leave room for at least one request (docs/messaging.md).
        if self.sending_lease_s < 1.5 * self.http_timeout_s:
            raise ValueError(
                f"SIAGA_ALERTS_SENDING_LEASE_S ({self.sending_lease_s:g}) must be at least 1.5 "
                f"times SIAGA_ALERTS_HTTP_TIMEOUT_S ({self.http_timeout_s:g}); "
                "raise the lease or lower the timeout"
            )
        return self


class MapSettings(BaseSettings):
    """The responders' map at `/` (docs/map.md)."""

    model_config = _config("SIAGA_MAP_")

    basemap: str = Field(
        "",
        description="empty: no basemap, outlines and labels from the loaded communities (offline); "
        "an http(s) raster XYZ template with {z}/{x}/{y}; an http(s) MapLibre style URL (.json); "
        "or a .pmtiles file in the data dir (served by Siaga at /map/basemap/{z}/{x}/{y})",
    )
    basemap_attribution: str = Field("", description="credit shown under the map")

    @field_validator("basemap")
    @classmethod
    def _basemap_kind(cls, value: str) -> str:
        value = value.strip()
        if value and not (
            value.endswith(".pmtiles")
            or (value.startswith(("http://", "https://")) and ("{z}" in value or ".json" in value))
        ):
            raise ValueError(
                "use an http(s) XYZ template with {z}/{x}/{y}, an http(s) style URL ending in "
                ".json, or a .pmtiles file name in the data dir; leave empty for none"
            )
        return value


class Settings(BaseModel):
    """All configuration, one field per concern."""

    env: Literal["development", "test", "production"] = "development"
    log_level: LogLevel = "INFO"
    log_json: bool = False
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    imports: ImportSettings = Field(default_factory=ImportSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    feeds: FeedSettings = Field(default_factory=FeedSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    map: MapSettings = Field(default_factory=MapSettings)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.env != "production":
            return self
        problems = []
        a = self.alerts
        uses_twilio = a.sms_provider == "twilio" or a.whatsapp_provider == "twilio"
        if uses_twilio and a.twilio_auth_token.lower() in PLACEHOLDER_SECRETS:
            problems.append("SIAGA_ALERTS_TWILIO_AUTH_TOKEN")
        if a.whatsapp_provider == "meta":
            for name in ("meta_access_token", "meta_app_secret", "meta_verify_token"):
                if getattr(a, name).lower() in PLACEHOLDER_SECRETS:
                    problems.append(f"SIAGA_ALERTS_{name.upper()}")
        password = make_url(self.database.url).password
        if password is not None and str(password).lower() in PLACEHOLDER_SECRETS:
            problems.append("DATABASE_URL (its password)")
        if problems:
            raise ValueError(
                "placeholder or empty secrets are refused in production: " + ", ".join(problems)
            )
        return self


class _TopLevel(BaseSettings):
    model_config = _config("SIAGA_")

    env: Literal["development", "test", "production"] = "development"
    log_level: LogLevel = "INFO"
    log_json: bool = False

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ConfigError(ValueError):
    """The configuration is unusable; the message names each variable and what is wrong."""


_CONCERNS: dict[str, type[BaseSettings]] = {
    "database": DatabaseSettings,
    "api": ApiSettings,
    "storage": StorageSettings,
    "imports": ImportSettings,
    "risk": RiskSettings,
    "jobs": JobSettings,
    "feeds": FeedSettings,
    "alerts": AlertSettings,
    "map": MapSettings,
}


def _env_name(cls: type[BaseSettings], loc: tuple[Any, ...]) -> str:
    if not loc:
        return cls.__name__
    name = str(loc[0])
    field = cls.model_fields.get(name)
    alias = getattr(field, "validation_alias", None) if field else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    prefix = str(cls.model_config.get("env_prefix", ""))
    rest = "".join(f"[{p}]" for p in loc[1:])
    return f"{prefix}{name}".upper() + rest


def _describe(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {str(value)[:80]!r})"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"  {_env_name(cls, tuple(err.get('loc', ())))}: {msg}{shown}")
    return lines


def load_settings() -> Settings:
    """Read every concern from the environment and `.env`, all at once.

    Raises ConfigError listing every bad variable by its environment name, so an operator
    fixes them in one go instead of one traceback at a time.
    """
    problems: list[str] = []
    top: _TopLevel | None = None
    try:
        top = _TopLevel()
    except ValidationError as exc:
        problems += _describe(_TopLevel, exc)
    concerns: dict[str, Any] = {}
    for name, cls in _CONCERNS.items():
        try:
            concerns[name] = cls()
        except ValidationError as exc:
            problems += _describe(cls, exc)
    if problems or top is None:
        raise ConfigError("invalid configuration:\n" + "\n".join(problems))
    try:
        return Settings(env=top.env, log_level=top.log_level, log_json=top.log_json, **concerns)
    except ValidationError as exc:
        lines = [str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors()]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
