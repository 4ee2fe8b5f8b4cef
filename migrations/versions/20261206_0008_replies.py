"""replies: alert reply codes, capped reports, group-scoped API keys

Revision ID: 0008_replies
Revises: 0007_population_pin
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_replies"
down_revision: str | None = "0007_population_pin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("reply_code", sa.Integer(), nullable=True))
    # Earlier alerts get codes in the order they were sent, per group.
    op.execute(
        "UPDATE alerts a SET reply_code = n.code FROM ("
        " SELECT id, row_number() OVER (PARTITION BY group_id ORDER BY sent_at, id) AS code"
        " FROM alerts) n WHERE a.id = n.id"
    )
    op.create_unique_constraint("uq_alerts_group_reply_code", "alerts", ["group_id", "reply_code"])
    op.add_column(
        "ground_reports",
        sa.Column("dropped_chars", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "api_key_groups",
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_groups_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["alert_groups.id"],
            name=op.f("fk_api_key_groups_group_id_alert_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_id", "group_id", name=op.f("pk_api_key_groups")),
    )


def downgrade() -> None:
    op.drop_table("api_key_groups")
    op.drop_column("ground_reports", "dropped_chars")
    op.drop_constraint("uq_alerts_group_reply_code", "alerts", type_="unique")
    op.drop_column("alerts", "reply_code")
