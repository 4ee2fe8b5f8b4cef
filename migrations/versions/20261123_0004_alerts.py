"""alerts tables: groups, members, rules, alerts, acknowledgements, reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("community_codes", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("sender_name", sa.String(length=40), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_groups")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_groups_name")),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("hazards", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("threshold", sa.String(length=20), nullable=False),
        sa.Column("cooldown_minutes", sa.Integer(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("timezone", sa.String(length=40), nullable=False),
        sa.Column("quiet_bypass_level", sa.Integer(), nullable=False),
        sa.Column("all_clear_after_minutes", sa.Integer(), nullable=False),
        sa.Column("ack_minutes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alert_rules_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    op.create_table(
        "group_members",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("backup_id", sa.BigInteger(), nullable=True),
        sa.Column("community_code", sa.String(length=32), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("channel IN ('whatsapp','sms')", name=op.f("ck_group_members_channel")),
        sa.CheckConstraint("language IN ('id','en')", name=op.f("ck_group_members_language")),
        sa.ForeignKeyConstraint(
            ["backup_id"],
            ["group_members.id"],
            name=op.f("fk_group_members_backup_id_group_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_group_members_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["group_members.id"],
            name=op.f("fk_group_members_parent_id_group_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_members")),
        sa.UniqueConstraint("group_id", "phone", name=op.f("uq_group_members_group_id")),
    )
    op.create_index("ix_group_members_phone", "group_members", ["phone"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("identifier", sa.String(length=80), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("hazard", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("msg_type", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("source_ref", sa.Text(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=True),
        sa.Column("headline", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('alert','update','all_clear','cancel')", name=op.f("ck_alerts_kind")
        ),
        sa.CheckConstraint(
            "msg_type IN ('Alert','Update','Cancel')", name=op.f("ck_alerts_msg_type")
        ),
        sa.CheckConstraint("status IN ('Actual','Exercise')", name=op.f("ck_alerts_status")),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_alerts_group_id_alert_groups"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alerts_rule_id_alert_rules"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["alerts.id"],
            name=op.f("fk_alerts_thread_id_alerts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_dedupe_key")),
        sa.UniqueConstraint("identifier", name=op.f("uq_alerts_identifier")),
    )
    op.create_index("ix_alerts_group_sent", "alerts", ["group_id", "sent_at"], unique=False)
    op.create_table(
        "alert_recipients",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("skipped_reason", sa.Text(), nullable=True),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ack_channel", sa.String(length=10), nullable=True),
        sa.Column("ack_text", sa.Text(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_to_backup_id", sa.BigInteger(), nullable=True),
        sa.Column("escalated_to_parent_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_recipients_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["group_members.id"],
            name=op.f("fk_alert_recipients_member_id_group_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_recipients")),
        sa.UniqueConstraint("alert_id", "member_id", name=op.f("uq_alert_recipients_alert_id")),
    )
    op.create_index("ix_alert_recipients_member", "alert_recipients", ["member_id"], unique=False)
    op.create_table(
        "alert_watch",
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("hazard", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("open_level", sa.Integer(), nullable=False),
        sa.Column("thread_alert_id", sa.BigInteger(), nullable=True),
        sa.Column("last_alert_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_alert_level", sa.Integer(), nullable=False),
        sa.Column("last_source_ref", sa.Text(), nullable=True),
        sa.Column("below_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rules.id"],
            name=op.f("fk_alert_watch_rule_id_alert_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["thread_alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_watch_thread_alert_id_alerts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("rule_id", "hazard", "community_code", name=op.f("pk_alert_watch")),
    )
    op.create_table(
        "ground_reports",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("community_code", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("public_text", sa.Text(), server_default="", nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_ground_reports_alert_id_alerts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_ground_reports_group_id_alert_groups"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["group_members.id"],
            name=op.f("fk_ground_reports_member_id_group_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ground_reports")),
        sa.UniqueConstraint(
            "provider_message_id", name=op.f("uq_ground_reports_provider_message_id")
        ),
    )
    op.create_index(
        "ix_ground_reports_geom", "ground_reports", ["geom"], unique=False, postgresql_using="gist"
    )


def downgrade() -> None:
    op.drop_index("ix_ground_reports_geom", table_name="ground_reports", postgresql_using="gist")
    op.drop_table("ground_reports")
    op.drop_table("alert_watch")
    op.drop_index("ix_alert_recipients_member", table_name="alert_recipients")
    op.drop_table("alert_recipients")
    op.drop_index("ix_alerts_group_sent", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_group_members_phone", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("alert_rules")
    op.drop_table("alert_groups")
