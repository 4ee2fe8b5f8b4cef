"""API keys over HTTP (admin): create, list, revoke. The CLI `siaga keys` does the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from sqlalchemy import select

from service.api.deps import AdminDep, AuditDep, SessionDep, require_role
from service.auth.models import ApiKey
from service.auth.schemas import KeyCreate, KeyCreated, KeyPublic, Me
from service.auth.service import Principal, create_key, key_groups, revoke_key

router = APIRouter(prefix="/api/v1/keys", tags=["access"])

KeyId = Annotated[int, Path(ge=1, le=2**62, description="the key's id")]


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
def create(body: KeyCreate, _: AdminDep, write: AuditDep) -> KeyCreated:
    key, token = create_key(
        session=write.session, name=body.name, role=body.role, group_ids=body.group_ids
    )
    write.commit(
        "keys.create",
        f"api_key:{key.id}",
        {"name": body.name, "role": body.role, "prefix": key.prefix, "group_ids": body.group_ids},
    )
    public = _public(key, key_groups(write.session, [key.id]))
    return KeyCreated(**public.model_dump(), token=token)


@router.delete(
    "/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key (admin)"
)
def revoke(key_id: KeyId, _: AdminDep, write: AuditDep) -> None:
    revoke_key(session=write.session, key_id=key_id)
    write.commit("keys.revoke", f"api_key:{key_id}")
