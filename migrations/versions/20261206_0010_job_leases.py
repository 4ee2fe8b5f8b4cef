"""job leases: attempts, heartbeat and worker on the jobs table

Revision ID: 0010_job_leases
Revises: 0009_warnings
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_job_leases"
down_revision: str | None = "0009_warnings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("jobs", sa.Column("worker", sa.String(length=200), nullable=True))
    # Jobs left running before leases existed have no heartbeat: the reaper takes them at once.
    op.execute("UPDATE jobs SET attempts = 1 WHERE status <> 'queued'")
    op.create_index(
        "ix_jobs_running",
        "jobs",
        ["heartbeat_at"],
        unique=False,
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_jobs_running", table_name="jobs", postgresql_where=sa.text("status = 'running'")
    )
    op.drop_column("jobs", "worker")
    op.drop_column("jobs", "heartbeat_at")
    op.drop_column("jobs", "attempts")
