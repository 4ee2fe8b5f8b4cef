"""API keys over HTTP (admin): create, list, revoke. The CLI `siaga keys` does the same."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from service.api.deps import AdminDep, SessionDep, require_role
from service.auth.models import ApiKey
from service.auth.service import Principal, create_key, revoke_key
from service.ops import audit

router = APIRouter(prefix="/api/v1/keys", tags=["access"])

KeyId = Annotated[int, Path(ge=1, le=2**62, description="the key's id")]


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="who or what uses this key")
    role: Literal["viewer", "coordinator", "responder", "admin"]


class KeyPublic(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    token: str = Field(description="shown once; only its hash is stored")


class Me(BaseModel):
    id: int
    name: str
    role: str


@router.get("/me", summary="The key this request carries (any role)")
def me(principal: Annotated[Principal, Depends(require_role("viewer"))]) -> Me:
    assert principal.key_id is not None  # require_role refuses anonymous callers
    return Me(id=principal.key_id, name=principal.name, role=principal.role)


@router.get("", summary="List API keys (admin)")
def list_keys(_: AdminDep, session: SessionDep) -> list[KeyPublic]:
    keys = session.scalars(select(ApiKey).order_by(ApiKey.id))
    return [KeyPublic.model_validate(k, from_attributes=True) for k in keys]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key (admin)")
def create(body: KeyCreate, _: AdminDep, session: SessionDep, request: Request) -> KeyCreated:
    key, token = create_key(session=session, name=body.name, role=body.role)
    audit.record(
        session=session,
        actor=request,
        action="keys.create",
        target=f"api_key:{key.id}",
        details={"name": body.name, "role": body.role, "prefix": key.prefix},
    )
    session.commit()
    return KeyCreated(
        **KeyPublic.model_validate(key, from_attributes=True).model_dump(), token=token
    )


@router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key (admin)"
)
def revoke(key_id: KeyId, _: AdminDep, session: SessionDep, request: Request) -> None:
    revoke_key(session=session, key_id=key_id)
    audit.record(session=session, actor=request, action="keys.revoke", target=f"api_key:{key_id}")
    session.commit()
