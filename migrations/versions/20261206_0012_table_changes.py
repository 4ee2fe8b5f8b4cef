"""table_changes: a transactional version of the tables the OGC collections read

Revision ID: 0012_table_changes
Revises: 0011_risk_current_layer
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_table_changes"
down_revision: str | None = "0011_risk_current_layer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every table an OGC collection reads (tests/ogc/test_counts.py checks the catalog against
# the triggers), and the layer states the tiles' version reads.
TABLES = (
    "communities",
    "hazard_layers",
    "hazard_zones",
    "risk_scores",
    "risk_layer_states",
    "hazard_events",
    "alert_groups",
    "alerts",
    "ground_reports",
    "shelters",
)

# Appends only (one row per table and transaction): writers never wait on each other here.
NOTE_CHANGE = """
CREATE FUNCTION note_table_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO table_changes (table_name, xid)
    VALUES (TG_TABLE_NAME, pg_current_xact_id()::text::bigint)
    ON CONFLICT (table_name, xid) DO NOTHING;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "table_changes",
        sa.Column("table_name", sa.Text(), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.Column("weight", sa.BigInteger(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("table_name", "xid", name="pk_table_changes"),
    )
    op.execute(NOTE_CHANGE)
    for table in TABLES:
        op.execute(
            "CREATE TRIGGER note_table_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION note_table_change()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS note_table_change ON {table}")
    op.execute("DROP FUNCTION IF EXISTS note_table_change()")
    op.drop_table("table_changes")
