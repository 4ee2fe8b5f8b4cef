"""Input and output models per use. Public models carry no names or phone numbers."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from service.alerts.levels import TRIGGERS
from service.alerts.phones import PhoneError, normalize_phone

Channel = Literal["whatsapp", "sms"]
Language = Literal["id", "en"]
Hazard = Literal[
    "flood", "earthquake", "tsunami", "volcano", "landslide", "extreme_weather", "other"
]


def _contact(v: str | None) -> str | None:
    if v is None:
        return v
    try:
        return normalize_phone(v)
    except PhoneError as exc:
        raise ValueError(str(exc)) from None


CONTACT_DOC = "the posko or contact number named in every message (e.g. +6281234567890)"


class GroupCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    community_codes: list[str] = Field(min_length=1, description="Kemendagri codes it covers")
    sender_name: str | None = Field(None, max_length=40)
    contact_phone: str | None = Field(None, description=CONTACT_DOC)

    @field_validator("contact_phone")
    @classmethod
    def _contact_phone(cls, v: str | None) -> str | None:
        return _contact(v)


class GroupUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    community_codes: list[str] | None = Field(None, min_length=1)
    sender_name: str | None = Field(None, max_length=40)
    contact_phone: str | None = Field(None, description=CONTACT_DOC + "; null removes it")

    @field_validator("contact_phone")
    @classmethod
    def _contact_phone(cls, v: str | None) -> str | None:
        return _contact(v)


class GroupPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    community_codes: list[str]
    sender_name: str | None
    member_count: int = 0


class GroupPrivate(GroupPublic):
    """For responder and admin keys: the group's contact number too."""

    contact_phone: str | None = None


# The CSV import's columns that name members by phone; JSON links members by id.
_CSV_ONLY = {"parent_phone": "parent_id", "backup_phone": "backup_id"}


def _refuse_unknown(model: type[BaseModel], data: Any) -> Any:
    """Unknown fields are refused by name (a dropped `parent_phone` loses the tree link)."""
    if isinstance(data, dict):
        unknown = sorted(k for k in data if k not in model.model_fields)
        if unknown:
            hints = [f"{k} (use {_CSV_ONLY[k]}, a member id)" for k in unknown if k in _CSV_ONLY]
            hint = f"; {', '.join(hints)}" if hints else ""
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)}{hint}; "
                f"allowed: {', '.join(model.model_fields)}"
            )
    return data


class MemberBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel = "whatsapp"
    language: Language = "id"
    role: str | None = Field(None, max_length=100)
    parent_id: int | None = None
    backup_id: int | None = None
    community_code: str | None = None
    consent: bool = True


class MemberCreate(MemberBase):
    name: str = Field(min_length=1, max_length=200)
    phone: str

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        return _refuse_unknown(cls, data)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        try:
            return normalize_phone(v)
        except PhoneError as exc:
            raise ValueError(str(exc)) from None


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    phone: str | None = None
    channel: Channel | None = None
    language: Language | None = None
    role: str | None = None
    parent_id: int | None = None
    backup_id: int | None = None
    community_code: str | None = None
    consent: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        return _refuse_unknown(cls, data)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return normalize_phone(v)
        except PhoneError as exc:
            raise ValueError(str(exc)) from None


