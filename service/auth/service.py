"""API keys: random tokens shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth.models import ROLES, ApiKey
from service.db import utcnow
from service.errors import InvalidInput, NotFound

# Each role includes the ones before it.
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
KEY_PREFIX = "sk_"


@dataclass(frozen=True)
class Principal:
    key_id: int | None
    name: str
    role: str

    def has(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


ANONYMOUS = Principal(key_id=None, name="anonymous", role="viewer")


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(*, session: Session, name: str, role: str) -> tuple[ApiKey, str]:
    if role not in ROLE_RANK:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=token[:10], key_hash=hash_key(token))
    session.add(key)
    session.flush()
    return key, token


def authenticate(*, session: Session, token: str) -> Principal | None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(token), ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    return Principal(key_id=key.id, name=key.name, role=key.role)


def revoke_key(*, session: Session, key_id: int) -> None:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is None:  # revoking twice keeps the first time
        key.revoked_at = utcnow()
