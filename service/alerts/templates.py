"""Message texts per language and channel (pure). Bahasa Indonesia is the default.

Every text names the sender (carriers require the brand in the SMS since 2024), the
community, the hazard and level, what to do, and the reply code that acknowledges. Drills
start with LATIHAN. SMS text is made GSM-7 (look-alikes replaced, accents stripped) and
shortened in fixed steps until it fits `max_segments`; if it still cannot fit, it is
refused with TemplateError — never sent as UCS-2 or split without anyone deciding so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.alerts.levels import AWAS, SIAGA, WASPADA
from service.alerts.segments import count_segments, to_gsm7

ACK_CODE = "YA"
LANGUAGES = ("id", "en")
CHANNELS = ("sms", "whatsapp")
KINDS = ("alert", "update", "all_clear", "cancel", "backup", "notice")

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
    kind: str  # alert | update | all_clear | cancel | backup | notice
    hazard: str
    level: int
    community_name: str
    sender_name: str
    drill: bool = False
    headline: str | None = None  # what happened, e.g. "Gempa M5.6 84 km BD Garut"
    member_name: str | None = None  # backup: whom they stand in for
    names: tuple[str, ...] = ()  # notice: who has not confirmed
    reply_code: int | None = None  # the alert's code: "Balas YA 12"


def hazard_name(hazard: str, language: str) -> str:
    names = HAZARD_NAMES.get(language, HAZARD_NAMES["id"])
    return names.get(hazard, names["other"])


def level_word(level: int, language: str) -> str:
    return LEVEL_WORDS.get(language, LEVEL_WORDS["id"]).get(level, "")


def instruction(hazard: str, level: int, language: str, *, short: bool) -> str:
    table = _INSTRUCTIONS_EN if language == "en" else _INSTRUCTIONS_ID
    pair = table.get(hazard, {}).get(level) or _FALLBACK["en" if language == "en" else "id"]
    return pair[1] if short else pair[0]


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
    what = f" {ctx.headline}." if ctx.headline else ""
    ack = f"{ACK_CODE} {ctx.reply_code}" if ctx.reply_code is not None else ACK_CODE
    if en:
        acks = [
            f"Reply {ack} to confirm you received this.",
            f"Reply {ack} to confirm.",
            f"Reply {ack}.",
        ]
    else:
        acks = [
            f"Balas {ack} jika sudah terima.",
            f"Balas {ack} utk konfirmasi.",
            f"Balas {ack}.",
        ]

    if ctx.kind in ("alert", "update"):
        upd = ("UPDATE: " if en else "PEMBARUAN: ") if ctx.kind == "update" else ""
        head = f"{haz.upper()} {lvl} in {place}." if en else f"{lvl} {haz.upper()} di {place}."
        out = [f"{drill}{sender}: {upd}{head}{what} {long_i} {acks[0]}"]
        out += [f"{drill}{sender}: {upd}{head}{what} {short_i} {a}" for a in acks]
        out += [f"{drill}{sender}: {upd}{head} {short_i} {a}" for a in acks[1:]]
        return out
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
            head = f"{who} has not confirmed. You are their backup: {haz.upper()} {lvl} in {place}."
        else:
            head = f"{who} belum konfirmasi. Anda cadangan: {lvl} {haz.upper()} di {place}."
        if en:
            brief = f"{who} unconfirmed, you are backup. {haz.upper()} {lvl}: {place}."
        else:
            brief = f"{who} belum konfirmasi, Anda cadangan. {lvl} {haz.upper()}: {place}."
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
    gsm_ctx = MessageContext(
        kind=ctx.kind,
        hazard=ctx.hazard,
        level=ctx.level,
        community_name=to_gsm7(ctx.community_name).strip(),
        sender_name=to_gsm7(ctx.sender_name).strip(),
        drill=ctx.drill,
        headline=to_gsm7(ctx.headline).strip() if ctx.headline else None,
        member_name=to_gsm7(ctx.member_name).strip() if ctx.member_name else None,
        names=tuple(to_gsm7(n).strip() for n in ctx.names),
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
