"""warnings people trust: map notices, cancelled threads, group contact, shelters

Revision ID: 0009_warnings
Revises: 0008_replies
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0009_warnings"
down_revision: str | None = "0008_replies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('alert','update','all_clear','cancel')"
NEW_KINDS = "kind IN ('alert','update','all_clear','cancel','preparedness')"


def upgrade() -> None:
    op.add_column("alert_groups", sa.Column("contact_phone", sa.String(length=20), nullable=True))
    op.add_column(
        "alert_rules",
        sa.Column("map_notice", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column("alerts", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", NEW_KINDS)
    op.create_table(
        "shelters",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT", srid=4326, spatial_index=False, from_text="ST_GeomFromEWKT"
            ),
            nullable=False,
        ),
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
            "kind IN ('titik_kumpul','shelter','posko')", name=op.f("ck_shelters_kind")
        ),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_shelters_capacity")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_shelters_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shelters")),
    )
    op.create_index("ix_shelters_community", "shelters", ["community_id"], unique=False)
    op.create_index("ix_shelters_geom", "shelters", ["geom"], unique=False, postgresql_using="gist")


def downgrade() -> None:
    op.drop_index("ix_shelters_geom", table_name="shelters", postgresql_using="gist")
    op.drop_index("ix_shelters_community", table_name="shelters")
    op.drop_table("shelters")
    op.drop_constraint(op.f("ck_alerts_kind"), "alerts", type_="check")
    op.create_check_constraint(op.f("ck_alerts_kind"), "alerts", OLD_KINDS)
    op.drop_column("alerts", "cancelled_at")
    op.drop_column("alert_rules", "map_notice")
    op.drop_column("alert_groups", "contact_phone")
