"""API keys over HTTP (admin): create, list, revoke. The CLI `siaga keys` does the same."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from service.api import audit
from service.api.deps import AdminDep, SessionDep, require_role
from service.auth.models import ApiKey
from service.auth.service import Principal, create_key, key_groups, revoke_key

router = APIRouter(prefix="/api/v1/keys", tags=["access"])

KeyId = Annotated[int, Path(ge=1, le=2**62, description="the key's id")]


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="who or what uses this key")
    role: Literal["viewer", "coordinator", "responder", "admin"]
    group_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list,
        max_length=100,
        description="coordinator keys only: the groups the key may read and write",
    )


class KeyPublic(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    group_ids: list[int] | None = Field(
        None, description="the groups a coordinator key is bound to; null: not bound"
    )


class KeyCreated(KeyPublic):
    token: str = Field(description="shown once; only its hash is stored")


class Me(BaseModel):
    id: int
    name: str
    role: str
    group_ids: list[int] | None = None


@router.get("/me", summary="The key this request carries (any role)")
def me(principal: Annotated[Principal, Depends(require_role("viewer"))]) -> Me:
    assert principal.key_id is not None  # require_role refuses anonymous callers
    groups = sorted(principal.group_ids) if principal.group_ids is not None else None
    return Me(id=principal.key_id, name=principal.name, role=principal.role, group_ids=groups)


def _public(key: ApiKey, groups: dict[int, list[int]]) -> KeyPublic:
    return KeyPublic.model_validate(key, from_attributes=True).model_copy(
        update={"group_ids": groups.get(key.id)}
    )


@router.get("", summary="List API keys (admin)")
def list_keys(_: AdminDep, session: SessionDep) -> list[KeyPublic]:
    keys = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
    groups = key_groups(session, [k.id for k in keys])
    return [_public(k, groups) for k in keys]


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key (admin)")
def create(body: KeyCreate, _: AdminDep, session: SessionDep, request: Request) -> KeyCreated:
    key, token = create_key(
        session=session, name=body.name, role=body.role, group_ids=body.group_ids
    )
    audit.record(
        session=session,
        actor=request,
        action="keys.create",
        target=f"api_key:{key.id}",
        details={
            "name": body.name,
            "role": body.role,
            "prefix": key.prefix,
            "group_ids": body.group_ids,
        },
    )
    session.commit()
    public = _public(key, key_groups(session, [key.id]))
    return KeyCreated(**public.model_dump(), token=token)


@router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key (admin)"
)
def revoke(key_id: KeyId, _: AdminDep, session: SessionDep, request: Request) -> None:
    revoke_key(session=session, key_id=key_id)
    audit.record(session=session, actor=request, action="keys.revoke", target=f"api_key:{key_id}")
    session.commit()
