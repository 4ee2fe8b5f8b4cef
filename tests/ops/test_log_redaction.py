"""Secrets never reach the logs: query keys/tokens, the Meta verify token, Authorization."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.logs import RedactFilter, redact
from tests.conftest import ROOT, free_port

SECRETS = ("SECRETKEY123", "VERIFY999TOKEN", "BEARERTOKEN456", "ACCESS789", "PASSWORD0")


@pytest.mark.slow
def test_siaga_serve_access_log_holds_no_secret(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SIAGA_ENV": "test",
        "SIAGA_STORAGE_DATA_DIR": str(tmp_path),
        "SIAGA_ALERTS_META_VERIFY_TOKEN": "VERIFY999TOKEN",
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        pytest.fail(log_path.read_text())
                    time.sleep(0.2)
            with httpx.Client(base_url=base, timeout=10) as client:
                client.get("/api/v1/keys/me?key=SECRETKEY123")
                client.get(
                    "/webhooks/whatsapp",
                    params={
                        "hub.mode": "subscribe",
                        "hub.verify_token": "VERIFY999TOKEN",
                        "hub.challenge": "42",
                    },
                )
                client.get("/api/v1/keys/me", headers={"Authorization": "Bearer BEARERTOKEN456"})
                client.get("/api/v1/communities/x?access_token=ACCESS789&token=PASSWORD0")
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    text = log_path.read_text()
    assert "/api/v1/keys/me?key=[REDACTED]" in text, text  # the access log line is there
    assert "hub.verify_token=[REDACTED]" in text
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, text


def test_filter_keeps_positional_args_for_formatters() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/x?key=abc&hub.verify_token=t&a=1", "1.1", 200),
        None,
    )
    RedactFilter().filter(record)
    assert record.args[2] == "/x?key=[REDACTED]&hub.verify_token=[REDACTED]&a=1"
    assert record.getMessage().endswith(
        '"GET /x?key=[REDACTED]&hub.verify_token=[REDACTED]&a=1 HTTP/1.1" 200'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefgh123", "Authorization: Bearer [REDACTED]"),
        ("{'authorization': 'Basic dXNlcjpwYXNz'}", "{'authorization': 'Basic [REDACTED]'}"),
        ("http://user:pa55@feed.example/x", "http://user:[REDACTED]@feed.example/x"),
        ("GET /ok?page=2&monkey=1", "GET /ok?page=2&monkey=1"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected
