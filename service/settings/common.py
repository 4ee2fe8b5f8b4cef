"""What every settings class shares: the `.env` file, the prefix convention, constants."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

_ENV_FILE = ".env"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/siaga"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "placeholder", "xxx"}


def settings_config(prefix: str) -> SettingsConfigDict:
    # populate_by_name: code (and tests) may pass `url=...` even where the env var is an alias.
    return SettingsConfigDict(
        env_prefix=prefix, env_file=_ENV_FILE, extra="ignore", populate_by_name=True
    )
