"""The answers to members' replies: one GSM-7 segment in every case, Bahasa or English."""

from __future__ import annotations

import pytest

from service.alerts.confirmations import KINDS, confirmation_text
from service.alerts.segments import count_segments


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("sender", ["BPBD", "BPBD Kabupaten Bandung Barat – Pusdalops Jawa Barat"])
@pytest.mark.parametrize("code", [None, 7, 123456])
@pytest.mark.parametrize("dropped", [0, 123456])
def test_every_answer_is_one_gsm7_segment(
    kind: str, language: str, sender: str, code: int | None, dropped: int
) -> None:
    text = confirmation_text(
        kind, language=language, sender_name=sender, code=code, dropped=dropped
    )
    count = count_segments(text)
    assert (count.encoding, count.segments) == ("GSM-7", 1), text
    assert text.startswith(sender[:11])


def test_texts_say_what_happened() -> None:
    ack = confirmation_text("ack", language="id", sender_name="BPBD", code=12)
    assert ack == (
        "BPBD: Terima kasih, konfirmasi Anda untuk peringatan 12 sudah diterima. Tetap waspada."
    )
    nothing_open = confirmation_text("ack", language="en", sender_name="BPBD")
    assert "no open alert" in nothing_open
    cut = confirmation_text("report", language="id", sender_name="BPBD", dropped=400)
    assert "400 karakter dipotong" in cut
    assert "MULAI" in confirmation_text("stop", language="id", sender_name="BPBD")
    assert "BERHENTI" in confirmation_text("start", language="en", sender_name="BPBD")
    with pytest.raises(ValueError, match="unknown confirmation kind"):
        confirmation_text("hello", language="id", sender_name="BPBD")
