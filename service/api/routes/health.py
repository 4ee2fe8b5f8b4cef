from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from service.api.deps import SessionDep
from service.errors import RETRY_AFTER_S
from service.migrate import current_revision, head_revision
from service.ops.schemas import Liveness, Readiness

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    summary="The database is reachable and migrated to head",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database or its schema is not"}},
)
def readyz(session: SessionDep) -> JSONResponse:
    """Says what is down, never how (no host, port or driver text: that goes to the log)."""
    try:
        session.execute(text("SELECT 1"))
        current = current_revision(session.get_bind())  # type: ignore[arg-type]
    except Exception as exc:  # the point of this endpoint is to report it
        log.error("readiness: database unreachable: %s", str(exc).splitlines()[0][:300])
        return JSONResponse(
            {"status": "unavailable", "down": ["database"], "detail": "database unreachable"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    head = head_revision()
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "down": ["migrations"],
                "detail": f"database schema at {current}, code expects {head}; "
                "run `siaga db upgrade`",
            },
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return JSONResponse({"status": "ready", "revision": current})
