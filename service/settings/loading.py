"""All settings together (`Settings`) and reading them from the environment at once."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from service.settings.alerts import AlertSettings
from service.settings.common import PLACEHOLDER_SECRETS, LogLevel, settings_config
from service.settings.data import FeedSettings, ImportSettings, JobSettings, RiskSettings
from service.settings.platform import ApiSettings, DatabaseSettings, MapSettings, StorageSettings


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
    model_config = settings_config("SIAGA_")

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
