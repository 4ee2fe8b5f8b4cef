"""How long a rule firing takes to become an alert with every delivery in the outbox.

Creates a scratch database, a group of N members over one community and a rule, then times
`evaluate_signals` (rule evaluation, alert row, texts, one outbox row and one recipient row
per member, all in one transaction) until commit. Sending is the dispatcher's part
(bench/fanout.py).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        python bench/alerts_create.py --members 10000 100000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import create_engine, insert, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.evaluation import evaluate_signals
from service.alerts.models import AlertGroup, AlertRule, Member
from service.alerts.rules import Signal
from service.communities.models import Community
from service.db import make_session_factory
from service.migrate import upgrade
from service.settings import DatabaseSettings, Settings


def make_group(factory: sessionmaker[Session], members: int, *, run: int = 0) -> str:
    """A fresh community, a group of `members` over it (half SMS, half WhatsApp, one in ten
    English) and a flood rule at `sedang`; returns the community code."""
    code = f"31.71.01.{1001 + run}"
    with factory() as s, s.begin():
        # Ids restart, so the outbox goes too: its keys are made of alert and member ids.
        s.execute(
            text("TRUNCATE alert_groups, communities, message_deliveries RESTART IDENTITY CASCADE")
        )
        s.add(
            Community(
                code=code,
                name="Gambir",
                properties={},
                geom=from_shape(MultiPolygon([box(106.8, -6.18, 106.83, -6.16)]), srid=4326),
            )
        )
        group = AlertGroup(name="bench", community_codes=[code], sender_name="BPBD DKI")
        s.add(group)
        s.flush()
        s.execute(
            insert(Member),
            [
                {
                    "group_id": group.id,
                    "name": f"Warga {i}",
                    # distinct numbers per run, so a fake gateway can count repeats
                    "phone": f"+62812{run}{i:07d}",
                    "channel": "whatsapp" if i % 2 else "sms",
                    "language": "en" if i % 10 == 0 else "id",
                    "consent": True,
                }
                for i in range(members)
            ],
        )
        s.add(
            AlertRule(
                group_id=group.id,
                name="banjir",
                hazards=["flood"],
                trigger="risk_level",
                threshold="sedang",
                ack_minutes={},
            )
        )
    return code


def fire(factory: sessionmaker[Session], code: str) -> int:
    """The rule fires: a flood risk signal at `tinggi`, evaluated and committed as one
    transaction (alert, texts, outbox, recipients). Returns the deliveries created."""
    now = datetime.now(UTC)
    signal = Signal(code, "flood", f"bench:{uuid.uuid4().hex}", now, risk_level="tinggi")
    with factory() as s, s.begin():
        summary = evaluate_signals(
            session=s, settings=Settings(env="test"), signals=[signal], now=now
        )
    assert len(summary.alerts_created) == 1, summary
    with factory() as s:
        return int(
            s.execute(
                text("SELECT count(*) FROM message_deliveries WHERE alert_id = :a"),
                {"a": summary.alerts_created[0]},
            ).scalar_one()
        )


def run(url: str, members: int) -> float:
    engine = create_engine(url)
    factory = make_session_factory(engine)
    code = make_group(factory, members)
    started = time.perf_counter()
    n = fire(factory, code)
    elapsed = time.perf_counter() - started
    assert n == members, n
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    server = make_url(
        DatabaseSettings(url=os.environ.get("DATABASE_URL", "")).url
        if os.environ.get("DATABASE_URL")
        else DatabaseSettings().url
    )
    name = f"bench_alerts_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        for n in args.members:
            seconds = run(url, n)
            print(
                f"{n:>7} members: alert + {n} outbox rows committed in {seconds:6.2f} s "
                f"({n / seconds:,.0f} deliveries/s)"
            )
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
