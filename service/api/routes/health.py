from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from service.api.deps import SessionDep
from service.migrate import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and migrated to head")
def readyz(session: SessionDep) -> JSONResponse:
    try:
        session.execute(text("SELECT 1"))
        current = current_revision(session.get_bind())  # type: ignore[arg-type]
    except Exception as exc:  # the point of this endpoint is to report it
        return JSONResponse({"status": "unavailable", "detail": str(exc)[:200]}, status_code=503)
    head = head_revision()
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "detail": f"migrations at {current}, head is {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "revision": current})
