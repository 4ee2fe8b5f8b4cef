"""alerts tables: groups and their contact trees, rules, rule state, alerts, recipients, reports."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, TimestampMixin

CHANNELS = ("whatsapp", "sms")
LANGUAGES = ("id", "en")
ALERT_KINDS = ("alert", "update", "all_clear", "cancel", "preparedness")
CAP_STATUSES = ("Actual", "Exercise")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ('" + "','".join(values) + "')"


class AlertGroup(TimestampMixin, Base):
    """A desa task force, a BPBD unit, a school: who is told about which communities."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    community_codes: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False)
    # The name in every message (carriers require the brand); falls back to settings.
    sender_name: Mapped[str | None] = mapped_column(String(40))
    # The posko or contact number named in every message (E.164), when the group has one.
    contact_phone: Mapped[str | None] = mapped_column(String(20))


class Member(TimestampMixin, Base):
    __tablename__ = "group_members"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)  # E.164
    channel: Mapped[str] = mapped_column(String(10), nullable=False, default="whatsapp")
    language: Mapped[str] = mapped_column(String(5), nullable=False, default="id")
    role: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_members.id", ondelete="SET NULL")
    )
    backup_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_members.id", ondelete="SET NULL")
    )
    # Where the member lives, if known: places their ground reports on the map.
    community_code: Mapped[str | None] = mapped_column(String(32))
    consent: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    consent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("group_id", "phone"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("language", LANGUAGES), name="language"),
        Index("ix_group_members_phone", "phone"),
    )


class AlertRule(TimestampMixin, Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    hazards: Mapped[list[str]] = mapped_column(ARRAY(String(32)), nullable=False)
    trigger: Mapped[str] = mapped_column(String(20), nullable=False)
    threshold: Mapped[str] = mapped_column(String(20), nullable=False)
    cooldown_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=360)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(String(40), nullable=False, default="Asia/Jakarta")
    quiet_bypass_level: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    all_clear_after_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=120)
    # Minutes a member has to acknowledge, per level ("1": waspada, "2": siaga, "3": awas).
    ack_minutes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    drill: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Scores from hazard maps never warn; with this on they send one preparedness notice
    # per layer version and community (CAP Future/Possible, scope Restricted).
    map_notice: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="false"
    )


class AlertWatch(Base):
    """Rule state per hazard and community: what was last said, and since when it is calm."""

    __tablename__ = "alert_watch"

    rule_id: Mapped[int] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
    )
    hazard: Mapped[str] = mapped_column(String(32), primary_key=True)
    community_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    open_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    thread_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL")
    )
    last_alert_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_alert_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_source_ref: Mapped[str | None] = mapped_column(Text)
    below_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """One CAP message to one group about one hazard in one community."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    identifier: Mapped[str] = mapped_column(String(80), nullable=False, unique=True)
    # group:hazard:community:source:level:kind:status — an alert is created once.
    dedupe_key: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="RESTRICT"), nullable=False
    )
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    hazard: Mapped[str] = mapped_column(String(32), nullable=False)
    community_code: Mapped[str] = mapped_column(String(32), nullable=False)
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(12), nullable=False)
    msg_type: Mapped[str] = mapped_column(String(10), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="Actual")
    source_ref: Mapped[str] = mapped_column(Text, nullable=False)
    trigger: Mapped[str | None] = mapped_column(String(20))
    headline: Mapped[str | None] = mapped_column(Text)
    # The short number members reply with ("Balas YA 12"): 1, 2, 3, … per group.
    reply_code: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ack_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set on every message of a thread when a Cancel is sent for it: shown as DIBATALKAN.
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __table_args__ = (
        CheckConstraint(_in("kind", ALERT_KINDS), name="kind"),
        CheckConstraint(_in("status", CAP_STATUSES), name="status"),
        CheckConstraint("msg_type IN ('Alert','Update','Cancel')", name="msg_type"),
        Index("ix_alerts_group_sent", "group_id", "sent_at"),
        UniqueConstraint("group_id", "reply_code", name="uq_alerts_group_reply_code"),
    )


class AlertRecipient(Base):
    """A member an alert went to: their delivery, acknowledgement and escalation."""

    __tablename__ = "alert_recipients"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_members.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger)  # messaging's outbox row
    skipped_reason: Mapped[str | None] = mapped_column(Text)  # e.g. no consent
    acked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ack_channel: Mapped[str | None] = mapped_column(String(10))
    ack_text: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    escalated_to_backup_id: Mapped[int | None] = mapped_column(BigInteger)
    escalated_to_parent_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("alert_id", "member_id"),
        Index("ix_alert_recipients_member", "member_id"),
    )


class GroundReport(Base):
    """A reply that is not an acknowledgement code: what members see on the ground."""

    __tablename__ = "ground_reports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("alert_groups.id", ondelete="SET NULL"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("group_members.id", ondelete="SET NULL")
    )
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    community_code: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, nullable=False)
    # The text with phone numbers and members' names masked: what maps and viewers see.
    public_text: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Characters cut off a reply longer than the cap (REPORT_MAX_CHARS): 0 when kept whole.
    dropped_chars: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    provider_message_id: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    geom: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )

    __table_args__ = (Index("ix_ground_reports_geom", "geom", postgresql_using="gist"),)
