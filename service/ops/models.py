"""Operations tables: the audit log and the shared rate-limit counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class AuditEntry(Base):
    """Who changed what: one row per write, in the same transaction as the change."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # No foreign key: the log outlives revoked or deleted keys; the name is copied for that.
    key_id: Mapped[int | None] = mapped_column(BigInteger)
    key_name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    target: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_key_id", "key_id"),
        Index("ix_audit_log_target", "target"),
    )


class RateLimitWindow(Base):
    """Hits per bucket (an API key or a client address) in one fixed window.

    Kept in PostgreSQL so that every API process behind a load balancer counts together.
    """

    __tablename__ = "rate_limit_windows"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        Index("ix_rate_limit_windows_window_start", "window_start"),
        {"prefixes": ["UNLOGGED"]},
    )
