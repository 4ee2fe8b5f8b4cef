"""The skeleton: migrations reach head with no pending autogenerate diff; health answers."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from service.migrate import head_revision, include_object
from service.models import Base


def test_migrations_match_models(engine: Engine) -> None:
    """Upgrading an empty database gives exactly the models: no autogenerate diff."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": include_object, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_healthz(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_reports_head(client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["revision"] == head_revision()