class MemberPublic(BaseModel):
    """What anyone may see: the shape of the tree, no names or numbers."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    channel: str
    language: str
    role: str | None
    parent_id: int | None
    backup_id: int | None
    community_code: str | None
    consent: bool
    opted_out: bool = False  # replied STOP/BERHENTI (and not MULAI since)


class MemberPrivate(MemberPublic):
    name: str
    phone: str


class RuleCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    hazards: list[Hazard] = Field(min_length=1)
    trigger: Literal["risk_level", "mmi", "cap_severity", "alert_level"]
    threshold: str = Field(
        description="sedang/tinggi, an MMI number, Moderate/Severe/Extreme, orange/red"
    )
    cooldown_minutes: int = Field(360, ge=0, le=60 * 24 * 30)
    quiet_start: time | None = Field(None, description="local time, e.g. 22:00")
    quiet_end: time | None = Field(None, description="local time, e.g. 05:00")
    timezone: str = "Asia/Jakarta"
    quiet_bypass_level: int = Field(
        3, ge=1, le=4, description="levels at or above ignore quiet hours"
    )
    all_clear_after_minutes: int = Field(120, ge=0, le=60 * 24 * 30)
    ack_minutes: dict[Literal["1", "2", "3"], float] = Field(default_factory=dict)
    drill: bool = False
    enabled: bool = True
    map_notice: bool = Field(
        False,
        description="scores from hazard maps (not feeds) never warn; with this on, send one "
        "preparedness notice per map version and community instead",
    )


class RuleUpdate(BaseModel):
    name: str | None = None
    hazards: list[Hazard] | None = Field(None, min_length=1)
    trigger: Literal["risk_level", "mmi", "cap_severity", "alert_level"] | None = None
    threshold: str | None = None
    cooldown_minutes: int | None = Field(None, ge=0, le=60 * 24 * 30)
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str | None = None
    quiet_bypass_level: int | None = Field(None, ge=1, le=4)
    all_clear_after_minutes: int | None = Field(None, ge=0, le=60 * 24 * 30)
    ack_minutes: dict[Literal["1", "2", "3"], float] | None = None
    drill: bool | None = None
    enabled: bool | None = None
    map_notice: bool | None = None


class RulePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    name: str
    hazards: list[str]
    trigger: str
    threshold: str
    cooldown_minutes: int
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    quiet_bypass_level: int
    all_clear_after_minutes: int
    ack_minutes: dict[str, float]
    drill: bool
    enabled: bool
    map_notice: bool = False


class SignalIn(BaseModel):
    """A signal posted by hand or by another system (same fields the job gathers)."""

    community_code: str
    hazard: Hazard
    source_ref: str = Field(min_length=1, max_length=200)
    observed_at: datetime | None = None
    risk_level: str | None = None
    score: float | None = None
    mmi: float | None = Field(None, ge=1, le=12)
    cap_severity: str | None = None
    alert_level: str | None = None
    headline: str | None = Field(None, max_length=120)
    basis: Literal["feed", "map"] = Field(
        "feed",
        description="feed: an event, observation or forecast (may warn); map: a hazard map's "
        "score (never warns; preparedness notice when the rule asks for one)",
    )


class DrillIn(BaseModel):
    hazard: Hazard = "earthquake"
    level: int = Field(3, ge=1, le=3)
    community_code: str | None = Field(None, description="default: the group's first community")


class EvaluationOut(BaseModel):
    alerts_created: list[int]
    held: int
    suppressed: int
    all_clears: list[int]
    notices_created: list[int] = Field(
        default_factory=list, description="preparedness notices from hazard maps"
    )


TRIGGER_NAMES = TRIGGERS


# ---------------------------------------------------------------- what the alerts API shows

# As the routes wrote them before they were typed: ISO 8601 with the offset ("+00:00").
Timestamp = Annotated[datetime, PlainSerializer(lambda v: v.isoformat(), when_used="json")]


class ImportOut(BaseModel):
    created: int
    updated: int
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="always empty here: a CSV with errors is a 400"
    )


class AlertCounts(BaseModel):
    recipients: int
    enqueued: int
    skipped: int
    delivered: int
    failed: int
    opted_out: int
    acknowledged: int
    escalated: int
    time_to_first_ack_s: float | None


class AlertSummary(BaseModel):
    id: int
    identifier: str
    group_id: int
    rule_id: int | None
    thread_id: int | None = Field(description="the first alert of the thread; null: this one")
    hazard: str
    community_code: str
    level: int
    level_name: str | None
    kind: str
    msg_type: str
    status: str = Field(description="CAP status: Actual or Exercise (a drill)")
    source_ref: str
    headline: str | None
    sent_at: Timestamp
    expires_at: Timestamp | None
    ack_due_at: Timestamp | None
    closed_at: Timestamp | None
    cancelled: bool
    cancelled_at: Timestamp | None
    label: str = Field(description="a title that never lets a drill or cancel look real")
    cap_url: str
    counts: AlertCounts


class ThreadMessage(BaseModel):
    id: int
    kind: str
    msg_type: str
    level: int
    sent_at: Timestamp


class StatusEvent(BaseModel):
    """One status the provider (or the dispatcher) reported for a delivery."""

    status: str
    source: str | None
    provider_message_id: str | None
    error_code: str | None
    error_message: str | None
    occurred_at: Timestamp


class FallbackOut(BaseModel):
    delivery_id: int
    channel: str
    status: str
    provider_message_id: str | None


class RecipientOut(BaseModel):
    """One member an alert went to; name and phone only for keys that see people."""

    member_id: int | None
    role: str | None
    channel: str
    delivery_id: int | None
    status: str | None
    fallback: FallbackOut | None = Field(description="the SMS a WhatsApp message fell back to")
    error_code: str | None
    status_history: list[StatusEvent]
    provider: str | None
    provider_message_id: str | None
    skipped_reason: str | None
    acknowledged_at: Timestamp | None
    ack_channel: str | None
    escalated_at: Timestamp | None
    escalated_to_backup_id: int | None
    escalated_to_parent_id: int | None
    name: str | None = None
    phone: str | None = None


class AlertDetail(AlertSummary):
    group_name: str | None
    thread: list[ThreadMessage]
    recipients: list[RecipientOut]
    escalation_count: int
