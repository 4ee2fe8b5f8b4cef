"""Delivery state from messaging's outbox, for the alerts API.

Messaging owns the outbox tables; until they are on this branch there is nothing to read
and every recipient shows as enqueued.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def lookup(*, session: Session, delivery_ids: list[int]) -> dict[int, dict[str, Any]]:
    return {}
