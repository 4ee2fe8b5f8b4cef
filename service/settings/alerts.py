"""Settings of alerting and messaging: rules, CAP, message texts, providers, the dispatcher."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from service.settings.common import settings_config


class AlertSettings(BaseSettings):
    model_config = settings_config("SIAGA_ALERTS_")

    sms_provider: Literal["console", "twilio"] = "console"
    whatsapp_provider: Literal["console", "twilio", "meta"] = "console"
    sender_name: str = "BPBD"
    dispatch_batch: int = Field(50, ge=1)
    max_attempts: int = Field(6, ge=1)
    rate_per_second: float = Field(50.0, gt=0)
    twilio_base_url: str = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_sms_from: str = ""
    twilio_whatsapp_from: str = ""
    twilio_public_base_url: str | None = None
    meta_base_url: str = "https://graph.facebook.com"
    meta_api_version: str = "v21.0"
    meta_phone_number_id: str = ""
    meta_access_token: str = ""
    meta_app_secret: str = ""
    meta_verify_token: str = ""
    # messaging: dispatcher, retries, fallback (see docs/messaging.md)
    http_timeout_s: float = Field(10.0, gt=0, description="per provider request")
    dispatch_interval_s: float = Field(1.0, gt=0, description="idle poll of the outbox")
    dispatch_concurrency: int = Field(
        64, ge=1, le=256, description="provider requests in flight per worker"
    )
    http_engine: Literal["curl", "httpx"] = Field(
        "curl", description="runs the dispatcher's provider requests (docs/messaging.md)"
    )
    retry_base_s: float = Field(2.0, gt=0, description="first retry delay; doubles each attempt")
    retry_max_s: float = Field(300.0, gt=0)
    sending_lease_s: float = Field(
        120.0, gt=0, description="a row 'sending' longer than this is reconciled, then retried"
    )
    meta_reconcile_wait_s: float = Field(
        300.0, ge=0, description="Meta has no lookup: wait this long for a status webhook"
    )
    whatsapp_receipt_timeout_s: float = Field(
        900.0, gt=0, description="WhatsApp without a delivery receipt after this falls back to SMS"
    )
    # Rules, CAP and message texts (the alerts work).
    cap_sender: str = Field("siaga@localhost", description="CAP <sender>, unique per installation")
    cap_identifier_prefix: str = Field("siaga", pattern=r"^[^\s,<&]+$")
    timezone: str = Field("Asia/Jakarta", description="offset used in CAP times and quiet hours")
    sms_max_segments: int = Field(1, ge=1, le=10)
    alert_expires_hours: float = Field(24.0, gt=0)
    ack_minutes_waspada: float = Field(60.0, gt=0)
    ack_minutes_siaga: float = Field(30.0, gt=0)
    ack_minutes_awas: float = Field(15.0, gt=0)
    evaluate_interval_seconds: float = Field(
        60.0, gt=0, description="the safety net; events wake the evaluation at once"
    )
    recompute_wait_s: float = Field(
        30.0,
        ge=0,
        description="a worker's risk recompute of new shaking waits this long at most for the "
        "first alerts of the rule evaluation the shaking woke (0: no wait)",
    )
    # Two: with the fan-out in the database, a rule's evaluation is mostly Python; more
    # threads only took the interpreter from the worker's dispatcher and risk recompute
    # (bench/warning_latency.py: scores 12.5 s with 8, 10.0 s with 3, 8.9 s with 2).
    evaluate_threads: int = Field(
        2, ge=1, le=32, description="rules evaluated at once in an event-driven evaluation"
    )
    escalate_interval_seconds: float = Field(60.0, gt=0)
    event_window_hours: float = Field(6.0, gt=0, description="feed events this young are signals")

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> AlertSettings:
        # The dispatcher starts no request after 3/4 of the lease minus one timeout, so the
        # lease must leave room for at least one request (docs/messaging.md).
        if self.sending_lease_s < 1.5 * self.http_timeout_s:
            raise ValueError(
                f"SIAGA_ALERTS_SENDING_LEASE_S ({self.sending_lease_s:g}) must be at least 1.5 "
                f"times SIAGA_ALERTS_HTTP_TIMEOUT_S ({self.http_timeout_s:g}); "
                "raise the lease or lower the timeout"
            )
        return self
