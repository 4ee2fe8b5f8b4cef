"""The `jobs` table: a unit of background work any domain can queue (service.jobs.queue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base

JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class Job(Base):
    """A unit of background work any domain can queue; workers claim rows with SKIP LOCKED."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
    # The lease: a running job's worker bumps heartbeat_at; a job whose heartbeat is older
    # than SIAGA_JOBS_LEASE_S is re-queued (or failed after SIAGA_JOBS_MAX_ATTEMPTS).
    # `attempts` doubles as the fencing token of the worker that holds the lease.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0", default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("status IN ('" + "','".join(JOB_STATUSES) + "')", name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index("ix_jobs_queued", "kind", "created_at", postgresql_where=text("status = 'queued'")),
        Index("ix_jobs_running", "heartbeat_at", postgresql_where=text("status = 'running'")),
    )
