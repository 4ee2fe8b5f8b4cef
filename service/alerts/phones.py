"""Phone numbers to E.164 (pure): Indonesian local forms become +62..., anything else is refused.

Accepted: `0812-3456-7890`, `62812...`, `+62 812 ...`, `0062812...`, and other countries'
numbers written in full E.164 (`+<country><number>`). Whether a number exists and whether
it is a mobile number comes from `phonenumbers` (Google's libphonenumber metadata): members
are reached by SMS or WhatsApp, so landlines, toll-free and service numbers are refused too.
Messages say what is wrong and what to write instead, in Bahasa Indonesia first, then English.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

_SEPARATORS = re.compile(r"[\s\-().]")
# The US and Canada do not tell landlines from mobiles by the number; SMS reaches both kinds.
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class PhoneError(ValueError):
    """The text is not a phone number we can message; the message says why."""


def _not_id_mobile(raw: str) -> PhoneError:
    return PhoneError(
        f"{raw!r} bukan nomor HP Indonesia: setelah 0 atau +62 harus diawali 8, "
        "seperti 0812-3456-7890 (telepon rumah atau kantor tidak bisa menerima SMS atau "
        f"WhatsApp) / {raw!r} is not an Indonesian mobile number: after 0 or +62 it must "
        "start with 8, like 0812-3456-7890 (landlines cannot receive SMS or WhatsApp)"
    )


def _not_international(raw: str) -> PhoneError:
    return PhoneError(
        f"{raw!r} bukan nomor internasional yang ada: tulis +, kode negara, lalu nomornya, "
        f"seperti +61412345678 / {raw!r} is not a valid international number: write +, "
        "the country code and the number, like +61412345678"
    )


def _not_foreign_mobile(raw: str) -> PhoneError:
    return PhoneError(
        f"{raw!r} bukan nomor HP (telepon rumah, kantor atau layanan): SMS dan WhatsApp hanya "
        f"sampai ke nomor HP; tulis nomor HP anggota / {raw!r} is not a mobile number "
        "(a landline or service number): SMS and WhatsApp reach only mobile numbers; "
        "write the member's mobile number"
    )


def _split(raw: str) -> tuple[str, bool]:
    """(the digits, whether they carry a country code) or PhoneError for non-numbers."""
    text = (raw or "").strip()
    if not text:
        raise PhoneError(
            "nomor telepon kosong; tulis seperti 0812-3456-7890 atau +6281234567890 / "
            "phone number is empty; write it like 0812-3456-7890 or +6281234567890"
        )
    compact = _SEPARATORS.sub("", text)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isdigit():
        raise PhoneError(
            f"{raw!r} bukan nomor telepon: hanya angka, spasi, tanda hubung, titik, kurung dan "
            f"+ di depan yang boleh, seperti 0812-3456-7890 / {raw!r} is not a phone number: "
            "only digits, spaces, dashes, dots, brackets and a leading + are allowed, "
            "like 0812-3456-7890"
        )
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True  # international dialling prefix
    return digits, plus


def normalize_phone(raw: str) -> str:
    """Return the E.164 form (`+6281234567890`) or raise PhoneError naming the problem."""
    digits, plus = _split(raw)
    if digits.startswith("62"):
        national = digits[2:]
    elif plus:
        return _international(raw, digits)
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        raise PhoneError(
            f"{raw!r} bukan nomor telepon yang kami kenali: awali dengan 08, 62 atau +62 "
            f"(atau + dan kode negara), seperti 0812-3456-7890 / {raw!r} is not a phone number "
            "we recognise: start with 08, 62 or +62 (or + and the country code), "
            "like 0812-3456-7890"
        )
    if national.startswith("0"):
        national = national[1:]  # "+62 0812..." is a common way of writing it
    try:
        number = phonenumbers.parse("+62" + national)
    except NumberParseException:
        raise _not_id_mobile(raw) from None
    if not phonenumbers.is_valid_number(number) or not _is_mobile(number):
        raise _not_id_mobile(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _international(raw: str, digits: str) -> str:
    try:
        number = phonenumbers.parse("+" + digits)
    except NumberParseException:
        raise _not_international(raw) from None
    if not phonenumbers.is_valid_number(number):
        raise _not_international(raw)
    if not _is_mobile(number):
        raise _not_foreign_mobile(raw)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _is_mobile(number: phonenumbers.PhoneNumber) -> bool:
    return phonenumbers.number_type(number) in _MOBILE_TYPES
