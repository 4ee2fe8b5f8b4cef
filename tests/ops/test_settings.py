"""Configuration only from the environment and .env, validated at start with clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("SIAGA_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return monkeypatch


def test_every_bad_variable_is_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SIAGA_API_PORT", "99999")
    clean_env.setenv("SIAGA_LOG_LEVEL", "loud")
    clean_env.setenv("SIAGA_API_CORS_ORIGINS", "https://bpbd.example/peta")
    clean_env.setenv("SIAGA_RISK_HIGH_CUTOFF", "2")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    for name in (
        "SIAGA_API_PORT",
        "SIAGA_LOG_LEVEL",
        "SIAGA_API_CORS_ORIGINS",
        "SIAGA_RISK_HIGH_CUTOFF",
    ):
        assert name in text


def test_placeholder_secrets_refused_in_production(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SIAGA_ENV", "production")
    clean_env.setenv("DATABASE_URL", "postgresql://siaga:change-me@db:5432/siaga")
    clean_env.setenv("SIAGA_ALERTS_SMS_PROVIDER", "twilio")
    clean_env.setenv("SIAGA_ALERTS_TWILIO_AUTH_TOKEN", "changeme")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "SIAGA_ALERTS_TWILIO_AUTH_TOKEN" in str(err.value)
    assert "DATABASE_URL" in str(err.value)
    # The same values are fine for development.
    clean_env.setenv("SIAGA_ENV", "development")
    assert load_settings().alerts.sms_provider == "twilio"


def test_dotenv_is_read_and_environment_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SIAGA_API_CORS_ORIGINS=https://a.example, http://localhost:5173\n"
        "SIAGA_API_WRITE_RATE_PER_MINUTE=30\n"
    )
    s = load_settings()
    assert s.api.cors_origins == ["https://a.example", "http://localhost:5173"]
    assert s.api.write_rate_per_minute == 30
    clean_env.setenv("SIAGA_API_WRITE_RATE_PER_MINUTE", "40")
    assert load_settings().api.write_rate_per_minute == 40


@pytest.mark.slow  # the siaga CLI in a subprocess
def test_cli_refuses_to_start_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIAGA_")}
    env.update(
        {
            "SIAGA_ENV": "production",
            "SIAGA_ALERTS_WHATSAPP_PROVIDER": "meta",
            "SIAGA_API_PORT": "http",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "service", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "SIAGA_API_PORT" in result.stderr
    assert "Traceback" not in result.stderr
