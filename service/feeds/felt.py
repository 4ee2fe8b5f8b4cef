"""BMKG felt reports (`Dirasakan`) as observations of shaking at named places: pure functions.

`parse("VII-VIII Padang, V Bukittinggi")` gives place/MMI pairs; `floors(...)` gives each
community the lowest MMI reported for a place that names its regency (kab/kota) or district
(kecamatan). Names compare without case, accents, punctuation or a Kota/Kabupaten/Kab./
Kecamatan/Kec. prefix, exact names only, so "Padang" is never "Padang Pariaman"; a place that
names no regency or district exactly then matches the names that begin with it as whole words
("Pariaman" is not "Padang Pariaman"; "Padang Panjang" is "Kota Padang Panjang").
Text that cannot be read is kept (in the event's raw record) and ignored here, never an error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

METHOD = "felt_report"
ROMAN = {
    "I": 1,
    "II": 2,
    "III": 3,
    "IV": 4,
    "V": 5,
    "VI": 6,
    "VII": 7,
    "VIII": 8,
    "IX": 9,
    "X": 10,
    "XI": 11,
    "XII": 12,
}
_ROMAN = r"(?:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"
# An intensity: "VII-VIII", "III - IV", "V–VI", "II MMI", "III-IV SIG-BMKG" (upper case only)
_ANCHOR = re.compile(
    rf"\b({_ROMAN})(?:\s*[-\u2013/]\s*({_ROMAN}))?\b(?:\s*(?:MMI|SIG-?BMKG|SIG)\b)?"
)
_PLACE_SPLIT = re.compile(r"\s+(?:dan|&)\s+|\s*/\s*", re.IGNORECASE)
_LEAD = re.compile(r"^(?:(?:dirasakan|terasa|di)\b\s*)+", re.IGNORECASE)
_TRAIL = re.compile(r"(?:\s+(?:dan|&))+$", re.IGNORECASE)
_PREFIX = re.compile(
    r"^(?:kota administrasi|kabupaten administrasi|kota|kabupaten|kab|kecamatan|kec)\s+"
)


@dataclass(frozen=True)
class Felt:
    place: str
    mmi_min: int
    mmi_max: int


def parse(text: str | None) -> list[Felt]:
    """'III-IV Palu, II Donggala dan Sigi' -> [Felt('Palu', 3, 4), Felt('Donggala', 2, 2),
    Felt('Sigi', 2, 2)]; '-' or free text -> [].

    Also BMKG's prose: "Dirasakan IV-V MMI di Luwuk dan II-III MMI di Bitung" and
    "dirasakan di Manokwari III MMI" (the place before the intensity when none follows it).
    A comma- or semicolon-separated part without an intensity is left out."""
    if not text or not isinstance(text, str):
        return []
    out: list[Felt] = []
    for part in re.split(r"[,;\n]", text):
        anchors = list(_ANCHOR.finditer(part))
        for i, m in enumerate(anchors):
            end = anchors[i + 1].start() if i + 1 < len(anchors) else len(part)
            places = _clean(part[m.end() : end])
            if not places and i == 0:  # "di Manokwari III MMI"
                places = _clean(part[: m.start()])
            low = ROMAN[m.group(1)]
            high = max(low, ROMAN[m.group(2)] if m.group(2) else low)
            out.extend(Felt(p, low, high) for p in _places(places))
    return out


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" .:-")
    return _TRAIL.sub("", _LEAD.sub("", text)).strip(" .:-")


def _places(text: str) -> list[str]:
    out = []
    for place in _PLACE_SPLIT.split(text):
        place = place.strip(" .")
        if place and re.search(r"[^\W\d_]", place):
            out.append(place)
    return out


def normalise(name: str | None) -> str:
    """'Kab. Padang Pariaman' -> 'padang pariaman'; 'KOTA BUKITTINGGI' -> 'bukittinggi'."""
    if not name:
        return ""
    s = unicodedata.normalize("NFKD", name)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower()
    s = re.sub(r"[^\w\s]", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    return _PREFIX.sub("", s).strip()


def floors(
    felt: Sequence[Felt], regencies: Sequence[str | None], districts: Sequence[str | None]
) -> NDArray[np.float64]:
    """The MMI each community was reported to feel at least (NaN: not named). Vectorised:
    names are normalised once per distinct name, not once per community."""
    reg_codes, reg_names = pd.factorize(pd.Series(regencies, dtype=object).fillna(""))
    dis_codes, dis_names = pd.factorize(pd.Series(districts, dtype=object).fillna(""))
    reg_norm = [normalise(str(n)) for n in reg_names]
    dis_norm = [normalise(str(n)) for n in dis_names]
    names = set(reg_norm) | set(dis_norm)
    out = np.full(len(reg_codes), np.nan)
    for f in felt:
        place = normalise(f.place)
        if not place:
            continue
        if place in names:
            reg_hit = [i for i, n in enumerate(reg_norm) if n == place]
            dis_hit = [i for i, n in enumerate(dis_norm) if n == place]
        else:
            start = place + " "
            reg_hit = [i for i, n in enumerate(reg_norm) if n.startswith(start)]
            dis_hit = [i for i, n in enumerate(dis_norm) if n.startswith(start)]
        hit = np.isin(reg_codes, reg_hit) | np.isin(dis_codes, dis_hit)
        if hit.any():
            out[hit] = np.fmax(out[hit], float(f.mmi_min))
    return out
