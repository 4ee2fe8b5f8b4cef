"""Local time zone and place words of a community, from its Kemendagri code (pure).

Indonesia has three time zones (Keppres 41/1987). The province is the first part of the
Kemendagri code, so the zone follows from the code alone:

| zone | UTC | provinces (Kemendagri code)                                                  |
|------|-----|------------------------------------------------------------------------------|
| WIB  | +7  | Sumatra 11-19, Kepulauan Riau 21, Java 31-36, Kalimantan Barat 61, Tengah 62 |
| WITA | +8  | Bali 51, NTB 52, NTT 53, Kalimantan Selatan 63, Timur 64, Utara 65,          |
|      |     | Sulawesi 71-76                                                               |
| WIT  | +9  | Maluku 81, Maluku Utara 82, Papua 91-96                                      |

A code that matches none (a test code, a foreign unit) falls back to the service's default
zone. The fourth part of a village code starts with 1 for a kelurahan and 2 for a desa.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class LocalZone:
    abbreviation: str  # WIB | WITA | WIT
    iana: str  # the tz database name used to convert


WIB = LocalZone("WIB", "Asia/Jakarta")
WIB_KALIMANTAN = LocalZone("WIB", "Asia/Pontianak")
WITA = LocalZone("WITA", "Asia/Makassar")
WIT = LocalZone("WIT", "Asia/Jayapura")

PROVINCE_ZONES: dict[str, LocalZone] = {
    **{str(p): WIB for p in (*range(11, 20), 21, *range(31, 37))},
    "61": WIB_KALIMANTAN,
    "62": WIB_KALIMANTAN,
    **{str(p): WITA for p in (51, 52, 53, 63, 64, 65, *range(71, 77))},
    **{str(p): WIT for p in (81, 82, *range(91, 97))},
}
ZONE_BY_IANA = {"Asia/Jakarta": WIB, "Asia/Makassar": WITA, "Asia/Jayapura": WIT}


def province_prefix(code: str | None) -> str | None:
    """The two-digit province part of a Kemendagri code ('31.71.01.1001' -> '31')."""
    if not code:
        return None
    head = code.strip().split(".", 1)[0]
    return head[:2] if len(head) >= 2 and head[:2].isdigit() else None


def zone_for(
    code: str | None, province_code: str | None = None, default: str = "Asia/Jakarta"
) -> LocalZone:
    for candidate in (province_code, code):
        prefix = province_prefix(candidate)
        if prefix in PROVINCE_ZONES:
            return PROVINCE_ZONES[prefix]
    return ZONE_BY_IANA.get(default, LocalZone("WIB", default))


def local_clock(at: datetime, zone: LocalZone) -> str:
    """'14:05 WIB'."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f"{at.astimezone(ZoneInfo(zone.iana)):%H:%M} {zone.abbreviation}"


def village_word(code: str | None, level: str | None) -> str | None:
    """'Desa' or 'Kel.' for a village-level unit, None when it cannot be told."""
    word = (level or "").strip().lower()
    if word == "desa":
        return "Desa"
    if word == "kelurahan":
        return "Kel."
    parts = (code or "").split(".")
    if len(parts) == 4 and parts[3][:1] in ("1", "2"):
        return "Kel." if parts[3][0] == "1" else "Desa"
    return None


def place_label(name: str, code: str | None, level: str | None) -> str:
    """'Kel. Kartini' / 'Desa Sukamaju' / the bare name when the level is unknown."""
    word = village_word(code, level)
    if word is None or name.lower().startswith((word.lower().rstrip("."), "desa ", "kel")):
        return name
    return f"{word} {name}"
