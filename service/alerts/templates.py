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

from service.alerts.levels import AWAS, SIAGA, WASPADA
from service.alerts.segments import count_segments, to_gsm7

ACK_CODE = "YA"
LANGUAGES = ("id", "en")
CHANNELS = ("sms", "whatsapp")
KINDS = ("alert", "update", "all_clear", "cancel", "backup", "notice", "preparedness")

HAZARD_NAMES = {
    "id": {
        "flood": "banjir",
        "earthquake": "gempa bumi",
        "tsunami": "tsunami",
        "volcano": "erupsi gunung api",
        "landslide": "tanah longsor",
        "extreme_weather": "cuaca ekstrem",
        "other": "bencana",
    },
    "en": {
        "flood": "flood",
        "earthquake": "earthquake",
        "tsunami": "tsunami",
        "volcano": "volcanic eruption",
        "landslide": "landslide",
        "extreme_weather": "severe weather",
        "other": "hazard",
    },
}
LEVEL_WORDS = {
    "id": {WASPADA: "WASPADA", SIAGA: "SIAGA", AWAS: "AWAS"},
    "en": {WASPADA: "ADVISORY", SIAGA: "WATCH", AWAS: "WARNING"},
}

# What to do, (long for WhatsApp, short for SMS), per hazard and level.
_INSTRUCTIONS_ID: dict[str, dict[int, tuple[str, str]]] = {
    "flood": {
        WASPADA: ("Pantau ketinggian air dan siapkan tas siaga.", "Pantau air, siapkan tas siaga."),
        SIAGA: (
            "Amankan dokumen dan barang berharga, siap mengungsi bila diminta.",
            "Siap mengungsi.",
        ),
        AWAS: (
            "Segera mengungsi ke tempat yang lebih tinggi. Matikan listrik.",
            "Segera mengungsi ke tempat tinggi.",
        ),
    },
    "earthquake": {
        WASPADA: ("Tetap tenang, waspada gempa susulan.", "Tetap tenang, waspada susulan."),
        SIAGA: (
            "Keluar dari bangunan retak, jauhi tembok dan kaca. Waspada gempa susulan.",
            "Jauhi bangunan retak.",
        ),
        AWAS: (
            "Kumpul di titik aman, cek korban dan kerusakan, laporkan ke posko.",
            "Kumpul di titik aman, cek korban.",
        ),
    },
    "tsunami": {
        WASPADA: ("Jauhi pantai dan muara sungai.", "Jauhi pantai."),
        SIAGA: ("Segera menjauh dari pantai ke tempat tinggi.", "Segera menjauh dari pantai."),
        AWAS: (
            "SEGERA EVAKUASI ke tempat tinggi atau gedung evakuasi. Jangan tunggu.",
            "SEGERA EVAKUASI ke tempat tinggi.",
        ),
    },
    "volcano": {
        WASPADA: ("Ikuti info PVMBG, jauhi kawah.", "Jauhi kawah."),
        SIAGA: (
            "Siapkan masker, siap mengungsi, jauhi zona bahaya.",
            "Siap mengungsi, pakai masker.",
        ),
        AWAS: (
            "Segera mengungsi keluar zona bahaya sesuai arahan petugas.",
            "Segera mengungsi keluar zona bahaya.",
        ),
    },
    "landslide": {
        WASPADA: ("Perhatikan retakan tanah dan mata air baru.", "Perhatikan retakan tanah."),
        SIAGA: ("Jauhi lereng dan tebing, siap mengungsi.", "Jauhi lereng, siap mengungsi."),
        AWAS: ("Segera tinggalkan rumah di lereng dan tebing.", "Segera tinggalkan lereng."),
    },
    "extreme_weather": {
        WASPADA: (
            "Hindari pohon dan baliho saat hujan lebat dan petir.",
            "Hindari pohon & baliho.",
        ),
        SIAGA: (
            "Tetap di dalam bangunan kokoh, hindari pohon dan baliho.",
            "Tetap di dalam bangunan.",
        ),
        AWAS: (
            "Tetap di dalam bangunan kokoh, siap mengungsi bila banjir.",
            "Berlindung, siap mengungsi.",
        ),
    },
}
_INSTRUCTIONS_EN: dict[str, dict[int, tuple[str, str]]] = {
    "flood": {
        WASPADA: ("Watch the water level and prepare a go-bag.", "Watch water, prepare go-bag."),
        SIAGA: ("Secure documents and valuables, be ready to evacuate.", "Be ready to evacuate."),
        AWAS: (
            "Evacuate to higher ground now. Switch off electricity.",
            "Evacuate to high ground now.",
        ),
    },
    "earthquake": {
        WASPADA: ("Stay calm, expect aftershocks.", "Stay calm, expect aftershocks."),
        SIAGA: (
            "Leave cracked buildings, keep away from walls and glass.",
            "Leave cracked buildings.",
        ),
        AWAS: (
            "Gather at the assembly point, check for injured, report to the post.",
            "Gather at assembly point.",
        ),
    },
    "tsunami": {
        WASPADA: ("Stay away from beaches and river mouths.", "Stay away from the beach."),
        SIAGA: ("Move away from the coast to high ground.", "Move away from the coast."),
        AWAS: (
            "EVACUATE NOW to high ground or an evacuation building.",
            "EVACUATE NOW to high ground.",
        ),
    },
    "volcano": {
        WASPADA: ("Follow PVMBG updates, keep away from the crater.", "Keep away from crater."),
        SIAGA: ("Prepare masks, be ready to evacuate.", "Be ready to evacuate."),
        AWAS: (
            "Evacuate out of the danger zone as officials direct.",
            "Evacuate the danger zone now.",
        ),
    },
    "landslide": {
        WASPADA: ("Watch for ground cracks and new springs.", "Watch for ground cracks."),
        SIAGA: (
            "Keep away from slopes and cliffs, be ready to evacuate.",
            "Keep away from slopes.",
        ),
        AWAS: ("Leave homes on slopes and cliffs now.", "Leave slopes now."),
    },
    "extreme_weather": {
        WASPADA: ("Avoid trees and billboards in storms.", "Avoid trees and billboards."),
        SIAGA: ("Stay inside a solid building.", "Stay indoors."),
        AWAS: (
            "Shelter in a solid building, be ready to evacuate if flooding.",
            "Shelter, be ready to go.",
        ),
    },
}
_FALLBACK = {
    "id": ("Ikuti arahan petugas BPBD setempat.", "Ikuti arahan petugas."),
    "en": ("Follow the instructions of local officials.", "Follow officials' instructions."),
}


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


