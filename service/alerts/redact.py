"""Masking people out of free text (pure): phone numbers and the names of known members.

Ground reports are shown to every key holder and on the map; the original text stays for
responders. Names are matched as whole words, case-insensitively, full names first, then
each part of a name that is not an honorific — a best effort: a name nobody registered
cannot be recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PHONE = re.compile(r"\+?[0-9][0-9 ().-]{6,}[0-9]")
PHONE_MASK = "[nomor disembunyikan]"
NAME_MASK = "[nama disembunyikan]"
HONORIFICS = frozenset(
    {"pak", "bu", "ibu", "bapak", "mas", "mbak", "kak", "bang", "haji", "hj", "h", "dr", "ir",
     "st", "sdr", "sdri", "nyonya", "tuan", "neng", "teh", "kang", "om", "tante", "ustadz"}
)  # fmt: skip


def _name_parts(names: Iterable[str]) -> list[str]:
    parts: set[str] = set()
    for name in names:
        clean = " ".join(name.split())
        tokens = [t for t in re.split(r"[\s.,]+", clean) if t]
        plain = [t for t in tokens if t.lower() not in HONORIFICS]
        for form in (clean, " ".join(plain)):
            if len(form) >= 3:
                parts.add(form)
        parts.update(t for t in plain if len(t) >= 3)
    return sorted(parts, key=lambda p: (-len(p), p))  # longest first


def redact(text: str, names: Iterable[str] = ()) -> str:
    out = PHONE.sub(PHONE_MASK, text)
    for part in _name_parts(names):
        out = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", NAME_MASK, out, flags=re.IGNORECASE)
    mask = re.escape(NAME_MASK)
    return re.sub(rf"{mask}(?:\s+{mask})+", NAME_MASK, out)
