"""Risk endpoints: the risk card, recompute requests and job status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service import jobs
from service.api import audit
from service.api.deps import CoordinatorDep, SessionDep
from service.risk import jobs as risk_jobs
from service.risk import readouts

router = APIRouter(prefix="/api/v1", tags=["risk"])


class RecomputeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer_id: int | None = Field(
        None, description="hazard layer id; omit to recompute every current layer"
    )
    method: Literal["coverage", "centre"] | None = Field(
        None, description="default: SIAGA_RISK_METHOD"
    )


@router.post("/recompute", status_code=202)
def post_recompute(
    session: SessionDep,
    _: CoordinatorDep,
    response: Response,
    request: Request,
    body: RecomputeRequest | None = None,
) -> dict[str, Any]:
    """Queue a recompute; a worker picks it up within seconds. Poll the job for progress."""
    body = body or RecomputeRequest()
    job_id = risk_jobs.request_recompute(
        session=session, layer_id=body.layer_id, method=body.method
    )
    audit.record(
        session=session,
        actor=request,
        action="risk.recompute",
        target=f"job:{job_id}",
        details=body.model_dump(mode="json"),
    )
    session.commit()
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return {"job_id": job_id, "status": "queued", "href": f"/api/v1/jobs/{job_id}"}


@router.get("/jobs/{job_id}")
def get_job(session: SessionDep, job_id: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    """A job's status, progress (0..1), result and error."""
    return jobs.get_job(session=session, job_id=job_id)


@router.get("/communities/{code}/risk")
def get_risk_card(
    session: SessionDep,
    code: str,
    at: Annotated[
        datetime | None, Query(alias="datetime", description="scores as of this time (RFC 3339)")
    ] = None,
    hazard: Annotated[
        str | None, Query(description="one hazard; its entry is also spread over the top level")
    ] = None,
) -> dict[str, Any]:
    """The risk card: per hazard level, score, H/V/C with inputs, exposure per class, history."""
    return readouts.get_risk_card(session=session, code=code, at=at, hazard=hazard)


@router.get("/risk/layers")
def get_layer_states(session: SessionDep) -> list[dict[str, Any]]:
    """What was last computed per hazard layer (status, duration, error)."""
    return readouts.layer_states(session=session)
