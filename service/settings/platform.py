"""Settings of the running service itself: database, HTTP API, file storage, the web map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode

from service.settings.common import DEFAULT_DATABASE_URL, settings_config


class DatabaseSettings(BaseSettings):
    model_config = settings_config("SIAGA_DB_")

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
    model_config = settings_config("SIAGA_API_")

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
    reads_in_flight: int = Field(
        4,
        ge=0,
        description="GET/HEAD requests one API process handles at once, the rest wait their "
        "turn in arrival order (0: no limit)",
    )
    read_cache_mb: float = Field(
        64.0,
        ge=0,
        description="memory per API process for OGC items pages asked for again, served "
        "while the tables they were read from are unchanged (0: none kept)",
    )

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
    model_config = settings_config("SIAGA_STORAGE_")

    data_dir: Path = Field(Path(".var/data"), description="where raster files are kept")
    upload_dir: Path | None = Field(
        None,
        description="where uploads are staged while they are imported (a local folder); "
        "default: siaga-uploads in the system temp folder",
    )


class MapSettings(BaseSettings):
    """The responders' map at `/` (docs/map.md)."""

    model_config = settings_config("SIAGA_MAP_")

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
