"""/api/v1/jobs/{id}: the status of a queued background job (recomputes and the like)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service import jobs
from service.api.deps import IdPath, SessionDep
from service.jobs.schemas import JobPublic

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(session: SessionDep, job_id: IdPath) -> dict[str, Any]:
    """A job's status, progress (0..1), result and error."""
    return jobs.get_job(session=session, job_id=job_id)
