"""API keys: random tokens shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from service.auth.models import ROLES, ApiKey, ApiKeyGroup
from service.db import get_or_404, utcnow
from service.errors import Forbidden, InvalidInput

# Each role includes the ones before it.
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class Principal:
    key_id: int | None
    name: str
    role: str
    # A coordinator key bound to groups manages those groups only; None: not bound.
    group_ids: frozenset[int] | None = None

    def has(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def bound(self) -> bool:
        return self.group_ids is not None and not self.has("responder")

    def check_group(self, group_id: int) -> None:
        """Refuse a key bound to other groups (403); unbound keys pass."""
        if self.bound and group_id not in (self.group_ids or ()):
            own = ", ".join(str(g) for g in sorted(self.group_ids or ()))
            raise Forbidden(
                f"this key is bound to group(s) {own}; group {group_id} is not one of them"
            )

    def check_unbound(self, action: str) -> None:
        if self.bound:
            raise Forbidden(f"a key bound to groups may not {action}; use an unbound key")

    def sees_people(self, group_id: int | None) -> bool:
        """Names and numbers: responder and admin keys, and a key bound to this group."""
        if self.has("responder"):
            return True
        return self.bound and group_id is not None and group_id in (self.group_ids or ())


ANONYMOUS = Principal(key_id=None, name="anonymous", role="viewer")


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(
    *, session: Session, name: str, role: str, group_ids: Iterable[int] = ()
) -> tuple[ApiKey, str]:
    """A new key; `group_ids` binds a coordinator key to those groups."""
    if role not in ROLE_RANK:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    groups = sorted(set(group_ids))
    if groups and role != "coordinator":
        raise InvalidInput(
            f"only coordinator keys can be bound to groups; drop group_ids or use role "
            f"'coordinator' (got {role!r})"
        )
    if groups:
        found = set(
            session.scalars(
                select(text("id")).select_from(text("alert_groups")).where(text("id = ANY(:ids)")),
                {"ids": groups},
            )
        )
        missing = [g for g in groups if g not in found]
        if missing:
            raise InvalidInput(
                f"no group with id {', '.join(map(str, missing))}; list groups with "
                "GET /api/v1/groups"
            )
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=token[:10], key_hash=hash_key(token))
    session.add(key)
    session.flush()
    session.add_all(ApiKeyGroup(key_id=key.id, group_id=g) for g in groups)
    session.flush()
    return key, token


def key_groups(session: Session, key_ids: Iterable[int]) -> dict[int, list[int]]:
    """The groups each key is bound to (absent: not bound)."""
    out: dict[int, list[int]] = {}
    rows = session.execute(
        select(ApiKeyGroup.key_id, ApiKeyGroup.group_id)
        .where(ApiKeyGroup.key_id.in_(list(key_ids)))
        .order_by(ApiKeyGroup.key_id, ApiKeyGroup.group_id)
    )
    for key_id, group_id in rows:
        out.setdefault(key_id, []).append(group_id)
    return out


def authenticate(*, session: Session, token: str) -> Principal | None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(token), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    groups = key_groups(session, [key.id]).get(key.id)
    return Principal(
        key_id=key.id,
        name=key.name,
        role=key.role,
        group_ids=frozenset(groups) if groups else None,
    )


def revoke_key(*, session: Session, key_id: int) -> None:
    key = get_or_404(session, ApiKey, key_id, f"no API key with id {key_id}")
    if key.revoked_at is None:  # revoking twice keeps the first time
        key.revoked_at = utcnow()
