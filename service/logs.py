"""Logging set-up: plain lines in development, one JSON object per line when asked."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from service.settings import Settings

# The id of the HTTP request being served (set by service.ops.middleware); copied into
# every log record so that one request's lines can be found together.
request_id_var: ContextVar[str | None] = ContextVar("siaga_request_id", default=None)

_EXTRA_KEYS = ("request_id", "method", "path", "route", "status", "duration_ms", "client", "key_id")


# Query parameters whose values are secrets (API keys, webhook verify tokens, OAuth tokens).
SECRET_PARAMS = (
    "key",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "hub.verify_token",
    "verify_token",
    "password",
    "secret",
    "signature",
)
REDACTED = "[REDACTED]"
_NAMES = "|".join(re.escape(p) for p in SECRET_PARAMS)
_PARAM = re.compile(r"(?i)((?:^|(?<=[?&;\s]))(?:" + _NAMES + r")=)[^&;#\s\"']*")
# Authorization header values, wherever a message quotes them.
_AUTH = re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic)\s+)?[^\s\"',}]+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}")
# user:password@ in URLs.
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@/\s]+@")


def redact(text: str) -> str:
    """The text with secret query values, Authorization values and URL passwords masked."""
    if not text:
        return text
    text = _PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    text = _AUTH.sub(
        lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + REDACTED, text
    )
    text = _BEARER.sub(lambda m: m.group(1) + " " + REDACTED, text)
    return _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)


def _redact_value(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


class RedactFilter(logging.Filter):
    """Masks secrets in a record's message and arguments before any handler formats it.

    Arguments are redacted one by one (not folded into the message) so that formatters which
    read `record.args` by position, like uvicorn's access log, keep working.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        for key in ("path", "url"):
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


# Loggers with their own handlers (uvicorn's) that would bypass the root handler's filter.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "httpx", "httpcore")


def install_redaction() -> None:
    """Idempotent: a RedactFilter on the root handlers and on the loggers that log URLs."""
    targets: list[logging.Filterer] = [logging.getLogger(n) for n in REDACTED_LOGGERS]
    targets += logging.getLogger().handlers
    for target in targets:
        if not any(isinstance(f, RedactFilter) for f in target.filters):
            target.addFilter(RedactFilter())


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if getattr(root, "_siaga_configured", False):
        install_redaction()
        return
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
        )
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    root._siaga_configured = True  # type: ignore[attr-defined]
    install_redaction()
