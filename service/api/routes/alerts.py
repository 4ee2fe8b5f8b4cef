"""Groups, members, rules and alerts under /api/v1. Thin: every route calls a service function."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from service.alerts import groups as svc
from service.alerts import views
from service.alerts.drills import cancel_alert, create_drill
from service.alerts.evaluation import evaluate_signals
from service.alerts.models import Alert, Member
from service.alerts.rules import Signal
from service.alerts.schemas import (
    DrillIn,
    EvaluationOut,
    GroupCreate,
    GroupPrivate,
    GroupPublic,
    GroupUpdate,
    MemberCreate,
    MemberPrivate,
    MemberPublic,
    MemberUpdate,
    RuleCreate,
    RulePublic,
    RuleUpdate,
    SignalIn,
)
from service.api.deps import (
    CoordinatorDep,
    IdPath,
    OptionalIdQuery,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from service.auth.service import Principal
from service.db import utcnow
from service.errors import InvalidFile, NotFound, PayloadTooLarge
from service.messaging.inbound import opted_out
from service.ops import audit

router = APIRouter(prefix="/api/v1", tags=["alerts"])


def _members_out(
    session: Any, members: list[Member], principal: Principal, group_id: int
) -> list[MemberPublic]:
    """Public shape for everyone; names and numbers for responder/admin keys and for a key
    bound to this group. Whether the number replied STOP/BERHENTI (messaging's opt-out list)
    shows for everyone."""
    stopped = opted_out(session, [m.phone for m in members])
    model = MemberPrivate if principal.sees_people(group_id) else MemberPublic
    return [
        model.model_validate(m).model_copy(update={"opted_out": m.phone in stopped})
        for m in members
    ]


def _member_out(member: Member, principal: Principal, session: Any) -> MemberPublic:
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
        for g, n in svc.list_groups(session=session)
    ]


@router.post("/groups", response_model=GroupPrivate | GroupPublic, status_code=201)
def create_group(
    data: GroupCreate, session: SessionDep, principal: CoordinatorDep, request: Request
) -> GroupPublic:
    principal.check_unbound("create groups")
    group = svc.create_group(session=session, data=data)
    session.flush()
    audit.record(
        session=session,
        actor=request,
        action="groups.create",
        target=f"group:{group.id}",
        details=data.model_dump(mode="json", exclude={"contact_phone"}),
    )
    session.commit()
    return _group_model(principal, group.id).model_validate(group)


@router.get("/groups/{group_id}", response_model=GroupPrivate | GroupPublic)
def get_group(group_id: IdPath, session: SessionDep, principal: PrincipalDep) -> GroupPublic:
    group = svc.get_group(session=session, group_id=group_id)
    return (
        _group_model(principal, group_id)
        .model_validate(group)
        .model_copy(update={"member_count": svc.member_count(session=session, group_id=group_id)})
    )


@router.patch("/groups/{group_id}", response_model=GroupPrivate | GroupPublic)
def update_group(
    group_id: IdPath,
    data: GroupUpdate,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> GroupPublic:
    principal.check_group(group_id)
    group = svc.update_group(session=session, group_id=group_id, data=data)
    audit.record(
        session=session,
        actor=request,
        action="groups.update",
        target=f"group:{group_id}",
        details=data.model_dump(mode="json", exclude_unset=True, exclude={"contact_phone"}),
    )
    session.commit()
    return _group_model(principal, group_id).model_validate(group)


@router.delete("/groups/{group_id}", status_code=204)
def delete_group(
    group_id: IdPath, session: SessionDep, principal: CoordinatorDep, request: Request
) -> Response:
    principal.check_group(group_id)
    svc.delete_group(session=session, group_id=group_id)
    audit.record(session=session, actor=request, action="groups.delete", target=f"group:{group_id}")
    session.commit()
    return Response(status_code=204)


# ------------------------------------------------------------- members


@router.get("/groups/{group_id}/members", response_model=list[MemberPrivate] | list[MemberPublic])
def list_members(
    group_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> list[MemberPublic]:
    """Names and phone numbers for responder and admin keys and for keys bound to this group;
    others see the tree's shape. A key bound to other groups gets 403."""
    principal.check_group(group_id)
    members = svc.list_members(session=session, group_id=group_id)
    return _members_out(session, members, principal, group_id)


@router.post(
    "/groups/{group_id}/members", response_model=MemberPrivate | MemberPublic, status_code=201
)
def add_member(
    group_id: IdPath,
    data: MemberCreate,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> MemberPublic:
    principal.check_group(group_id)
    member = svc.add_member(session=session, group_id=group_id, data=data)
    session.flush()
    # Field names only: the log must not become a second copy of members' phone numbers.
    audit.record(
        session=session,
        actor=request,
        action="members.create",
        target=f"member:{member.id}",
        details={"group_id": group_id},
    )
    session.commit()
    return _member_out(member, principal, session)


@router.get("/groups/{group_id}/members/{member_id}", response_model=MemberPrivate | MemberPublic)
def get_member(
    group_id: IdPath, member_id: IdPath, session: SessionDep, principal: PrincipalDep
) -> MemberPublic:
    principal.check_group(group_id)
    member = svc.get_member(session=session, group_id=group_id, member_id=member_id)
    return _member_out(member, principal, session)


@router.patch("/groups/{group_id}/members/{member_id}", response_model=MemberPrivate | MemberPublic)
def update_member(
    group_id: IdPath,
    member_id: IdPath,
    data: MemberUpdate,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> MemberPublic:
    principal.check_group(group_id)
    member = svc.update_member(session=session, group_id=group_id, member_id=member_id, data=data)
    audit.record(
        session=session,
        actor=request,
        action="members.update",
        target=f"member:{member_id}",
        details={"group_id": group_id, "fields": sorted(data.model_fields_set)},
    )
    session.commit()
    return _member_out(member, principal, session)


@router.delete("/groups/{group_id}/members/{member_id}", status_code=204)
def delete_member(
    group_id: IdPath,
    member_id: IdPath,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> Response:
    principal.check_group(group_id)
    svc.delete_member(session=session, group_id=group_id, member_id=member_id)
    audit.record(
        session=session,
        actor=request,
        action="members.delete",
        target=f"member:{member_id}",
        details={"group_id": group_id},
    )
    session.commit()
    return Response(status_code=204)


@router.post("/groups/{group_id}/members/import")
async def import_members(
    group_id: IdPath,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
) -> dict[str, Any]:
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
    from starlette.concurrency import run_in_threadpool

    def work() -> dict[str, Any]:
        result = svc.import_members_csv(session=session, group_id=group_id, content=content)
        audit.record(
            session=session,
            actor=request,
            action="members.import",
            target=f"group:{group_id}",
            details={"created": result.created, "updated": result.updated},
        )
        session.commit()
        return {"created": result.created, "updated": result.updated, "errors": []}

    return await run_in_threadpool(work)


# ------------------------------------------------------------- rules


@router.get("/groups/{group_id}/rules", response_model=list[RulePublic])
def list_rules(group_id: IdPath, session: SessionDep) -> list[Any]:
    return list(svc.list_rules(session=session, group_id=group_id))


@router.post("/groups/{group_id}/rules", response_model=RulePublic, status_code=201)
def create_rule(
    group_id: IdPath,
    data: RuleCreate,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> Any:
    principal.check_group(group_id)
    rule = svc.create_rule(session=session, group_id=group_id, data=data)
    session.flush()
    audit.record(
        session=session,
        actor=request,
        action="rules.create",
        target=f"rule:{rule.id}",
        details={"group_id": group_id, **data.model_dump(mode="json")},
    )
    session.commit()
    return rule


@router.patch("/groups/{group_id}/rules/{rule_id}", response_model=RulePublic)
def update_rule(
    group_id: IdPath,
    rule_id: IdPath,
    data: RuleUpdate,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> Any:
    principal.check_group(group_id)
    rule = svc.update_rule(session=session, group_id=group_id, rule_id=rule_id, data=data)
    audit.record(
        session=session,
        actor=request,
        action="rules.update",
        target=f"rule:{rule_id}",
        details={"group_id": group_id, **data.model_dump(mode="json", exclude_unset=True)},
    )
    session.commit()
    return rule


@router.delete("/groups/{group_id}/rules/{rule_id}", status_code=204)
def delete_rule(
    group_id: IdPath,
    rule_id: IdPath,
    session: SessionDep,
    principal: CoordinatorDep,
    request: Request,
) -> Response:
    principal.check_group(group_id)
    svc.delete_rule(session=session, group_id=group_id, rule_id=rule_id)
    audit.record(
        session=session,
        actor=request,
        action="rules.delete",
        target=f"rule:{rule_id}",
        details={"group_id": group_id},
    )
    session.commit()
    return Response(status_code=204)


@router.post("/groups/{group_id}/drills", status_code=201)
def start_drill(
    group_id: IdPath,
    data: DrillIn,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    request: Request,
) -> dict[str, Any]:
    """A drill: an Exercise alert to every member (each message says LATIHAN)."""
    principal.check_group(group_id)
    alert = create_drill(
        session=session, settings=settings, group_id=group_id, data=data, now=utcnow()
    )
    audit.record(
        session=session,
        actor=request,
        action="alerts.drill",
        target=f"alert:{alert.id}",
        details={"group_id": group_id, **data.model_dump(mode="json")},
    )
    session.commit()
    return views.alert_detail(
        session=session, alert_id=alert.id, include_pii=principal.sees_people(group_id)
    )


# ------------------------------------------------------------- alerts


@router.post("/alerts/signals", response_model=EvaluationOut)
def post_signals(
    signals: list[SignalIn],
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    request: Request,
) -> EvaluationOut:
    """Evaluate signals (e.g. a level raised by hand, or another system's feed) against
    every group's rules now, exactly as the scheduled job does with risk and feed data.
    Not for keys bound to groups (the signals reach every group)."""
    principal.check_unbound("post signals (they reach every group's rules)")
    now = utcnow()
    sigs = [Signal(**{**s.model_dump(), "observed_at": s.observed_at or now}) for s in signals]
    summary = evaluate_signals(session=session, settings=settings, signals=sigs, now=now)
    audit.record(
        session=session,
        actor=request,
        action="alerts.signals",
        target=None,
        details={
            "signals": [s.model_dump(mode="json") for s in signals][:50],
            "alerts_created": summary.alerts_created,
        },
    )
    session.commit()
    return EvaluationOut(
        alerts_created=summary.alerts_created,
        held=summary.held,
        suppressed=summary.suppressed,
        all_clears=summary.all_clears,
        notices_created=summary.notices_created,
    )


@router.get("/alerts")
def list_alerts(
    session: SessionDep,
    group_id: OptionalIdQuery = None,
    since: Annotated[datetime | None, Query(description="sent at or after (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[dict[str, Any]]:
    return views.list_alerts(
        session=session, group_id=group_id, limit=limit, offset=offset, since=since
    )


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: IdPath, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """Per recipient: channel, status history, provider id, acknowledgement, escalation.
    Names and phone numbers for responder and admin keys and keys bound to the alert's group."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}")
    return views.alert_detail(
        session=session, alert_id=alert_id, include_pii=principal.sees_people(alert.group_id)
    )


@router.post("/alerts/{alert_id}/cancel", status_code=201)
def cancel(
    alert_id: IdPath,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoordinatorDep,
    request: Request,
) -> dict[str, Any]:
    """Send a CAP Cancel (and a DIBATALKAN message) for an alert sent in error."""
    target = session.get(Alert, alert_id)
    if target is None:
        raise NotFound(f"no alert with id {alert_id}")
    principal.check_group(target.group_id)
    alert = cancel_alert(session=session, settings=settings, alert_id=alert_id, now=utcnow())
    audit.record(
        session=session,
        actor=request,
        action="alerts.cancel",
        target=f"alert:{alert_id}",
        details={"cancel_alert_id": alert.id},
    )
    session.commit()
    return views.alert_detail(
        session=session, alert_id=alert.id, include_pii=principal.sees_people(alert.group_id)
    )
