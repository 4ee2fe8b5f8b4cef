"""`siaga groups import` as a real subprocess, and the scheduled jobs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service.alerts.drills import create_drill
from service.alerts.jobs import escalate_job, evaluate_job
from service.alerts.models import AlertRecipient, Member
from service.alerts.schemas import DrillIn
from service.runtime import Runtime
from service.scheduler import build_scheduler
from tests.alerts.conftest import add_community

ROOT = Path(__file__).resolve().parents[2]


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "service", "groups", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow  # the siaga CLI in subprocesses
def test_cli_create_and_import(database_url, session, tmp_path: Path) -> None:
    add_community(session, "32.73.01.1001", "Sukamaju")
    session.commit()
    made = _run(
        database_url,
        "create",
        "Destana Sukamaju",
        "-c",
        "32.73.01.1001",
        "--contact-phone",
        "0812-9999-0000",
    )
    assert made.returncode == 0, made.stderr
    wrong = _run(database_url, "create", "X", "-c", "32.73.01.1001", "--contact-phone", "12")
    assert wrong.returncode == 1 and "contact_phone" in wrong.stdout, wrong.stdout + wrong.stderr
    from service.alerts.models import AlertGroup

    assert session.scalar(select(AlertGroup.contact_phone)) == "+6281299990000"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone\nIbu Siti,0812\n", encoding="utf-8")
    failed = _run(database_url, "import", "1", str(bad))
    assert failed.returncode == 1 and "row 2 phone" in failed.stdout
    good = tmp_path / "anggota.csv"
    good.write_text(
        "name,phone,parent_phone\nIbu Siti,081234567890,\nPak Budi,081311112222,081234567890\n",
        encoding="utf-8",
    )
    done = _run(database_url, "import", "1", str(good))
    assert done.returncode == 0 and "2 created" in done.stdout, done.stdout + done.stderr
    session.expire_all()
    phones = sorted(m.phone for m in session.scalars(select(Member)))
    assert phones == ["+6281234567890", "+6281311112222"]


def test_jobs_registered_and_escalate(
    settings, engine, session_factory, session, make_tree, outbox_rows
) -> None:
    rt = Runtime(settings, engine, session_factory)
    scheduler = build_scheduler(rt)
    assert {"alerts.evaluate", "alerts.escalate"} <= {j.id for j in scheduler.get_jobs()}
    tree = make_tree()
    t0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    create_drill(
        session=session,
        settings=settings,
        group_id=tree.group.id,
        data=DrillIn(hazard="flood", level=2),
        now=t0,
    )
    session.commit()
    assert evaluate_job(rt, now=t0) is not None
    summary = escalate_job(rt, now=t0 + timedelta(minutes=31))  # siaga: 30 minutes by default
    assert summary is not None and len(summary.escalated) == 5
    session.expire_all()
    assert all(
        r.escalated_at is not None
        for r in session.scalars(
            select(AlertRecipient).where(AlertRecipient.skipped_reason.is_(None))
        )
    )
