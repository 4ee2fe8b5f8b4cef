"""Audit log output models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    key_id: int | None
    key_name: str | None
    role: str | None
    action: str
    target: str | None
    details: dict[str, Any]
    request_id: str | None
    client_ip: str | None


class AuditPage(BaseModel):
    entries: list[AuditEntryPublic]
    next_before_id: int | None


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """`ready` with the schema revision, or `unavailable` (503) saying what is down, never how."""

    status: Literal["ready", "unavailable"]
    revision: str | None = None
    down: list[Literal["database", "migrations"]] | None = None
    detail: str | None = None
