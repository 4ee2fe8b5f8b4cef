"""Groups and what hangs under /api/v1/groups/{id}: members (and their CSV import), rules
and drills. Thin: every route calls a service function; writes go through `AuditDep`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.alerts import group_rules, groups, members, readouts
from service.alerts.drills import create_drill
from service.alerts.models import AlertRule, Member
from service.alerts.schemas import (
    AlertDetail,
    DrillIn,
    GroupCreate,
    GroupPrivate,
    GroupPublic,
    GroupUpdate,
    ImportOut,
    MemberCreate,
    MemberPrivate,
    MemberPublic,
    MemberUpdate,
    RuleCreate,
    RulePublic,
    RuleUpdate,
)
from service.api.deps import (
    AuditDep,
    CoordinatorDep,
    IdPath,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from service.auth.service import Principal
from service.db import utcnow
from service.errors import InvalidFile, PayloadTooLarge
from service.messaging.inbound import opted_out

router = APIRouter(prefix="/api/v1", tags=["alerts"])


def _members_out(
    session: Session, rows: list[Member], principal: Principal, group_id: int
) -> list[MemberPublic]:
    """Public shape for everyone; names and numbers for responder/admin keys and for a key
    bound to this group. Whether the number replied STOP/BERHENTI (messaging's opt-out list)
    shows for everyone."""
    stopped = opted_out(session, [m.phone for m in rows])
    model = MemberPrivate if principal.sees_people(group_id) else MemberPublic
    return [
        model.model_validate(m).model_copy(update={"opted_out": m.phone in stopped}) for m in rows
    ]


def _member_out(member: Member, principal: Principal, session: Session) -> MemberPublic:
    return _members_out(session, [member], principal, member.group_id)[0]


# ------------------------------------------------------------- groups


def _group_model(principal: Principal, group_id: int) -> type[GroupPublic]:
    """The contact number is a phone number: shown to whoever sees the group's members'
    numbers (responder and admin keys, a key bound to the group)."""
    return GroupPrivate if principal.sees_people(group_id) else GroupPublic


@router.get("/groups", response_model=list[GroupPrivate | GroupPublic])
def list_groups(session: SessionDep, principal: PrincipalDep) -> list[GroupPublic]:
    return [
        _group_model(principal, g.id).model_validate(g).model_copy(update={"member_count": n})
        for g, n in groups.list_groups(session=session)
    ]


@router.post("/groups", response_model=GroupPrivate | GroupPublic, status_code=201)
def create_group(
    data: GroupCreate, session: SessionDep, principal: CoordinatorDep, write: AuditDep
) -> GroupPublic:
    principal.check_unbound("create groups")
    group = groups.create_group(session=session, data=data)
    details = data.model_dump(mode="json", exclude={"contact_phone"})
    write.commit("groups.create", f"group:{group.id}", details)
    return _group_model(principal, group.id).model_validate(group)


@router.get("/groups/{group_id}", response_model=GroupPrivate | GroupPublic)
def get_group(group_id: IdPath, session: SessionDep, principal: PrincipalDep) -> GroupPublic:
    group = groups.get_group(session=session, group_id=group_id)
    count = groups.member_count(session=session, group_id=group_id)
    return (
        _group_model(principal, group_id)
        .model_validate(group)
        .model_copy(update={"member_count": count})
    )


@router.patch("/groups/{group_id}", response_model=GroupPrivate | GroupPublic)
def update_group(
    group_id: IdPath,
    data: GroupUpdate,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> GroupPublic:
    principal.check_group(group_id)
    group = groups.update_group(session=session, group_id=group_id, data=data)
    details = data.model_dump(mode="json", exclude_unset=True, exclude={"contact_phone"})
    write.commit("groups.update", f"group:{group_id}", details)
    return _group_model(principal, group_id).model_validate(group)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(
    group_id: IdPath, session: SessionDep, principal: CoordinatorDep, write: AuditDep
) -> Response:
    principal.check_group(group_id)
    groups.delete_group(session=session, group_id=group_id)
    write.commit("groups.delete", f"group:{group_id}")
    return Response(status_code=204)


# ------------------------------------------------------------- members


@router.get("/groups/{group_id}/members", response_model=list[MemberPrivate] | list[MemberPublic])
def list_members(
    group_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> list[MemberPublic]:
    """Names and phone numbers for responder and admin keys and for keys bound to this group;
    others see the tree's shape. A key bound to other groups gets 403."""
    principal.check_group(group_id)
    rows = members.list_members(session=session, group_id=group_id)
    return _members_out(session, rows, principal, group_id)


@router.post(
    "/groups/{group_id}/members", response_model=MemberPrivate | MemberPublic, status_code=201
)
def add_member(
    group_id: IdPath,
    data: MemberCreate,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> MemberPublic:
    principal.check_group(group_id)
    member = members.add_member(session=session, group_id=group_id, data=data)
    # Field names only: the log must not become a second copy of members' phone numbers.
    write.commit("members.create", f"member:{member.id}", {"group_id": group_id})
    return _member_out(member, principal, session)


@router.get("/groups/{group_id}/members/{member_id}", response_model=MemberPrivate | MemberPublic)
def get_member(
    group_id: IdPath, member_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> MemberPublic:
    principal.check_group(group_id)
    member = members.get_member(session=session, group_id=group_id, member_id=member_id)
    return _member_out(member, principal, session)


@router.patch("/groups/{group_id}/members/{member_id}", response_model=MemberPrivate | MemberPublic)
def update_member(
    group_id: IdPath,
    member_id: IdPath,
    data: MemberUpdate,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> MemberPublic:
    principal.check_group(group_id)
    member = members.update_member(
        session=session, group_id=group_id, member_id=member_id, data=data
    )
    details = {"group_id": group_id, "fields": sorted(data.model_fields_set)}
    write.commit("members.update", f"member:{member_id}", details)
    return _member_out(member, principal, session)


@router.delete("/groups/{group_id}/members/{member_id}", status_code=204)
def delete_member(
    group_id: IdPath,
    member_id: IdPath,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> Response:
    principal.check_group(group_id)
    members.delete_member(session=session, group_id=group_id, member_id=member_id)
    write.commit("members.delete", f"member:{member_id}", {"group_id": group_id})
    return Response(status_code=204)


@router.post("/groups/{group_id}/members/import", response_model=ImportOut)
async def import_members(
    group_id: IdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> ImportOut:
    """CSV (UTF-8, `,` or `;`): name, phone, channel, language, role, parent_phone,
    backup_phone, community_code, consent. Upload as the raw body (`Content-Type: text/csv`)
    or as multipart field `file`. Every row is checked first; any error imports nothing and
    the 400 response lists each row's problems in `errors`."""
    principal.check_group(group_id)
    limit = int(settings.api.max_upload_mb * 1024 * 1024)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled upload file on the way out
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidFile("send the CSV as multipart field 'file' (or as a text/csv body)")
            content = await upload.read()
    else:
        content = await request.body()
    if len(content) > limit:
        raise PayloadTooLarge(f"the CSV is larger than {settings.api.max_upload_mb} MB")

    def work() -> ImportOut:
        result = members.import_members_csv(session=session, group_id=group_id, content=content)
        details = {"created": result.created, "updated": result.updated}
        write.commit("members.import", f"group:{group_id}", details)
        return ImportOut(created=result.created, updated=result.updated, errors=[])

    return await run_in_threadpool(work)


# ------------------------------------------------------------- rules


@router.get("/groups/{group_id}/rules", response_model=list[RulePublic])
def list_rules(group_id: IdPath, session: SessionDep) -> list[AlertRule]:
    return group_rules.list_rules(session=session, group_id=group_id)


@router.post("/groups/{group_id}/rules", response_model=RulePublic, status_code=201)
def create_rule(
    group_id: IdPath,
    data: RuleCreate,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> AlertRule:
    principal.check_group(group_id)
    rule = group_rules.create_rule(session=session, group_id=group_id, data=data)
    details = {"group_id": group_id, **data.model_dump(mode="json")}
    write.commit("rules.create", f"rule:{rule.id}", details)
    return rule


@router.patch("/groups/{group_id}/rules/{rule_id}", response_model=RulePublic)
def update_rule(
    group_id: IdPath,
    rule_id: IdPath,
    data: RuleUpdate,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> AlertRule:
    principal.check_group(group_id)
    rule = group_rules.update_rule(session=session, group_id=group_id, rule_id=rule_id, data=data)
    details = {"group_id": group_id, **data.model_dump(mode="json", exclude_unset=True)}
    write.commit("rules.update", f"rule:{rule_id}", details)
    return rule


@router.delete("/groups/{group_id}/rules/{rule_id}", status_code=204)
def delete_rule(
    group_id: IdPath,
    rule_id: IdPath,
    session: SessionDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> Response:
    principal.check_group(group_id)
    group_rules.delete_rule(session=session, group_id=group_id, rule_id=rule_id)
    write.commit("rules.delete", f"rule:{rule_id}", {"group_id": group_id})
    return Response(status_code=204)


# ------------------------------------------------------------- drills


@router.post(
    "/groups/{group_id}/drills",
    status_code=201,
    response_model=AlertDetail,
    response_model_exclude_unset=True,
)
def start_drill(
    group_id: IdPath,
    data: DrillIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    write: AuditDep,
) -> dict[str, Any]:
    """A drill: an Exercise alert to every member (each message says LATIHAN)."""
    principal.check_group(group_id)
    alert = create_drill(
        session=session, settings=settings, group_id=group_id, data=data, now=utcnow()
    )
    details = {"group_id": group_id, **data.model_dump(mode="json")}
    write.commit("alerts.drill", f"alert:{alert.id}", details)
    return readouts.alert_detail(
        session=session, alert_id=alert.id, include_pii=principal.sees_people(group_id)
    )
