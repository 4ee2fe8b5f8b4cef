"""risk: index the current scores of a series by layer name (the recompute supersedes them)

Revision ID: 0011_risk_current_layer
Revises: 0010_job_leases
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_risk_current_layer"
down_revision: str | None = "0010_job_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # `UPDATE risk_scores SET superseded_at = now WHERE layer_name = X AND superseded_at IS
    # NULL` ran on every recompute; the unique index leads with community_id, so it could not
    # find a series' rows without reading every current score.
    op.create_index(
        "ix_risk_scores_current_layer",
        "risk_scores",
        ["layer_name"],
        unique=False,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_risk_scores_current_layer",
        table_name="risk_scores",
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
