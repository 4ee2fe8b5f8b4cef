from __future__ import annotations

from service.alerts.redact import NAME_MASK, PHONE_MASK, redact


def test_phone_numbers_in_any_form_are_masked() -> None:
    text = "hubungi 0812-3456-7890, +62 813 1111 2222 atau (0812) 555 6666; RT 03 RW 05, 50 cm"
    out = redact(text)
    assert out.count(PHONE_MASK) == 3
    assert "RT 03 RW 05, 50 cm" in out


def test_member_names_masked_whole_words_and_parts() -> None:
    names = ["Ibu Siti Rahayu", "Pak Ahmad", "Ani"]
    out = redact("Rumah siti rahayu roboh, Pak Ahmad luka, Ani aman. Tanigawa dan Bu Ratna", names)
    assert out == (
        f"Rumah {NAME_MASK} roboh, {NAME_MASK} luka, {NAME_MASK} aman. Tanigawa dan Bu Ratna"
    )
    assert redact("Pak dan Bu datang", ["Pak Bu"]) == "Pak dan Bu datang"  # honorifics stay
