"""Operations endpoints: Prometheus metrics and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.deps import AdminDep, SessionDep
from service.ops import audit
from service.ops.schemas import AuditEntryPublic, AuditPage

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    body = request.app.state.metrics.render()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/audit", summary="The audit log, newest first (admin)")
def list_audit(
    _: AdminDep,
    session: SessionDep,
    key_id: Annotated[int | None, Query(ge=1, le=2**62, description="only this API key")] = None,
    action: Annotated[
        str | None, Query(max_length=100, description="action prefix, e.g. groups.")
    ] = None,
    target: Annotated[
        str | None, Query(max_length=500, description="exact target, e.g. group:3")
    ] = None,
    since: Annotated[datetime | None, Query(description="RFC 3339 time")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**62, description="page: entries older than this id")
    ] = None,
) -> AuditPage:
    entries = audit.list_entries(
        session=session,
        key_id=key_id,
        action=action,
        target=target,
        since=since,
        limit=limit,
        before_id=before_id,
    )
    rows = [AuditEntryPublic.model_validate(e, from_attributes=True) for e in entries]
    return AuditPage(entries=rows, next_before_id=rows[-1].id if len(rows) == limit else None)
