"""Configuration: one settings class per concern, read from the environment and `.env`.

Every variable is prefixed `SIAGA_` except `DATABASE_URL`. Logic never imports a global
settings object: `Settings` is built once at start (`load_settings`) and passed in.
The classes live in one module per group of concerns: platform (database, API, storage,
map), data (imports, risk, jobs, feeds), alerts; loading holds `Settings` and `load_settings`.
"""

from service.settings.alerts import AlertSettings
from service.settings.common import DEFAULT_DATABASE_URL, PLACEHOLDER_SECRETS, LogLevel
from service.settings.data import FeedSettings, ImportSettings, JobSettings, RiskSettings
from service.settings.loading import _CONCERNS, ConfigError, Settings, _TopLevel, load_settings
from service.settings.platform import ApiSettings, DatabaseSettings, MapSettings, StorageSettings

__all__ = [
    "DEFAULT_DATABASE_URL",
    "PLACEHOLDER_SECRETS",
    "_CONCERNS",
    "AlertSettings",
    "ApiSettings",
    "ConfigError",
    "DatabaseSettings",
    "FeedSettings",
    "ImportSettings",
    "JobSettings",
    "LogLevel",
    "MapSettings",
    "RiskSettings",
    "Settings",
    "StorageSettings",
    "_TopLevel",
    "load_settings",
]
