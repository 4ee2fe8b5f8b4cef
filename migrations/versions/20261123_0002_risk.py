"""risk: jobs, time-versioned risk scores, per-layer recompute state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('queued','running','succeeded','failed')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name=op.f("ck_jobs_progress")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_queued",
        "jobs",
        ["kind", "created_at"],
        unique=False,
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "risk_layer_states",
        sa.Column("layer_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("communities", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint(
            "status IN ('succeeded','failed')", name=op.f("ck_risk_layer_states_status")
        ),
        sa.ForeignKeyConstraint(
            ["layer_id"],
            ["hazard_layers.id"],
            name=op.f("fk_risk_layer_states_layer_id_hazard_layers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("layer_id", name=op.f("pk_risk_layer_states")),
    )
    op.create_table(
        "risk_scores",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("layer_id", sa.BigInteger(), nullable=False),
        sa.Column("layer_name", sa.String(length=200), nullable=False),
        sa.Column("hazard", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("hazard_index", sa.Float(), nullable=False),
        sa.Column("vulnerability_index", sa.Float(), nullable=False),
        sa.Column("capacity_index", sa.Float(), nullable=False),
        sa.Column("components", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("exposure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "level IN ('rendah','sedang','tinggi')", name=op.f("ck_risk_scores_level")
        ),
        sa.CheckConstraint("method IN ('coverage','centre')", name=op.f("ck_risk_scores_method")),
        sa.CheckConstraint("score >= 0 AND score <= 1", name=op.f("ck_risk_scores_score")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_risk_scores_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["layer_id"],
            ["hazard_layers.id"],
            name=op.f("fk_risk_scores_layer_id_hazard_layers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_scores")),
    )
    op.create_index(
        "ix_risk_scores_community_hazard",
        "risk_scores",
        ["community_id", "hazard", "computed_at"],
        unique=False,
    )
    op.create_index(
        "ix_risk_scores_current",
        "risk_scores",
        ["hazard", "level"],
        unique=False,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.create_index("ix_risk_scores_layer", "risk_scores", ["layer_id"], unique=False)
    op.create_index(
        "uq_risk_scores_current_series",
        "risk_scores",
        ["community_id", "layer_name"],
        unique=True,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_risk_scores_current_series",
        table_name="risk_scores",
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.drop_index("ix_risk_scores_layer", table_name="risk_scores")
    op.drop_index(
        "ix_risk_scores_current",
        table_name="risk_scores",
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.drop_index("ix_risk_scores_community_hazard", table_name="risk_scores")
    op.drop_table("risk_scores")
    op.drop_table("risk_layer_states")
    op.drop_index(
        "ix_jobs_queued", table_name="jobs", postgresql_where=sa.text("status = 'queued'")
    )
    op.drop_table("jobs")
