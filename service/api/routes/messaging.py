"""The outbox, read-only: deliveries with their status history, and inbound messages.

Both carry members' phone numbers: responder and admin keys see everything; a coordinator
key bound to groups sees its groups' members' deliveries only (others are 404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.api.deps import CoordinatorDep, IdPath, OptionalIdQuery, ResponderDep, SessionDep
from service.auth.service import Principal
from service.errors import Forbidden, NotFound
from service.messaging import queries
from service.messaging.schemas import DeliveryPage, DeliveryPublic, InboundPage

router = APIRouter(prefix="/api/v1/messaging", tags=["messaging"])


def _delivery_groups(principal: Principal) -> frozenset[int] | None:
    """None: every delivery; else the groups whose members' deliveries the key may read."""
    if principal.has("responder"):
        return None
    if not principal.bound:
        raise Forbidden(
            f"role {principal.role!r} may not read deliveries; it needs 'responder' or a "
            "coordinator key bound to groups"
        )
    return principal.group_ids or frozenset()


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    session: SessionDep,
    principal: CoordinatorDep,
    alert_id: OptionalIdQuery = None,
    status: str | None = None,
    phone: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Deliveries, newest first, each with its status history (console messages included).
    Responder and admin keys see all; a coordinator key bound to groups sees its groups'
    members' deliveries only."""
    return queries.list_deliveries(
        session=session,
        alert_id=alert_id,
        status=status,
        phone=phone,
        limit=limit,
        offset=offset,
        group_ids=_delivery_groups(principal),
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryPublic)
def get_delivery(
    delivery_id: IdPath, session: SessionDep, principal: CoordinatorDep
) -> dict[str, Any]:
    """One delivery with its status history (404 also when it is outside the key's groups)."""
    found = queries.get_delivery(
        session=session, delivery_id=delivery_id, group_ids=_delivery_groups(principal)
    )
    if found is None:
        raise NotFound(f"no delivery {delivery_id}")
    return found


@router.get("/inbound", response_model=InboundPage)
def list_inbound(
    session: SessionDep,
    _: ResponderDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Messages members sent us and what each was taken as (stop, ack, report, …)."""
    return queries.list_inbound(session=session, limit=limit, offset=offset)
