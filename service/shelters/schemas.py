"""Shelter output models (the input models live with the parsers in parsing.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.shelters.parsing import ShelterKind


class ShelterPublic(BaseModel):
    id: int
    community_code: str = Field(description="the Kemendagri code of the community it serves")
    name: str
    kind: ShelterKind
    capacity: int | None = Field(description="people it holds; null: unknown")
    notes: str | None = Field(
        description="phone numbers are masked unless the caller's key is responder or admin"
    )
    lon: float
    lat: float
