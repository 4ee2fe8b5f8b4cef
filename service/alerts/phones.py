"""Phone numbers to E.164 (pure): Indonesian local forms become +62..., anything else is refused.

Accepted: `0812-3456-7890`, `62812...`, `+62 812 ...`, `0062812...`, and other countries'
numbers written in full E.164 (`+<country><number>`). Indonesian numbers must be mobile
(8 after the country code), because a landline cannot receive SMS or WhatsApp.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")
# After +62: a mobile number is 8 followed by 8..11 more digits (9..12 digits in all).
_ID_MOBILE = re.compile(r"8\d{8,11}")


class PhoneError(ValueError):
    """The text is not a phone number we can message; the message says why."""


def normalize_phone(raw: str) -> str:
    """Return the E.164 form (`+6281234567890`) or raise PhoneError naming the problem."""
    text = (raw or "").strip()
    if not text:
        raise PhoneError("phone number is empty; write it like 0812-3456-7890 or +6281234567890")
    compact = _SEPARATORS.sub("", text)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isdigit():
        raise PhoneError(
            f"{raw!r} is not a phone number: only digits, spaces, dashes, dots, brackets "
            "and a leading + are allowed"
        )
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True  # international dialling prefix
    if plus or digits.startswith("62"):
        if digits.startswith("62"):
            national = digits[2:]
        else:
            if not 8 <= len(digits) <= 15 or digits[0] == "0":
                raise PhoneError(
                    f"{raw!r} is not a valid international number (E.164 has 8-15 digits)"
                )
            return "+" + digits
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        raise PhoneError(
            f"{raw!r} is not a phone number we recognise: start with 08, 62 or +62 "
            "(or + and the country code)"
        )
    if national.startswith("0"):
        national = national[1:]  # "+62 0812..." is a common way of writing it
    if not _ID_MOBILE.fullmatch(national):
        raise PhoneError(
            f"{raw!r} is not an Indonesian mobile number: after 0 or +62 it must start with 8 "
            "and have 9-12 digits (landlines cannot receive SMS or WhatsApp)"
        )
    return "+62" + national
