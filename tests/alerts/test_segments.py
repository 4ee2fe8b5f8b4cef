from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.alerts.segments import count_segments, is_gsm7, non_gsm7_chars, to_gsm7


def _vectors(shared_data: Path) -> list[dict]:
    path = shared_data / "providers" / "sms" / "gsm7_charset_and_segment_rules.json"
    return json.loads(path.read_text(encoding="utf-8"))["test_vectors"]


def test_shared_vectors(shared_data: Path) -> None:
    vectors = _vectors(shared_data)
    assert len(vectors) >= 10
    for v in vectors:
        got = count_segments(v["text"])
        assert (got.encoding, got.units, got.segments) == (
            v["encoding"],
            v["units"],
            v["segments"],
        ), v


def test_tables_match_shared_charset(shared_data: Path) -> None:
    data = json.loads(
        (shared_data / "providers" / "sms" / "gsm7_charset_and_segment_rules.json").read_text(
            "utf-8"
        )
    )
    basic = {c for c in data["gsm7_basic_table_by_septet"].values() if c != "\x1b"}
    ext = set(data["gsm7_extension_table_by_septet_after_ESC"].values())
    assert all(is_gsm7(c) for c in basic | ext)
    assert count_segments("".join(sorted(ext))).units == 2 * len(ext)


def test_escape_pair_not_split_across_parts() -> None:
    # 152 plain septets then '€' (2 septets): the pair moves whole into part two.
    text = "A" * 152 + "€" + "B" * 10
    got = count_segments(text)
    assert got.units == 164 and got.segments == 2
    assert count_segments("A" * 152 + "€" * 78).segments == 3  # 152 | 76 € | 2 €


def test_emoji_cost_two_units_and_never_split() -> None:
    assert count_segments("🌊").units == 2
    # 134 units would fit two parts of 67, but the pair cannot straddle them.
    assert count_segments("a" * 66 + "🌊" + "b" * 66).segments == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gempa M5.6 – tidak berpotensi tsunami", "Gempa M5.6 - tidak berpotensi tsunami"),
        ("“Awas” banjir…", '"Awas" banjir...'),
        ("Waspada banjir 🌊 di Jakarta", "Waspada banjir  di Jakarta"),
        ("Kêcamatan Ŝ", "Kecamatan S"),
        ("é stays", "é stays"),
    ],
)
def test_to_gsm7_is_deterministic_and_gsm7(text: str, expected: str) -> None:
    assert non_gsm7_chars(text) or text == expected
    out = to_gsm7(text)
    assert out == expected and is_gsm7(out)
