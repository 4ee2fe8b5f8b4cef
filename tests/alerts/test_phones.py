from __future__ import annotations

import pytest

from service.alerts.phones import PhoneError, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("081234567890", "+6281234567890"),
        ("0812-3456-7890", "+6281234567890"),
        ("0812 3456 789", "+628123456789"),
        ("6281234567890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("+62 (0)812-3456-7890", "+6281234567890"),
        ("006281234567890", "+6281234567890"),
        ("+6285712345678", "+6285712345678"),
        ("+61412345678", "+61412345678"),  # an Australian volunteer, already E.164
        ("+44 7400 123456", "+447400123456"),  # a UK mobile
        ("0044 7400 123456", "+447400123456"),
        ("+1 202 555 0123", "+12025550123"),  # US numbers do not say mobile or not: SMS works
        ("+62 0812-3456-7890", "+6281234567890"),
    ],
)
def test_normalises_indonesian_forms(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("budi", "not a phone number"),
        ("0812-ABC-7890", "not a phone number"),
        ("12345", "recognise"),
        ("0221234567", "mobile"),  # Bandung landline
        ("+62221234567", "mobile"),
        ("0812345", "mobile"),  # too short
        ("08123456789012345", "mobile"),  # too long
        ("+1", "international"),
        ("+99912345678", "international"),  # no country has the code 999
        ("+10000000000", "international"),  # +1, but no such area code
        ("+442079460000", "mobile"),  # a London landline
        ("021-555-1234", "mobile"),  # a Jakarta landline
        ("+62 21 555 1234", "mobile"),
        ("0800-1-234567", "mobile"),  # Indonesian toll-free
        ("+6281234567", "mobile"),  # 0812 numbers have at least 10 digits after the 0
    ],
)
def test_rejects_with_a_reason(raw: str, fragment: str) -> None:
    with pytest.raises(PhoneError) as err:
        normalize_phone(raw)
    assert fragment in str(err.value)


def test_messages_say_what_to_write_in_bahasa_first() -> None:
    for raw in ("", "budi", "12345", "021-555-1234", "+99912345678", "+442079460000"):
        with pytest.raises(PhoneError) as err:
            normalize_phone(raw)
        bahasa, english = str(err.value).split(" / ", 1)
        assert any(word in bahasa for word in ("nomor", "bukan")), bahasa
        assert any(hint in str(err.value) for hint in ("0812-3456-7890", "+61412345678", "HP"))
        assert english and "tidak" not in english
