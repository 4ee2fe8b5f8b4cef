"""Message texts per language and channel (pure). Bahasa Indonesia is the default.

Every text names the sender (carriers require the brand in the SMS since 2024), the
community, the hazard and level, what to do, and the reply code that acknowledges. Drills
start with LATIHAN. SMS text is made GSM-7 (look-alikes replaced, accents stripped) and
shortened in fixed steps until it fits `max_segments`; if it still cannot fit, it is
refused with TemplateError — never sent as UCS-2 or split without anyone deciding so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from service.alerts.levels import SIAGA
from service.alerts.segments import count_segments, to_gsm7
from service.alerts.wording import RISK_WORDS, hazard_name, instruction, level_word

ACK_CODE = "YA"
LANGUAGES = ("id", "en")
CHANNELS = ("sms", "whatsapp")
KINDS = ("alert", "update", "all_clear", "cancel", "backup", "notice", "preparedness")


class TemplateError(ValueError):
    """The message cannot be made to fit the channel's limits."""


@dataclass(frozen=True)
class MessageContext:
    kind: str  # alert | update | all_clear | cancel | backup | notice | preparedness
    hazard: str
    level: int
    community_name: str  # with its word: "Kel. Kartini", "Desa Sukamaju"
    sender_name: str
    drill: bool = False
    headline: str | None = None  # the reason, e.g. "Gempa M5.6 84 km BD Garut 10:04 WIB";
    # for a preparedness notice: the map's title
    member_name: str | None = None  # backup: whom they stand in for (name and number)
    names: tuple[str, ...] = ()  # notice: who has not confirmed (names and numbers)
    district_name: str | None = None  # the kecamatan
    local_time: str | None = None  # "14:05 WIB": when the alert was sent, community's zone
    contact_phone: str | None = None  # the group's posko/contact number
    shelter_name: str | None = None  # the nearest assembly point or shelter
    reply_code: int | None = None  # the alert's code: "Balas YA 12"


def _acks(ctx: MessageContext, en: bool) -> list[str]:
    code = f"{ACK_CODE} {ctx.reply_code}" if ctx.reply_code is not None else ACK_CODE
    if en:
        return [
            f"Reply {code} to confirm you received this.",
            f"Reply {code} to confirm.",
            f"Reply {code}.",
        ]
    return [f"Balas {code} jika sudah terima.", f"Balas {code} utk konfirmasi.", f"Balas {code}."]


@dataclass(frozen=True)
class _Step:
    """One fixed shortening step: which optional parts an alert text still carries."""

    long_instruction: bool
    ack: int  # index into _acks: 0 longest
    district: bool = True
    reason: bool = True
    contact: bool = True
    shelter: bool = True
    clock: bool = True


# Fullest first. Order of what goes: the long instruction, the long reply line, the
# reason, the kecamatan (desa names repeat across the country: it stays longer), the contact
# number, the shelter, and last the time.
ALERT_STEPS = (
    _Step(True, 0),
    _Step(False, 0),
    _Step(False, 1),
    _Step(False, 2),
    _Step(False, 2, reason=False),
    _Step(False, 2, district=False, reason=False),
    _Step(False, 2, district=False, reason=False, contact=False),
    _Step(False, 2, district=False, reason=False, contact=False, shelter=False),
    _Step(False, 2, district=False, reason=False, contact=False, shelter=False, clock=False),
)


def _where(ctx: MessageContext, district: bool) -> str:
    if district and ctx.district_name:
        return f"{ctx.community_name}, Kec. {ctx.district_name}"
    return ctx.community_name


def _opening(ctx: MessageContext, en: bool, clock: bool) -> str:
    drill = ("LATIHAN (DRILL). " if en else "LATIHAN. ") if ctx.drill else ""
    when = f" {ctx.local_time}" if clock and ctx.local_time else ""
    return f"{drill}{ctx.sender_name}{when}:"


def _extras(ctx: MessageContext, en: bool, step: _Step) -> str:
    out = ""
    if step.shelter and ctx.shelter_name:
        out += f" {'Go to' if en else 'Titik kumpul:'} {ctx.shelter_name}."
    if step.contact and ctx.contact_phone:
        out += f" {'Post' if en else 'Posko'} {ctx.contact_phone}."
    return out


def _alert_variants(ctx: MessageContext, language: str) -> list[str]:
    en = language == "en"
    haz, lvl = hazard_name(ctx.hazard, language), level_word(ctx.level, language)
    upd = ("UPDATE: " if en else "PEMBARUAN: ") if ctx.kind == "update" else ""
    acks = _acks(ctx, en)
    out = []
    for step in ALERT_STEPS:
        where = _where(ctx, step.district)
        head = f"{haz.upper()} {lvl} in {where}." if en else f"{lvl} {haz.upper()} di {where}."
        what = f" {ctx.headline}." if step.reason and ctx.headline else ""
        todo = instruction(ctx.hazard, ctx.level, language, short=not step.long_instruction)
        out.append(
            f"{_opening(ctx, en, step.clock)} {upd}{head}{what} {todo}"
            f"{_extras(ctx, en, step)} {acks[step.ack]}"
        )
    return out


