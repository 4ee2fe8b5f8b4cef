"""Fan-out: one delivery per member of an alert's group, every member directly, for many
alerts at once (set-based: a fixed number of statements however many alerts and members).

Texts are rendered once per alert, language and channel; the database pairs them with the
members in one statement: the outbox rows (`outbox.insert_from_select`, a CTE) and the
recipient rows that point at them. The cascade never depends on someone forwarding a
message.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    bindparam,
    case,
    cast,
    column,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import TableValuedAlias

from service.alerts.models import Alert, AlertGroup, AlertRecipient, Member
from service.alerts.templates import (
    LANGUAGES,
    MessageContext,
    TemplateError,
    render,
    whatsapp_template,
)
from service.communities.localtime import LocalZone, local_clock, place_label, zone_for
from service.communities.models import Community
from service.messaging import outbox
from service.messaging.models import CHANNELS
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
    member (why it was skipped, if it was). Returns deliveries made.

    Python renders each alert's text once per language and channel (a few per alert); the
    database pairs them with the members and writes deliveries and recipients in one
    statement, so a 100-member group costs the same Python time as a 1-member one.
    """
    if not alerts:
        return 0
    places = _places(
        session,
        settings,
        [a.community_code for a, _ in alerts],
        shelters=any(a.kind in _NAMES_SHELTER for a, _ in alerts),
    )
    rows = []
    for alert, group in alerts:
        ctx = _context(settings, alert, group, places[alert.community_code], alert.kind)
        rows += [(alert.id, group.id, *text) for text in alert_texts(settings, alert, ctx)]
    # The texts travel as one array per column: the statement is the same for every
    # fan-out, so SQLAlchemy compiles it once (rows rendered as VALUES made each call a new
    # statement, and compiling it cost more than running it).
    columns = {name: [row[i] for row in rows] for i, (name, _) in enumerate(_TEXT_COLUMNS)}
    made = int(session.execute(_deliveries_and_recipients(), columns).scalar_one())
    if made:
        outbox.wake_dispatchers(session)
    return made


TextRow = tuple[str, str, str | None, str | None, str | None, str, str | None]


def alert_texts(settings: Settings, alert: Alert, ctx: MessageContext) -> list[TextRow]:
    """Per language and channel: (language, channel, body, WhatsApp template as JSON, the SMS
    fallback text, purpose, problem). A text that cannot be sent as is (it does not fit the
    SMS limit) has no body and names the problem; its members are skipped with that reason.
    """
    purpose = _PURPOSE.get(alert.kind, "alert")
    texts: dict[tuple[str, str], str | TemplateError] = {}
    for language in LANGUAGES:
        for channel in CHANNELS:
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
    out: list[TextRow] = []
    for (language, channel), body in texts.items():
        # WhatsApp may fall back to SMS: that text must fit SMS rules too.
        sms = texts[(language, "sms")]
        problem = body if isinstance(body, TemplateError) else sms
        if isinstance(problem, TemplateError):
            out.append((language, channel, None, None, None, purpose, str(problem)))
            continue
        assert isinstance(body, str) and isinstance(sms, str)
        whatsapp = channel == "whatsapp"
        template = json.dumps(whatsapp_template(ctx, language=language)) if whatsapp else None
        out.append((language, channel, body, template, sms if whatsapp else None, purpose, None))
    return out


_TEXT_COLUMNS = (
    ("alert_id", BigInteger),
    ("group_id", BigInteger),
    ("language", Text),
    ("channel", Text),
    ("body", Text),
    ("template", Text),
    ("sms_fallback_body", Text),
    ("purpose", Text),
    ("problem", Text),
)


def _texts_table() -> TableValuedAlias:
    """The texts as a table: `unnest` of one array parameter per column."""
    arrays = [bindparam(name, type_=ARRAY(type_)) for name, type_ in _TEXT_COLUMNS]
    return (
        func.unnest(*arrays)
        .table_valued(*(column(name, type_) for name, type_ in _TEXT_COLUMNS))
        .render_derived(name="texts")
    )


def _delivery_key(alert_id: Any, member_id: Any) -> Any:
    return func.concat("alert:", alert_id, ":member:", member_id)


@functools.cache
def _deliveries_and_recipients() -> Select[Any]:
    """One statement: every member of each alert's group paired with the alert's text in
    the member's language and channel (and, if it is to be sent, a new delivery id); the
    outbox rows from the pairs to send, the recipient rows from all of them (with the
    delivery, or why it was skipped); selects how many deliveries were made. Nothing per
    member leaves the database, and nothing joins back to find what was inserted.

    A delivery's key holds the id of an alert created in this transaction, so none exists
    yet (and recipients are unique per alert and member: fanning an alert out twice fails
    loudly rather than sending twice)."""
    texts = _texts_table()
    # Each text looks up its group's members by the group index (LATERAL, kept apart by
    # OFFSET 0): a join left to the planner hashed the whole members table (100,000 rows)
    # for every ten alerts.
    members = (
        select(Member.id, Member.phone, Member.channel, Member.consent)
        .where(
            Member.group_id == texts.c.group_id,
            Member.language == texts.c.language,
            Member.channel == texts.c.channel,
        )
        .offset(0)
        .lateral("members")
    )
    m = members.c
    skipped = case(
        (m.consent.is_(False), "no consent recorded"),
        (texts.c.problem.is_not(None), "message does not fit: " + texts.c.problem),
        else_=None,
    )
    sendable = m.consent.is_(True) & texts.c.problem.is_(None)
    pairs = (
        select(
            case((sendable, outbox.next_delivery_id()), else_=None).label("delivery_id"),
            texts.c.alert_id,
            m.id.label("member_id"),
            m.phone,
            m.channel,
            texts.c.body,
            texts.c.template,
            texts.c.purpose,
            texts.c.sms_fallback_body,
            skipped.label("skipped_reason"),
        )
        .select_from(texts)
        .join(members, true())
        # First alert first, members in the tree's order: the ids, and so the sending order.
        .order_by(texts.c.alert_id, m.id)
        .cte("pairs")
    )
    p = pairs.c
    made = outbox.insert_from_select(
        select(
            p.delivery_id.label("id"),
            _delivery_key(p.alert_id, p.member_id).label("idempotency_key"),
            p.phone,
            p.channel,
            p.body,
            p.alert_id,
            p.member_id,
            cast(p.template, JSONB).label("template"),
            p.purpose,
            p.sms_fallback_body,
        )
        .where(p.delivery_id.is_not(None))
        .order_by(p.delivery_id)
    ).cte("made")
    recipients = (
        insert(AlertRecipient)
        .from_select(
            ["alert_id", "member_id", "channel", "phone", "delivery_id", "skipped_reason"],
            select(p.alert_id, p.member_id, p.channel, p.phone, p.delivery_id, p.skipped_reason),
        )
        .cte("recipients")
    )
    return select(func.count()).select_from(made).add_cte(recipients)
