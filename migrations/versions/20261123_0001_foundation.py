"""foundation: communities, hazard layers and zones, API keys

Revision ID: 0001
Revises:
Create Date: 2026-11-23 15:16:37.681548
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer','coordinator','responder','admin')", name=op.f("ck_api_keys_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "communities",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=True),
        sa.Column("province_code", sa.String(length=32), nullable=True),
        sa.Column("province_name", sa.Text(), nullable=True),
        sa.Column("regency_code", sa.String(length=32), nullable=True),
        sa.Column("regency_name", sa.Text(), nullable=True),
        sa.Column("district_code", sa.String(length=32), nullable=True),
        sa.Column("district_name", sa.Text(), nullable=True),
        sa.Column("population", sa.BigInteger(), nullable=True),
        sa.Column("area_km2", sa.Float(), nullable=True),
        sa.Column("share_elderly", sa.Float(), nullable=True),
        sa.Column("share_children", sa.Float(), nullable=True),
        sa.Column("share_disabled", sa.Float(), nullable=True),
        sa.Column("share_poor", sa.Float(), nullable=True),
        sa.Column("has_early_warning", sa.Boolean(), nullable=True),
        sa.Column("has_task_force", sa.Boolean(), nullable=True),
        sa.Column("has_evacuation_site", sa.Boolean(), nullable=True),
        sa.Column("drills_per_year", sa.Integer(), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communities")),
        sa.UniqueConstraint("code", name=op.f("uq_communities_code")),
    )
    op.create_index(
        "ix_communities_geom", "communities", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "hazard_layers",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("hazard", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("licence", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("classification", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("raster_path", sa.Text(), nullable=True),
        sa.Column("raster_meta", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "extent",
            geoalchemy2.types.Geometry(
                geometry_type="POLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "hazard IS NULL OR hazard IN ('flood','earthquake','tsunami','volcano','landslide','extreme_weather','other')",
            name=op.f("ck_hazard_layers_hazard"),
        ),
        sa.CheckConstraint("kind IN ('zones','raster')", name=op.f("ck_hazard_layers_kind")),
        sa.CheckConstraint(
            "role = 'exposure' OR hazard IS NOT NULL", name=op.f("ck_hazard_layers_hazard_required")
        ),
        sa.CheckConstraint("role IN ('hazard','exposure')", name=op.f("ck_hazard_layers_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_layers")),
        sa.UniqueConstraint("name", "version", name="uq_hazard_layers_name_version"),
    )
    op.create_index(
        "ix_hazard_layers_extent",
        "hazard_layers",
        ["extent"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "hazard_zones",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("layer_id", sa.BigInteger(), nullable=False),
        sa.Column("hazard_class", sa.String(length=64), nullable=False),
        sa.Column("intensity", sa.Float(), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["layer_id"],
            ["hazard_layers.id"],
            name=op.f("fk_hazard_zones_layer_id_hazard_layers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazard_zones")),
    )
    op.create_index(
        "ix_hazard_zones_geom", "hazard_zones", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_hazard_zones_layer_id"), "hazard_zones", ["layer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_hazard_zones_layer_id"), table_name="hazard_zones")
    op.drop_index("ix_hazard_zones_geom", table_name="hazard_zones", postgresql_using="gist")
    op.drop_table("hazard_zones")
    op.drop_index("ix_hazard_layers_extent", table_name="hazard_layers", postgresql_using="gist")
    op.drop_table("hazard_layers")
    op.drop_index("ix_communities_geom", table_name="communities", postgresql_using="gist")
    op.drop_table("communities")
    op.drop_table("api_keys")