def _preparedness_variants(ctx: MessageContext, language: str) -> list[str]:
    """Not a warning: what a hazard map says about the community and what to prepare.

    The fullest text (WhatsApp) first, then a compact one through the same fixed steps as an
    alert (map title, kecamatan, posko, assembly point, time), then two brief forms.
    """
    en = language == "en"
    haz = hazard_name(ctx.hazard, language)
    words = RISK_WORDS["en" if en else "id"]
    risk = words.get(ctx.level, words[SIAGA])
    full = ALERT_STEPS[0]
    where = _where(ctx, True)
    title = ctx.headline or ("hazard" if en else "bahaya")
    if en:
        body = (
            f" PREPAREDNESS INFO, not a warning. {where} is in a {risk} {haz} risk area "
            f"on the map {title}. Check evacuation routes, prepare a go-bag."
        )
    else:
        body = (
            f" INFO KESIAPSIAGAAN, bukan peringatan. {where} termasuk wilayah rawan {haz} "
            f"{risk} menurut peta {title}. Periksa jalur evakuasi, siapkan tas siaga."
        )
    out = [f"{_opening(ctx, en, full.clock)}{body}{_extras(ctx, en, full)}"]
    for step in ALERT_STEPS[3:]:
        where = _where(ctx, step.district)
        title = f" {ctx.headline}" if step.reason and ctx.headline else ""
        if en:
            body = f" Info, not a warning: {where} is a {risk} {haz} risk area on the map{title}."
            body += " Check evacuation routes."
        else:
            body = f" Info, bukan peringatan: {where} rawan {haz} {risk} menurut peta{title}."
            body += " Periksa jalur evakuasi."
        out.append(f"{_opening(ctx, en, step.clock)}{body}{_extras(ctx, en, step)}")
    last = ALERT_STEPS[-1]
    if en:
        tiny = f" Info, not a warning: {ctx.community_name}: {haz} risk area. Check routes."
    else:
        tiny = f" Info, bukan peringatan: {ctx.community_name} rawan {haz}. Cek jalur evakuasi."
    out.append(f"{_opening(ctx, en, last.clock)}{tiny}")
    return out


def _variants(ctx: MessageContext, language: str, channel: str) -> list[str]:
    """Texts from the fullest to the shortest; the first that fits the channel is used."""
    by_kind = {
        "alert": _alert_variants,
        "update": _alert_variants,
        "preparedness": _preparedness_variants,
        "all_clear": _closing_variants,
        "cancel": _closing_variants,
        "backup": _backup_variants,
        "notice": _notice_variants,
    }
    if ctx.kind not in by_kind:
        raise TemplateError(f"unknown message kind {ctx.kind!r}; use one of {', '.join(KINDS)}")
    return by_kind[ctx.kind](ctx, language)


def _start(ctx: MessageContext, en: bool) -> str:
    """The plain opening of the short kinds: LATIHAN for a drill, then the sender."""
    drill = ("LATIHAN (DRILL). " if en else "LATIHAN. ") if ctx.drill else ""
    return f"{drill}{ctx.sender_name}"


def _closing_variants(ctx: MessageContext, language: str) -> list[str]:
    """All-clear and cancel: the thread is over."""
    en, start = language == "en", _start(ctx, language == "en")
    haz, place = hazard_name(ctx.hazard, language), ctx.community_name
    if ctx.kind == "all_clear":
        if en:
            return [
                f"{start}: ALL CLEAR. The {haz} alert for {place} has ended. "
                "Stay alert and follow official updates.",
                f"{start}: ALL CLEAR. {haz} alert for {place} ended.",
            ]
        return [
            f"{start}: AMAN. Peringatan {haz} di {place} sudah dicabut. "
            "Tetap waspada dan ikuti info resmi.",
            f"{start}: AMAN. Peringatan {haz} di {place} dicabut.",
        ]
    if en:
        return [
            f"{start}: CANCELLED. The earlier {haz} alert for {place} was "
            "sent in error. No action needed.",
            f"{start}: CANCELLED. {haz} alert for {place} was an error.",
        ]
    return [
        f"{start}: DIBATALKAN. Peringatan {haz} di {place} sebelumnya keliru. "
        "Tidak perlu tindakan.",
        f"{start}: DIBATALKAN. Peringatan {haz} di {place} keliru.",
    ]


