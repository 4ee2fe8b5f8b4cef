"""/api/v1/communities/{code}/shelters: assembly points, shelters and posko of a community."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from service.api import audit
from service.api.deps import CoordinatorDep, IdPath, PrincipalDep, SessionDep
from service.api.routes.communities import CodePath
from service.errors import InvalidInput, PayloadTooLarge
from service.shelters import service
from service.shelters.parsing import ShelterIn, ShelterUpdate, parse_csv, parse_json

router = APIRouter(prefix="/api/v1/communities", tags=["shelters"])

_POINT_SCHEMA = ShelterIn.model_json_schema()
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _POINT_SCHEMA,
                        {"type": "object", "description": "a GeoJSON Feature with a Point"},
                        {"type": "object", "description": "a GeoJSON FeatureCollection"},
                        {"type": "array", "items": _POINT_SCHEMA},
                    ]
                }
            },
            "application/geo+json": {"schema": {"type": "object"}},
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "header row name,kind,capacity,notes,lon,lat",
                }
            },
        },
    }
}


async def shelter_rows(request: Request) -> list[ShelterIn]:
    """The request body as shelter rows: JSON/GeoJSON, or CSV when sent as text/csv."""
    limit = int(request.app.state.settings.api.max_upload_mb * 1024 * 1024)
    body = await request.body()
    if len(body) > limit:
        raise PayloadTooLarge(f"the body is {len(body)} bytes; the limit is {limit}")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8 text") from None
    if media in ("text/csv", "application/csv"):
        return parse_csv(text)
    if media not in ("application/json", "application/geo+json", ""):
        raise InvalidInput(
            f"content type {media!r} is not accepted; send application/json, "
            "application/geo+json or text/csv"
        )
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    return parse_json(data)


RowsDep = Annotated[list[ShelterIn], Depends(shelter_rows)]


@router.get("/{code}/shelters", summary="The community's assembly points, shelters and posko")
def list_shelters(
    code: CodePath, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    """Phone numbers in notes are masked unless the caller's key is responder or admin."""
    return service.list_shelters(session=session, code=code, masked=not principal.has("responder"))


@router.post(
    "/{code}/shelters",
    status_code=201,
    summary="Add one point (JSON or GeoJSON Feature) or many (FeatureCollection, list, CSV)",
    openapi_extra=_BODY,
)
def add_shelters(
    code: CodePath,
    _: CoordinatorDep,
    rows: RowsDep,
    session: SessionDep,
    request: Request,
) -> list[dict[str, Any]]:
    made = service.add_shelters(session=session, code=code, rows=rows)
    audit.record(
        session=session,
        actor=request,
        action="shelters.create",
        target=f"community:{code}",
        details={"ids": [m["id"] for m in made][:100], "count": len(made)},
    )
    session.commit()
    return made


@router.patch("/{code}/shelters/{shelter_id}", summary="Edit a point (fields left out stay)")
def update_shelter(
    code: CodePath,
    shelter_id: IdPath,
    changes: ShelterUpdate,
    session: SessionDep,
    _: CoordinatorDep,
    request: Request,
) -> dict[str, Any]:
    updated = service.update_shelter(
        session=session, code=code, shelter_id=shelter_id, changes=changes
    )
    audit.record(
        session=session,
        actor=request,
        action="shelters.update",
        target=f"shelter:{shelter_id}",
        details=changes.model_dump(mode="json", exclude_unset=True, exclude={"notes"}),
    )
    session.commit()
    return updated


@router.delete("/{code}/shelters/{shelter_id}", status_code=204, summary="Remove a point")
def delete_shelter(
    code: CodePath, shelter_id: IdPath, session: SessionDep, _: CoordinatorDep, request: Request
) -> Response:
    service.delete_shelter(session=session, code=code, shelter_id=shelter_id)
    audit.record(
        session=session, actor=request, action="shelters.delete", target=f"shelter:{shelter_id}"
    )
    session.commit()
    return Response(status_code=204)
