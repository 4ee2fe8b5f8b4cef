"""Alert levels and how each kind of trigger maps onto them (pure).

Every trigger (risk level, MMI, CAP severity, a feed's alert level) is mapped onto the three
warning tiers Indonesian agencies already use (Waspada < Siaga < Awas), so that cooldown
("unless the level rises"), quiet hours ("except the highest levels") and escalation times
work the same way whatever fired the rule.
"""

from __future__ import annotations

import math

WASPADA, SIAGA, AWAS = 1, 2, 3
LEVEL_NAMES = {WASPADA: "waspada", SIAGA: "siaga", AWAS: "awas"}
LEVEL_BY_NAME = {name: level for level, name in LEVEL_NAMES.items()}

TRIGGERS = ("risk_level", "mmi", "cap_severity", "alert_level")

RISK_ORDER = {"rendah": 0, "sedang": 1, "tinggi": 2, "sangat_tinggi": 3}
CAP_SEVERITY_ORDER = {"unknown": 0, "minor": 1, "moderate": 2, "severe": 3, "extreme": 4}
# Feed alert levels: GDACS colours, the Indonesian tiers (volcano status I-IV too).
ALERT_LEVEL_ORDER = {
    "normal": 0,
    "green": 1,
    "hijau": 1,
    "yellow": 1,
    "kuning": 1,
    "waspada": 1,
    "ii": 1,
    "orange": 2,
    "oranye": 2,
    "siaga": 2,
    "iii": 2,
    "red": 3,
    "merah": 3,
    "awas": 3,
    "iv": 3,
    "i": 0,
}


class TriggerError(ValueError):
    """A threshold that does not fit its trigger kind."""


def parse_threshold(trigger: str, threshold: str) -> float:
    """The threshold as a number on the trigger's own ordinal scale."""
    value = str(threshold).strip().lower()
    if trigger == "risk_level":
        if value not in RISK_ORDER:
            raise TriggerError(f"risk_level threshold must be one of {', '.join(RISK_ORDER)}")
        return RISK_ORDER[value]
    if trigger == "cap_severity":
        if value not in CAP_SEVERITY_ORDER:
            raise TriggerError("cap_severity threshold must be Minor, Moderate, Severe or Extreme")
        return CAP_SEVERITY_ORDER[value]
    if trigger == "alert_level":
        if value not in ALERT_LEVEL_ORDER:
            raise TriggerError(
                "alert_level threshold must be a GDACS colour (green/orange/red) or "
                "waspada/siaga/awas"
            )
        return ALERT_LEVEL_ORDER[value]
    if trigger == "mmi":
        try:
            mmi = float(value)
        except ValueError:
            raise TriggerError("mmi threshold must be a number between 1 and 12") from None
        if not (math.isfinite(mmi) and 1 <= mmi <= 12):
            raise TriggerError("mmi threshold must be a number between 1 and 12")
        return mmi
    raise TriggerError(f"unknown trigger {trigger!r}; use one of {', '.join(TRIGGERS)}")


def measure(trigger: str, value: object) -> float | None:
    """A signal's value on the trigger's scale, or None when the signal lacks it."""
    if value is None:
        return None
    if trigger == "mmi":
        try:
            mmi = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return mmi if math.isfinite(mmi) else None
    table = {
        "risk_level": RISK_ORDER,
        "cap_severity": CAP_SEVERITY_ORDER,
        "alert_level": ALERT_LEVEL_ORDER,
    }[trigger]
    return table.get(str(value).strip().lower())


def level_for(trigger: str, measured: float) -> int:
    """The warning tier (1..3) a measured value means."""
    if trigger == "risk_level":
        return max(WASPADA, min(AWAS, int(measured)))
    if trigger == "mmi":
        return AWAS if measured >= 7 else SIAGA if measured >= 5 else WASPADA
    if trigger == "cap_severity":
        return AWAS if measured >= 4 else SIAGA if measured >= 3 else WASPADA
    return max(WASPADA, min(AWAS, int(measured)))
