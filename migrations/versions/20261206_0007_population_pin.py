"""hazard layers record the population raster they are scored against

Revision ID: 0007_population_pin
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_population_pin"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("hazard_layers", sa.Column("population_layer_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_hazard_layers_population_layer_id_hazard_layers"),
        "hazard_layers",
        "hazard_layers",
        ["population_layer_id"],
        ["id"],
        ondelete="SET NULL",
    )
    # Existing layers keep the population they were scored against: an old pin in
    # properties first, else the one their newest score used.
    op.execute(
        """
        UPDATE hazard_layers h SET population_layer_id = p.id
        FROM hazard_layers p
        WHERE h.role = 'hazard' AND p.role = 'exposure'
          AND p.id = COALESCE(
            (h.properties ->> 'population_layer_id')::bigint,
            (SELECT (s.inputs ->> 'population_layer_id')::bigint FROM risk_scores s
              WHERE s.layer_id = h.id ORDER BY s.computed_at DESC, s.id DESC LIMIT 1))
        """
    )
    op.execute(
        "UPDATE hazard_layers SET properties = properties - 'population_layer_id' "
        "WHERE properties ? 'population_layer_id'"
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_hazard_layers_population_layer_id_hazard_layers"),
        "hazard_layers",
        type_="foreignkey",
    )
    op.drop_column("hazard_layers", "population_layer_id")
