"""CAP 1.2: one document per alert and a public Atom index (OASIS CAP Feeds style)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.alerts.cap_documents import atom_index, cap_xml
from service.api.deps import IdPath, SessionDep, SettingsDep
from service.db import utcnow

router = APIRouter(prefix="/cap", tags=["cap"])

CAP_MEDIA_TYPE = "application/cap+xml"
ATOM_MEDIA_TYPE = "application/atom+xml"


def _base_url(request: Request, public_url: str | None) -> str:
    return (public_url or str(request.base_url)).rstrip("/")


@router.get("/alerts.atom", response_class=Response)
def alerts_atom(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    body = atom_index(
        session=session,
        settings=settings,
        base_url=_base_url(request, settings.api.public_url),
        now=utcnow(),
    )
    return Response(body, media_type=ATOM_MEDIA_TYPE)


@router.get("/alerts/{alert_id}.xml", response_class=Response)
def alert_cap(alert_id: IdPath, session: SessionDep, settings: SettingsDep) -> Response:
    return Response(
        cap_xml(session=session, settings=settings, alert_id=alert_id), media_type=CAP_MEDIA_TYPE
    )
