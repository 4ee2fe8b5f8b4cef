"""Fan-out: one delivery per member of an alert's group, every member directly, for many
alerts at once (set-based: a fixed number of statements however many alerts and members).

Texts are rendered once per alert, language and channel; deliveries go to the outbox in one
`enqueue_many`; recipients in one INSERT … SELECT from the tree and the outbox rows just
written. The cascade never depends on someone forwarding a message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, case, column, func, insert, select, update, values
from sqlalchemy.orm import Session

from service.alerts.models import Alert, AlertGroup, AlertRecipient, Member
from service.alerts.templates import MessageContext, TemplateError, render, whatsapp_template
from service.communities.localtime import LocalZone, local_clock, place_label, zone_for
from service.communities.models import Community
from service.messaging import outbox
from service.messaging.models import Delivery
from service.settings import Settings
from service.shelters.service import nearest_shelters

log = logging.getLogger(__name__)

# Kinds whose message names the nearest assembly point.
_NAMES_SHELTER = ("alert", "update", "backup", "preparedness")
_PURPOSE = {"all_clear": "all_clear", "preparedness": "preparedness"}


def local_number(phone: str | None) -> str | None:
    """An Indonesian number as people dial it ('+6281234567890' -> '081234567890')."""
    if not phone:
        return None
    return "0" + phone[3:] if phone.startswith("+62") else phone


def message_context(
    *,
    session: Session,
    settings: Settings,
    alert: Alert,
    group: AlertGroup,
    kind: str | None = None,
    member_name: str | None = None,
    names: tuple[str, ...] = (),
) -> MessageContext:
    """What a member's message says: place (Desa/Kel., Kec.), local time in the community's
    zone, the reason, the group's posko number and the nearest assembly point."""
    kind = kind or alert.kind
    places = _places(session, settings, [alert.community_code], shelters=kind in _NAMES_SHELTER)
    return _context(settings, alert, group, places[alert.community_code], kind, member_name, names)


@dataclass(frozen=True)
class _Place:
    label: str
    district_name: str | None
    zone: LocalZone
    shelter_name: str | None


def _places(
    session: Session, settings: Settings, codes: Sequence[str], *, shelters: bool
) -> dict[str, _Place]:
    """Per community code: its label, district, time zone and (if asked) nearest shelter."""
    wanted = sorted(set(codes))
    communities = {
        c.code: c for c in session.scalars(select(Community).where(Community.code.in_(wanted)))
    }
    nearest = nearest_shelters(session=session, codes=wanted) if shelters else {}
    out = {}
    for code in wanted:
        community = communities.get(code)
        shelter = nearest.get(code)
        out[code] = _Place(
            label=place_label(community.name, community.code, community.level)
            if community is not None
            else code,
            district_name=community.district_name if community is not None else None,
            zone=zone_for(
                code,
                community.province_code if community is not None else None,
                settings.alerts.timezone,
            ),
            shelter_name=shelter.name if shelter is not None else None,
        )
    return out


def _context(
    settings: Settings,
    alert: Alert,
    group: AlertGroup,
    place: _Place,
    kind: str,
    member_name: str | None = None,
    names: tuple[str, ...] = (),
) -> MessageContext:
    return MessageContext(
        kind=kind,
        hazard=alert.hazard,
        level=alert.level,
        community_name=place.label,
        sender_name=group.sender_name or settings.alerts.sender_name,
        drill=alert.status == "Exercise",
        headline=alert.headline if kind in ("alert", "update", "preparedness") else None,
        member_name=member_name,
        names=names,
        district_name=place.district_name,
        local_time=local_clock(alert.sent_at, place.zone),
        contact_phone=local_number(group.contact_phone),
        shelter_name=place.shelter_name if kind in _NAMES_SHELTER else None,
        reply_code=alert.reply_code,
    )


def fan_out(*, session: Session, settings: Settings, alert: Alert, group: AlertGroup) -> int:
    """One alert's fan-out (see `fan_out_many`). Returns deliveries made."""
    return fan_out_many(session=session, settings=settings, alerts=[(alert, group)])


