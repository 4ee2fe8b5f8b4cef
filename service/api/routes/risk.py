"""Risk endpoints: the risk card, layer states and recompute requests."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from service.api.deps import AuditDep, CoordinatorDep, SessionDep
from service.risk import jobs as risk_jobs
from service.risk import readouts
from service.risk.schemas import LayerState, RecomputeQueued, RecomputeRequest, RiskCard

router = APIRouter(prefix="/api/v1", tags=["risk"])


@router.post("/recompute", status_code=202, response_model=RecomputeQueued)
def post_recompute(
    write: AuditDep,
    _: CoordinatorDep,
    response: Response,
    body: RecomputeRequest | None = None,
) -> dict[str, Any]:
    """Queue a recompute; a worker picks it up within seconds. Poll the job for progress."""
    body = body or RecomputeRequest()
    job_id = risk_jobs.request_recompute(
        session=write.session, layer_id=body.layer_id, method=body.method
    )
    write.commit("risk.recompute", f"job:{job_id}", body.model_dump(mode="json"))
    response.headers["Location"] = f"/api/v1/jobs/{job_id}"
    return {"job_id": job_id, "status": "queued", "href": f"/api/v1/jobs/{job_id}"}


@router.get(
    "/communities/{code}/risk",
    response_model=RiskCard,
    # Without ?hazard= the spread entry's fields are absent, not null.
    response_model_exclude_unset=True,
)
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


@router.get("/risk/layers", response_model=list[LayerState])
def get_layer_states(session: SessionDep) -> list[dict[str, Any]]:
    """What was last computed per hazard layer (status, duration, error)."""
    return readouts.layer_states(session=session)
