"""What alerts plugs into the layers below it when a process starts.

Messaging sits below alerts, so it cannot import alerts: every process that may need alerts
there (the app factory's lifespan for `siaga serve`, the worker) calls `install()` once.
Messaging then hands each reply to the handler registered here, and filters deliveries by
group with the members query registered here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from service.alerts import replies
from service.alerts.models import Member
from service.messaging import inbound, queries


def member_ids_in_groups(group_ids: list[int]) -> Select[Any]:
    return select(Member.id).where(Member.group_id.in_(group_ids))


def install() -> None:
    inbound.set_reply_handler(replies)
    queries.set_group_members(member_ids_in_groups)
