"""SMS encoding and segment counting as carriers do it (pure; 3GPP TS 23.038 / 23.040).

GSM-7: 160 septets in one segment, 153 per part when concatenated; the extension characters
cost two septets and an escape pair is never split across parts. Any character outside the
GSM-7 tables switches the whole message to UCS-2: 70 UTF-16 code units, 67 per part.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" | "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def non_gsm7_chars(text: str) -> list[str]:
    """The characters that would force UCS-2, in order of first appearance."""
    seen: dict[str, None] = {}
    for c in text:
        if c not in GSM7_BASIC and c not in GSM7_EXTENSION:
            seen.setdefault(c)
    return list(seen)


def _gsm7_segments(text: str) -> tuple[int, int]:
    costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
    units = sum(costs)
    if units <= GSM7_SINGLE:
        return units, 1 if units else 0
    segments, used = 1, 0
    for cost in costs:
        if used + cost > GSM7_PART:  # an escape pair moves whole to the next part
            segments, used = segments + 1, 0
        used += cost
    return units, segments


def _ucs2_segments(text: str) -> tuple[int, int]:
    # UTF-16 code units; a surrogate pair is never split across parts.
    costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    units = sum(costs)
    if units <= UCS2_SINGLE:
        return units, 1 if units else 0
    segments, used = 1, 0
    for cost in costs:
        if used + cost > UCS2_PART:
            segments, used = segments + 1, 0
        used += cost
    return units, segments


def count_segments(text: str) -> SegmentCount:
    if is_gsm7(text):
        units, segments = _gsm7_segments(text)
        return SegmentCount("GSM-7", units, segments)
    units, segments = _ucs2_segments(text)
    return SegmentCount("UCS-2", units, segments)


# Look-alikes that phones and word processors put into names and texts, mapped the way
# Twilio's SmartEncoded does, so a stray curly quote never turns an alert into UCS-2.
_LOOKALIKES = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u00ab": '"',
    "\u00bb": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u200b": "",
    "\t": " ",
    "\u2022": "-",
    "\u00b7": "-",
    "\u00b0": " derajat ",
}


def to_gsm7(text: str) -> str:
    """Replace look-alikes and strip accents that GSM-7 lacks; drop what remains (emoji).

    Deterministic: the same input always gives the same output, and the output is GSM-7.
    """
    out: list[str] = []
    for c in text:
        if c in GSM7_BASIC or c in GSM7_EXTENSION:
            out.append(c)
        elif c in _LOOKALIKES:
            out.append(_LOOKALIKES[c])
        else:
            base = "".join(
                b for b in unicodedata.normalize("NFKD", c) if not unicodedata.combining(b)
            )
            out.append("".join(b for b in base if b in GSM7_BASIC or b in GSM7_EXTENSION))
    return "".join(out)
