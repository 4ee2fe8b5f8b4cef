"""API key input and output models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


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
