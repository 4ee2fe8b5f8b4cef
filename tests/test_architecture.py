"""The one-way package graph (issue 10): `lint-imports` checks the contracts in pyproject.toml
(layers, no route code below the API, pure modules without I/O)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.alerts import hooks
from service.messaging import inbound

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_reply_without_a_handler_fails_loudly(session: Session) -> None:
    """Messaging cannot import alerts; a process that never registered alerts' reply handler
    must refuse the message rather than drop it."""
    inbound.set_reply_handler(None)
    try:
        with pytest.raises(inbound.NoReplyHandler, match=r"alerts\.hooks\.install"):
            inbound.receive(
                session,
                provider="console",
                provider_message_id="no-handler-1",
                channel="sms",
                phone="+6281234567890",
                text_="YA",
                received_at=datetime(2026, 11, 23, 3, 0, tzinfo=UTC),
            )
    finally:
        session.rollback()
        hooks.install()  # what every process does at start-up
