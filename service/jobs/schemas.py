"""Job output models: what `GET /api/v1/jobs/{id}` returns (queue.job_json builds it)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Timestamp = str  # RFC 3339, as datetime.isoformat() writes it


class JobPublic(BaseModel):
    id: int
    kind: str
    params: dict[str, Any]
    status: str = Field(description="queued, running, succeeded or failed")
    progress: float = Field(description="0..1")
    message: str | None
    result: dict[str, Any] | None
    error: str | None
    created_at: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    attempts: int
    heartbeat_at: Timestamp | None