# Words for a map's risk class (the preparedness notice), by the tier it maps onto.
RISK_WORDS = {
    "id": {WASPADA: "sedang", SIAGA: "tinggi", AWAS: "sangat tinggi"},
    "en": {WASPADA: "medium", SIAGA: "high", AWAS: "very high"},
}


def hazard_name(hazard: str, language: str) -> str:
    names = HAZARD_NAMES.get(language, HAZARD_NAMES["id"])
    return names.get(hazard, names["other"])


def level_word(level: int, language: str) -> str:
    return LEVEL_WORDS.get(language, LEVEL_WORDS["id"]).get(level, "")


def instruction(hazard: str, level: int, language: str, *, short: bool) -> str:
    table = _INSTRUCTIONS_EN if language == "en" else _INSTRUCTIONS_ID
    pair = table.get(hazard, {}).get(level) or _FALLBACK["en" if language == "en" else "id"]
    return pair[1] if short else pair[0]


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
    en = language == "en"
    drill = ("LATIHAN (DRILL). " if en else "LATIHAN. ") if ctx.drill else ""
    sender = ctx.sender_name
    haz = hazard_name(ctx.hazard, language)
    lvl = level_word(ctx.level, language)
    place = ctx.community_name
    long_i = instruction(ctx.hazard, ctx.level, language, short=False)
    short_i = instruction(ctx.hazard, ctx.level, language, short=True)
    acks = _acks(ctx, en)

    if ctx.kind in ("alert", "update"):
        return _alert_variants(ctx, language)
    if ctx.kind == "preparedness":
        return _preparedness_variants(ctx, language)
    if ctx.kind == "all_clear":
        if en:
            return [
                f"{drill}{sender}: ALL CLEAR. The {haz} alert for {place} has ended. "
                "Stay alert and follow official updates.",
                f"{drill}{sender}: ALL CLEAR. {haz} alert for {place} ended.",
            ]
        return [
            f"{drill}{sender}: AMAN. Peringatan {haz} di {place} sudah dicabut. "
            "Tetap waspada dan ikuti info resmi.",
            f"{drill}{sender}: AMAN. Peringatan {haz} di {place} dicabut.",
        ]
    if ctx.kind == "cancel":
        if en:
            return [
                f"{drill}{sender}: CANCELLED. The earlier {haz} alert for {place} was "
                "sent in error. No action needed.",
                f"{drill}{sender}: CANCELLED. {haz} alert for {place} was an error.",
            ]
        return [
            f"{drill}{sender}: DIBATALKAN. Peringatan {haz} di {place} sebelumnya keliru. "
            "Tidak perlu tindakan.",
            f"{drill}{sender}: DIBATALKAN. Peringatan {haz} di {place} keliru.",
        ]
    if ctx.kind == "backup":
        who = ctx.member_name or "?"
        if en:
            head = (
                f"You are the backup for {who}, who has not confirmed: "
                f"{haz.upper()} {lvl} in {place}."
            )
            brief = f"You are backup for {who}. {haz.upper()} {lvl}: {place}."
        else:
            head = f"Anda cadangan utk {who} yg belum konfirmasi: {lvl} {haz.upper()} di {place}."
            brief = f"Anda cadangan {who}. {lvl} {haz.upper()}: {place}."
        return (
            [f"{drill}{sender}: {head} {long_i} {acks[0]}"]
            + [f"{drill}{sender}: {head} {short_i} {a}" for a in acks]
            + [
                f"{drill}{sender}: {brief} {short_i} {acks[-1]}",
                f"{drill}{sender}: {brief} {acks[-1]}",
            ]
        )
    if ctx.kind == "notice":
        names = list(ctx.names)
        out = []
        for shown in range(len(names), 0, -1):
            listed = ", ".join(names[:shown])
            more = f" (+{len(names) - shown})" if shown < len(names) else ""
            if en:
                out.append(
                    f"{drill}{sender}: Not yet confirmed the {haz} {lvl} alert in {place}: "
                    f"{listed}{more}. Please contact them."
                )
            else:
                out.append(
                    f"{drill}{sender}: Belum konfirmasi {lvl} {haz} di {place}: "
                    f"{listed}{more}. Mohon hubungi."
                )
        # Then without the place: the names and numbers are what a parent acts on.
        for shown in range(len(names), 0, -1):
            listed = ", ".join(names[:shown])
            more = f" (+{len(names) - shown})" if shown < len(names) else ""
            if en:
                out.append(f"{drill}{sender}: Unconfirmed ({lvl}): {listed}{more}. Please call.")
            else:
                out.append(f"{drill}{sender}: Belum konfirmasi ({lvl}): {listed}{more}. Hubungi.")
        if not out:
            out.append(f"{drill}{sender}: {haz} {lvl} {place}.")
        return out
    raise TemplateError(f"unknown message kind {ctx.kind!r}; use one of {', '.join(KINDS)}")


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