def _backup_variants(ctx: MessageContext, language: str) -> list[str]:
    """To a backup: whom they stand in for, the alert, what to do."""
    en, start = language == "en", _start(ctx, language == "en")
    haz, lvl = hazard_name(ctx.hazard, language), level_word(ctx.level, language)
    place, who = ctx.community_name, ctx.member_name or "?"
    long_i = instruction(ctx.hazard, ctx.level, language, short=False)
    short_i = instruction(ctx.hazard, ctx.level, language, short=True)
    acks = _acks(ctx, en)
    if en:
        head = (
            f"You are the backup for {who}, who has not confirmed: {haz.upper()} {lvl} in {place}."
        )
        brief = f"You are backup for {who}. {haz.upper()} {lvl}: {place}."
    else:
        head = f"Anda cadangan utk {who} yg belum konfirmasi: {lvl} {haz.upper()} di {place}."
        brief = f"Anda cadangan {who}. {lvl} {haz.upper()}: {place}."
    return (
        [f"{start}: {head} {long_i} {acks[0]}"]
        + [f"{start}: {head} {short_i} {a}" for a in acks]
        + [
            f"{start}: {brief} {short_i} {acks[-1]}",
            f"{start}: {brief} {acks[-1]}",
        ]
    )


def _notice_variants(ctx: MessageContext, language: str) -> list[str]:
    """To a parent: who below them has not confirmed (names and numbers)."""
    en, start = language == "en", _start(ctx, language == "en")
    haz, lvl = hazard_name(ctx.hazard, language), level_word(ctx.level, language)
    place, names = ctx.community_name, list(ctx.names)
    out = []
    for shown in range(len(names), 0, -1):
        listed = ", ".join(names[:shown])
        more = f" (+{len(names) - shown})" if shown < len(names) else ""
        if en:
            out.append(
                f"{start}: Not yet confirmed the {haz} {lvl} alert in {place}: "
                f"{listed}{more}. Please contact them."
            )
        else:
            out.append(
                f"{start}: Belum konfirmasi {lvl} {haz} di {place}: {listed}{more}. Mohon hubungi."
            )
    # Then without the place: the names and numbers are what a parent acts on.
    for shown in range(len(names), 0, -1):
        listed = ", ".join(names[:shown])
        more = f" (+{len(names) - shown})" if shown < len(names) else ""
        if en:
            out.append(f"{start}: Unconfirmed ({lvl}): {listed}{more}. Please call.")
        else:
            out.append(f"{start}: Belum konfirmasi ({lvl}): {listed}{more}. Hubungi.")
    if not out:
        out.append(f"{start}: {haz} {lvl} {place}.")
    return out


def render(
    ctx: MessageContext, *, language: str = "id", channel: str = "sms", max_sms_segments: int = 1
) -> str:
    """The text to send. SMS: GSM-7 only, at most `max_sms_segments` segments."""
    language = language if language in LANGUAGES else "id"
    if channel not in CHANNELS:
        raise TemplateError(f"unknown channel {channel!r}; use sms or whatsapp")
    if channel == "whatsapp":
        return _variants(ctx, language, channel)[0]

    def gsm(value: str | None) -> str | None:
        return to_gsm7(value).strip() or None if value else None

    gsm_ctx = replace(
        ctx,
        community_name=to_gsm7(ctx.community_name).strip(),
        sender_name=to_gsm7(ctx.sender_name).strip(),
        headline=gsm(ctx.headline),
        member_name=gsm(ctx.member_name),
        names=tuple(to_gsm7(n).strip() for n in ctx.names),
        district_name=gsm(ctx.district_name),
        local_time=gsm(ctx.local_time),
        contact_phone=gsm(ctx.contact_phone),
        shelter_name=gsm(ctx.shelter_name),
        reply_code=ctx.reply_code,
    )
    candidates = [to_gsm7(t) for t in _variants(gsm_ctx, language, channel)]
    for text in candidates:
        if _fits(text, max_sms_segments):
            return text
    # Last resort: shorten the place name, which is the only free-length part left.
    shortest = candidates[-1]
    place = gsm_ctx.community_name
    for cut in range(len(place) - 1, 3, -1):
        short_place = place[:cut].rstrip(" .,") + "."
        text = shortest.replace(place + ".", short_place, 1)
        if text == shortest:
            text = shortest.replace(place, short_place, 1)
        if _fits(text, max_sms_segments):
            return text
    count = count_segments(shortest)
    raise TemplateError(
        f"the SMS text needs {count.segments} segments ({count.units} {count.encoding} units) "
        f"even shortened; the limit is {max_sms_segments}: shorten the sender name"
    )


def _fits(text: str, max_segments: int) -> bool:
    count = count_segments(text)
    return count.encoding == "GSM-7" and count.segments <= max_segments


def whatsapp_template(ctx: MessageContext, *, language: str = "id") -> dict[str, Any]:
    """The approved-template form, for WhatsApp outside the 24-hour customer-service window."""
    language = language if language in LANGUAGES else "id"
    return {
        "name": f"siaga_{ctx.kind}" + ("_latihan" if ctx.drill else ""),
        "language": language,
        "parameters": [
            ctx.sender_name,
            level_word(ctx.level, language) or "-",
            hazard_name(ctx.hazard, language),
            ctx.community_name,
            instruction(ctx.hazard, ctx.level, language, short=True),
        ],
    }
