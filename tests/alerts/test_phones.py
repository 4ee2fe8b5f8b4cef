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
    ],
)
def test_rejects_with_a_reason(raw: str, fragment: str) -> None:
    with pytest.raises(PhoneError) as err:
        normalize_phone(raw)
    assert fragment in str(err.value)