def fan_out_many(
    *, session: Session, settings: Settings, alerts: Sequence[tuple[Alert, AlertGroup]]
) -> int:
    """One delivery per consenting member of each alert's group; a recipient row for every
    member (why it was skipped, if it was). Returns deliveries made."""
    if not alerts:
        return 0
    places = _places(
        session,
        settings,
        [a.community_code for a, _ in alerts],
        shelters=any(a.kind in _NAMES_SHELTER for a, _ in alerts),
    )
    members: dict[int, list[tuple[int, str, str, str, bool]]] = {g.id: [] for _, g in alerts}
    for group_id, *member in session.execute(
        select(
            Member.group_id,
            Member.id,
            Member.phone,
            Member.channel,
            Member.language,
            Member.consent,
        )
        .where(Member.group_id.in_(list(members)))
        .order_by(Member.id)
    ):
        members[group_id].append(tuple(member))  # type: ignore[arg-type]
    items: list[outbox.NewDelivery] = []
    unfit: list[dict[str, object]] = []
    for alert, group in alerts:
        ctx = _context(settings, alert, group, places[alert.community_code], alert.kind)
        made, skipped = _deliveries(settings, alert, ctx, members[group.id])
        items += made
        unfit += skipped
    outbox.enqueue_many(session=session, items=items)
    _insert_recipients(session, alerts)
    _mark_unfit(session, unfit)
    return len(items)


def _deliveries(
    settings: Settings,
    alert: Alert,
    ctx: MessageContext,
    members: list[tuple[int, str, str, str, bool]],
) -> tuple[list[outbox.NewDelivery], list[dict[str, object]]]:
    """The outbox rows of one alert, and the members whose message cannot be sent as is."""
    purpose = _PURPOSE.get(alert.kind, "alert")
    templates = {lang: whatsapp_template(ctx, language=lang) for lang in ("id", "en")}
    texts: dict[tuple[str, str], str | TemplateError] = {}

    def text_for(language: str, channel: str) -> str | TemplateError:
        if (language, channel) not in texts:
            try:
                texts[(language, channel)] = render(
                    ctx,
                    language=language,
                    channel=channel,
                    max_sms_segments=settings.alerts.sms_max_segments,
                )
            except TemplateError as exc:
                log.error("alert %s (%s/%s): %s", alert.id, language, channel, exc)
                texts[(language, channel)] = exc
        return texts[(language, channel)]

    items: list[outbox.NewDelivery] = []
    unfit: list[dict[str, object]] = []
    for member_id, phone, channel, language, consent in members:
        if not consent:
            continue
        body = text_for(language, channel)
        # WhatsApp may fall back to SMS: that text must fit SMS rules too.
        sms = text_for(language, "sms") if channel == "whatsapp" else body
        if isinstance(body, TemplateError) or isinstance(sms, TemplateError):
            problem = body if isinstance(body, TemplateError) else sms
            unfit.append(
                {
                    "alert_id": alert.id,
                    "member_id": member_id,
                    "reason": f"message does not fit: {problem}",
                }
            )
            continue
        items.append(
            outbox.NewDelivery(
                idempotency_key=f"alert:{alert.id}:member:{member_id}",
                phone=phone,
                channel=channel,
                body=body,
                alert_id=alert.id,
                member_id=member_id,
                template=templates[language] if channel == "whatsapp" else None,
                purpose=purpose,
                sms_fallback_body=sms if channel == "whatsapp" else None,
            )
        )
    return items, unfit


def _insert_recipients(session: Session, alerts: Sequence[tuple[Alert, AlertGroup]]) -> None:
    """Recipients straight from the tree and the outbox rows just written: one statement, no
    per-member data sent back to the database (100,000 members stay one round trip)."""
    fanned = values(
        column("alert_id", BigInteger), column("group_id", BigInteger), name="fanned"
    ).data([(a.id, g.id) for a, g in alerts])
    session.execute(
        insert(AlertRecipient).from_select(
            ["alert_id", "member_id", "channel", "phone", "delivery_id", "skipped_reason"],
            select(
                fanned.c.alert_id,
                Member.id,
                Member.channel,
                Member.phone,
                Delivery.id,
                case((Member.consent.is_(False), "no consent recorded"), else_=None),
            )
            .select_from(fanned)
            .join(Member, Member.group_id == fanned.c.group_id)
            # By the unique idempotency key: alert_id alone matches every row of an alert,
            # and the planner's statistics do not know yet that there are 100,000 of them.
            .outerjoin(
                Delivery,
                Delivery.idempotency_key
                == func.concat("alert:", fanned.c.alert_id, ":member:", Member.id),
            ),
        )
    )


def _mark_unfit(session: Session, unfit: list[dict[str, object]]) -> None:
    for row in unfit:
        session.execute(
            update(AlertRecipient)
            .where(
                AlertRecipient.alert_id == row["alert_id"],
                AlertRecipient.member_id == row["member_id"],
            )
            .values(skipped_reason=row["reason"])
        )
