"""CAP 1.2 documents and the Atom index for stored alerts (reads the DB, builds with cap.py)."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.alerts.cap_xml import (
    CATEGORY,
    EVENT_EN,
    EVENT_ID,
    LEVEL_CAP,
    PREPAREDNESS_CAP,
    AtomEntry,
    CapArea,
    CapInfo,
    CapMessage,
    build_atom,
    build_cap_xml,
    cap_polygons,
    response_type,
)
from service.alerts.models import Alert, AlertGroup
from service.alerts.wording import RISK_WORDS, hazard_name, instruction, level_word
from service.communities.localtime import place_label
from service.communities.models import Community
from service.db import get_or_404
from service.settings import Settings

PAST = ("Past", "Minor", "Observed")
# CAP feed guidance: keep an index under ~100 KB; an entry is about 700 bytes.
ATOM_MAX_ENTRIES = 100


def _texts(alert: Alert, language: str, community: str, sender: str) -> tuple[str, str, str]:
    """headline, description, instruction in one language."""
    en = language == "en"
    haz = hazard_name(alert.hazard, language)
    lvl = level_word(alert.level, language)
    drill = ("EXERCISE (LATIHAN): " if en else "LATIHAN: ") if alert.status == "Exercise" else ""
    if alert.kind == "all_clear":
        head = f"All clear: {haz} in {community}" if en else f"Aman: {haz} di {community}"
        desc = (
            f"The {haz} alert for {community} has ended."
            if en
            else f"Peringatan {haz} di {community} sudah dicabut."
        )
        instr = (
            "Stay alert and follow official updates."
            if en
            else "Tetap waspada dan ikuti informasi resmi."
        )
    elif alert.kind == "cancel":
        head = (
            f"CANCELLED (DIBATALKAN): {haz} alert for {community}"
            if en
            else f"DIBATALKAN: peringatan {haz} di {community}"
        )
        desc = (
            f"The earlier {haz} alert for {community} was sent in error."
            if en
            else f"Peringatan {haz} di {community} sebelumnya keliru."
        )
        instr = "No action needed." if en else "Tidak perlu tindakan."
    elif alert.kind == "preparedness":
        risk = RISK_WORDS["en" if en else "id"].get(alert.level, "")
        source = alert.headline or ("hazard map" if en else "peta bahaya")
        head = (
            f"Preparedness: {community} in a {risk} {haz} risk area"
            if en
            else f"Kesiapsiagaan: {community} rawan {haz} {risk}"
        )
        desc = (
            f"Not a warning: nothing is happening now. {community} lies in a {risk} {haz} "
            f"risk area according to the map {source}."
            if en
            else f"Bukan peringatan: tidak ada kejadian saat ini. {community} termasuk wilayah "
            f"rawan {haz} {risk} menurut peta {source}."
        )
        instr = (
            "Check evacuation routes and the assembly point, prepare a go-bag."
            if en
            else "Periksa jalur evakuasi dan titik kumpul, siapkan tas siaga."
        )
    else:
        head = f"{haz.capitalize()} {lvl}: {community}" if en else f"{lvl} {haz}: {community}"
        what = f" {alert.headline}." if alert.headline else ""
        desc = (
            f"{haz.capitalize()} alert level {lvl} for {community}.{what}"
            if en
            else f"Peringatan {haz} tingkat {lvl} untuk {community}.{what}"
        )
        # Public text: what to do, never what group members should reply.
        instr = instruction(alert.hazard, alert.level, language, short=False)
    if alert.cancelled_at is not None and alert.kind != "cancel":
        head = ("CANCELLED (DIBATALKAN): " if en else "DIBATALKAN: ") + head
    return drill + head, f"{drill}{desc} ({sender})", instr


def _community_name(session: Session, code: str) -> str:
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        return code
    return place_label(community.name, community.code, community.level)


def _references(
    session: Session, settings: Settings, alert: Alert
) -> list[tuple[str, str, datetime]]:
    """The earlier messages of the alert's thread, as CAP references (sender, id, sent)."""
    first = alert.thread_id
    if first is None:
        return []
    earlier = session.scalars(
        select(Alert)
        .where(
            or_(Alert.id == first, Alert.thread_id == first),
            Alert.sent_at <= alert.sent_at,
            Alert.id != alert.id,
        )
        .order_by(Alert.sent_at, Alert.id)
    )
    return [(settings.alerts.cap_sender, a.identifier, a.sent_at) for a in earlier]


def _urgency_severity_certainty(alert: Alert) -> tuple[str, str, str]:
    if alert.kind in ("all_clear", "cancel"):
        return PAST
    if alert.kind == "preparedness":
        urgency, certainty = PREPAREDNESS_CAP
        return urgency, "Moderate" if alert.level >= 2 else "Minor", certainty
    return LEVEL_CAP.get(alert.level, LEVEL_CAP[1])


