"""Builders for the alerts tests: communities, a group with a contact tree, an outbox probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, box
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.alerts.models import AlertGroup, Member
from service.communities.models import Community
from service.messaging.models import Delivery
from tests.messaging.conftest import _fake_servers, fakes, live_app, with_alerts  # noqa: F401


@dataclass
class Outbox:
    """Reads messaging's real outbox (`message_deliveries`) as the alerts code wrote it."""

    session: Session

    def sent(self, **match: Any) -> list[dict[str, Any]]:
        q = select(Delivery).order_by(Delivery.id)
        for column, value in match.items():
            q = q.where(getattr(Delivery, column) == value)
        self.session.expire_all()
        return [
            {
                "id": d.id,
                "key": d.idempotency_key,
                "phone": d.phone,
                "channel": d.channel,
                "body": d.body,
                "template": d.template,
                "purpose": d.purpose,
                "alert_id": d.alert_id,
                "member_id": d.member_id,
                "sms_fallback_body": d.sms_fallback_body,
                "status": d.status,
            }
            for d in self.session.scalars(q)
        ]

    def count(self) -> int:
        return len(self.sent())


@pytest.fixture
def outbox_rows(session: Session) -> Outbox:
    return Outbox(session)


def add_community(
    session: Session, code: str, name: str, x: float = 107.6, y: float = -6.9
) -> Community:
    square = MultiPolygon([box(x, y, x + 0.02, y + 0.02)])
    community = Community(
        code=code,
        name=name,
        level="desa",
        regency_name="Kota Bandung",
        properties={},
        geom=from_shape(square, srid=4326),
    )
    session.add(community)
    session.flush()
    return community


@dataclass
class Tree:
    group: AlertGroup
    members: dict[str, Member]


@pytest.fixture
def make_tree(session: Session) -> Callable[..., Tree]:
    """A group over two desa with a three-level tree:

    ketua (head) <- sekretaris, koordinator; koordinator <- warga1 (backup: warga2), warga2.
    warga2 prefers SMS and English; warga3 gave no consent.
    """

    def make(name: str = "Desa Tangguh Sukamaju", sender_name: str | None = "BPBD Bandung") -> Tree:
        add_community(session, "32.73.01.1001", "Sukamaju")
        add_community(session, "32.73.01.1002", "Sukaraja", x=107.7)
        group = AlertGroup(
            name=name, community_codes=["32.73.01.1001", "32.73.01.1002"], sender_name=sender_name
        )
        session.add(group)
        session.flush()
        members: dict[str, Member] = {}

        def add(key: str, phone: str, **kw: Any) -> Member:
            m = Member(group_id=group.id, name=key.capitalize(), phone=phone, **kw)
            session.add(m)
            session.flush()
            members[key] = m
            return m

        ketua = add("ketua", "+6281100000001", role="ketua", channel="whatsapp")
        add("sekretaris", "+6281100000002", parent_id=ketua.id, channel="whatsapp")
        koor = add("koordinator", "+6281100000003", parent_id=ketua.id, channel="sms")
        warga2 = add("warga2", "+6281100000005", parent_id=koor.id, channel="sms", language="en")
        add("warga1", "+6281100000004", parent_id=koor.id, backup_id=warga2.id, channel="whatsapp")
        add("warga3", "+6281100000006", parent_id=koor.id, consent=False)
        session.commit()
        return Tree(group, members)

    return make
