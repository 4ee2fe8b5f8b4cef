"""Groups: create, list, edit and delete the units that are told about communities."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.alerts.models import Alert, AlertGroup, Member
from service.alerts.schemas import GroupCreate, GroupUpdate
from service.communities.models import Community
from service.db import get_or_404
from service.errors import Conflict, InvalidInput, NotFound


class _GroupOwned(Protocol):
    @property
    def group_id(self) -> int: ...


_Owned = TypeVar("_Owned", bound=_GroupOwned)


def _check_communities(session: Session, codes: list[str]) -> list[str]:
    codes = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    if not codes:
        raise InvalidInput("community_codes is empty: list the Kemendagri codes the group covers")
    known = set(session.scalars(select(Community.code).where(Community.code.in_(codes))))
    missing = [c for c in codes if c not in known]
    if missing:
        raise InvalidInput(
            f"unknown community codes: {', '.join(missing)}; import the communities first "
            "(`siaga communities import`) or fix the codes"
        )
    return codes


def get_group(*, session: Session, group_id: int) -> AlertGroup:
    return get_or_404(session, AlertGroup, group_id, f"no group with id {group_id}")


def get_in_group(
    session: Session, model: type[_Owned], ident: int, group_id: int, noun: str
) -> _Owned:
    """The `model` row `ident` if it belongs to the group, else NotFound (a row of another
    group counts as missing)."""
    row = session.get(model, ident)
    if row is None or row.group_id != group_id:
        raise NotFound(f"no {noun} {ident} in group {group_id}")
    return row


def create_group(*, session: Session, data: GroupCreate) -> AlertGroup:
    if session.scalar(select(AlertGroup.id).where(AlertGroup.name == data.name)) is not None:
        raise Conflict(f"a group named {data.name!r} exists already; choose another name")
    group = AlertGroup(
        name=data.name,
        description=data.description,
        community_codes=_check_communities(session, data.community_codes),
        sender_name=data.sender_name,
        contact_phone=data.contact_phone,
    )
    session.add(group)
    session.flush()
    return group


def list_groups(*, session: Session) -> list[tuple[AlertGroup, int]]:
    counts = select(Member.group_id, func.count().label("n")).group_by(Member.group_id).subquery()
    rows = session.execute(
        select(AlertGroup, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.group_id == AlertGroup.id)
        .order_by(AlertGroup.id)
    ).all()
    return [(g, int(n)) for g, n in rows]


def member_count(*, session: Session, group_id: int) -> int:
    return int(session.scalar(select(func.count()).where(Member.group_id == group_id)) or 0)


def update_group(*, session: Session, group_id: int, data: GroupUpdate) -> AlertGroup:
    group = get_group(session=session, group_id=group_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] != group.name:
        taken = session.scalar(select(AlertGroup.id).where(AlertGroup.name == changes["name"]))
        if taken is not None:
            raise Conflict(f"a group named {changes['name']!r} exists already")
    if changes.get("community_codes") is not None:
        changes["community_codes"] = _check_communities(session, changes["community_codes"])
    for key, value in changes.items():
        if value is None and key in ("name", "community_codes"):
            continue
        setattr(group, key, value)
    session.flush()
    return group


def delete_group(*, session: Session, group_id: int) -> None:
    group = get_group(session=session, group_id=group_id)
    if session.scalar(select(Alert.id).where(Alert.group_id == group_id).limit(1)) is not None:
        raise Conflict(
            f"group {group_id} has alerts on record, which are kept for audit; "
            "remove its members or disable its rules instead"
        )
    session.delete(group)
    session.flush()