def _infos(alert: Alert, area: CapArea, place: str, sender: str) -> list[CapInfo]:
    """One CAP info block per language (Bahasa Indonesia first)."""
    urgency, severity, certainty = _urgency_severity_certainty(alert)
    infos = []
    for language in ("id", "en"):
        head, desc, instr = _texts(alert, language, place, sender)
        infos.append(
            CapInfo(
                language="id-ID" if language == "id" else "en-US",
                category=CATEGORY.get(alert.hazard, "Other"),
                event=(EVENT_ID if language == "id" else EVENT_EN).get(alert.hazard, "Bencana"),
                response_type=response_type(alert.hazard, alert.level, alert.kind),
                urgency=urgency,
                severity=severity,
                certainty=certainty,
                sender_name=sender,
                headline=head,
                description=desc,
                instruction=instr,
                effective=alert.sent_at,
                expires=alert.expires_at,
                event_codes=[("SIAGA-HAZARD", alert.hazard)],
                parameters=[
                    ("SIAGA-LEVEL", level_word(alert.level, "id") or "-"),
                    ("SIAGA-SOURCE", alert.source_ref),
                ],
                areas=[area],
            )
        )
    return infos


def cap_message_for(*, session: Session, settings: Settings, alert: Alert) -> CapMessage:
    group = session.get(AlertGroup, alert.group_id)
    assert group is not None
    community = session.scalar(select(Community).where(Community.code == alert.community_code))
    name = (
        place_label(community.name, community.code, community.level)
        if community is not None
        else alert.community_code
    )
    geom = to_shape(community.geom) if community is not None else None
    sender = group.sender_name or settings.alerts.sender_name
    area = CapArea(
        description=name
        + (f", {community.regency_name}" if community and community.regency_name else ""),
        polygons=cap_polygons(geom),
        geocodes=[("KEMENDAGRI", alert.community_code)],
    )
    note = None
    if alert.status == "Exercise":
        note = "LATIHAN (exercise): bukan kejadian nyata / not a real event"
    elif alert.kind == "cancel":
        note = "Dibatalkan: dikirim karena kekeliruan / cancelled: sent in error"
    restricted = alert.kind == "preparedness"
    return CapMessage(
        identifier=alert.identifier,
        sender=settings.alerts.cap_sender,
        sent=alert.sent_at,
        status=alert.status,
        msg_type=alert.msg_type,
        references=_references(session, settings, alert),
        note=note,
        infos=_infos(alert, area, name, sender),
        scope="Restricted" if restricted else "Public",
        restriction=(
            f"Untuk anggota kelompok {group.name}: informasi kesiapsiagaan dari peta bahaya, "
            "bukan peringatan / for the group's members: preparedness from a hazard map, "
            "not a warning"
        )
        if restricted
        else None,
    )


def cap_xml(*, session: Session, settings: Settings, alert_id: int) -> bytes:
    alert = get_or_404(session, Alert, alert_id, f"no alert with id {alert_id}")
    message = cap_message_for(session=session, settings=settings, alert=alert)
    return build_cap_xml(message, timezone=settings.alerts.timezone)


def atom_index(*, session: Session, settings: Settings, base_url: str, now: datetime) -> bytes:
    """The public index of unexpired alerts, newest first."""
    alerts = session.scalars(
        select(Alert)
        # Preparedness notices are scope Restricted: for the group, not the public index.
        .where(Alert.kind != "preparedness")
        .where((Alert.expires_at.is_(None)) | (Alert.expires_at > now))
        .order_by(Alert.sent_at.desc(), Alert.id.desc())
        .limit(ATOM_MAX_ENTRIES)
    ).all()
    entries = []
    for alert in alerts:
        group = session.get(AlertGroup, alert.group_id)
        assert group is not None
        severity = (
            PAST[1]
            if alert.kind in ("all_clear", "cancel")
            else LEVEL_CAP.get(alert.level, LEVEL_CAP[1])[1]
        )
        # The public texts of the CAP document, never the member's message ("Balas YA ...").
        name = _community_name(session, alert.community_code)
        sender = group.sender_name or settings.alerts.sender_name
        head, desc, instr = _texts(alert, "id", name, sender)
        entries.append(
            AtomEntry(
                identifier=alert.identifier,
                title=head[:160],
                summary=f"{desc} {instr}",
                updated=alert.sent_at,
                link=f"{base_url}/cap/alerts/{alert.id}.xml",
                msg_type=alert.msg_type,
                status=alert.status,
                severity=severity,
                expires=alert.expires_at,
            )
        )
    latest = alerts[0].sent_at if alerts else now
    return build_atom(
        entries=entries,
        feed_id=f"{base_url}/cap/alerts.atom",
        self_link=f"{base_url}/cap/alerts.atom",
        title=f"Siaga: peringatan dini ({settings.alerts.sender_name})",
        updated=latest,
        timezone=settings.alerts.timezone,
    )
