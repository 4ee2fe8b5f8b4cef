"""messaging tables: outbox deliveries, provider status events, inbound messages

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "message_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sms_fallback_body", sa.Text(), nullable=True),
        sa.Column("template", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("purpose", sa.String(length=32), server_default="alert", nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("uncertain", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("last_error_code", sa.String(length=32), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fallback_of", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "channel IN ('sms','whatsapp')", name=op.f("ck_message_deliveries_channel")
        ),
        sa.CheckConstraint(
            "status IN ('pending','sending','accepted','queued','sent','delivered','read','undelivered','failed','dead','opted_out')",
            name=op.f("ck_message_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["fallback_of"],
            ["message_deliveries.id"],
            name=op.f("fk_message_deliveries_fallback_of_message_deliveries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_deliveries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_message_deliveries_idempotency_key")),
    )
    op.create_index(
        "ix_message_deliveries_alert_id", "message_deliveries", ["alert_id"], unique=False
    )
    op.create_index(
        "ix_message_deliveries_awaiting_receipt",
        "message_deliveries",
        ["accepted_at"],
        unique=False,
        postgresql_where=sa.text("channel = 'whatsapp' AND status IN ('accepted','queued','sent')"),
    )
    op.create_index(
        "ix_message_deliveries_due",
        "message_deliveries",
        ["next_attempt_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_message_deliveries_fallback_of", "message_deliveries", ["fallback_of"], unique=False
    )
    op.create_index(
        "ix_message_deliveries_provider_message_id",
        "message_deliveries",
        ["provider", "provider_message_id"],
        unique=True,
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )
    op.create_index(
        "ix_message_deliveries_sending",
        "message_deliveries",
        ["claimed_at"],
        unique=False,
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.create_table(
        "message_inbound",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("button_payload", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handled_as", sa.String(length=24), nullable=True),
        sa.Column(
            "raw", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_inbound")),
    )
    op.create_index(
        "ix_message_inbound_phone_received_at",
        "message_inbound",
        ["phone", "received_at"],
        unique=False,
    )
    op.create_index(
        "uq_message_inbound_provider_message",
        "message_inbound",
        ["provider", "provider_message_id"],
        unique=True,
    )
    op.create_table(
        "message_opt_outs",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opted_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_message_opt_outs")),
    )
    op.create_table(
        "message_rate_buckets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_message_rate_buckets")),
    )
    op.create_table(
        "message_delivery_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["message_deliveries.id"],
            name=op.f("fk_message_delivery_events_delivery_id_message_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_delivery_events")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_message_delivery_events_dedupe_key")),
    )
    op.create_index(
        "ix_message_delivery_events_delivery_id",
        "message_delivery_events",
        ["delivery_id"],
        unique=False,
    )
    op.create_index(
        "ix_message_delivery_events_provider_message_id",
        "message_delivery_events",
        ["provider_message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_message_delivery_events_provider_message_id", table_name="message_delivery_events"
    )
    op.drop_index("ix_message_delivery_events_delivery_id", table_name="message_delivery_events")
    op.drop_table("message_delivery_events")
    op.drop_table("message_rate_buckets")
    op.drop_table("message_opt_outs")
    op.drop_index("uq_message_inbound_provider_message", table_name="message_inbound")
    op.drop_index("ix_message_inbound_phone_received_at", table_name="message_inbound")
    op.drop_table("message_inbound")
    op.drop_index(
        "ix_message_deliveries_sending",
        table_name="message_deliveries",
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.drop_index(
        "ix_message_deliveries_provider_message_id",
        table_name="message_deliveries",
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )
    op.drop_index("ix_message_deliveries_fallback_of", table_name="message_deliveries")
    op.drop_index(
        "ix_message_deliveries_due",
        table_name="message_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "ix_message_deliveries_awaiting_receipt",
        table_name="message_deliveries",
        postgresql_where=sa.text("channel = 'whatsapp' AND status IN ('accepted','queued','sent')"),
    )
    op.drop_index("ix_message_deliveries_alert_id", table_name="message_deliveries")
    op.drop_table("message_deliveries")
