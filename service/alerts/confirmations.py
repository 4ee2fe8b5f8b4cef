"""The answer a member gets to a reply (pure): one GSM-7 SMS segment, Bahasa Indonesia first,
English for `en` members.

Kinds: ack (with the alert's reply code, or none when nothing was open), report, ack+report,
stop (BERHENTI/STOP) and start (MULAI). A report cut at the cap says so.
"""

from __future__ import annotations

from service.alerts.segments import count_segments, to_gsm7

KINDS = ("ack", "ack+report", "report", "stop", "start")


def _texts(kind: str, language: str, code: int | None, dropped: int) -> list[str]:
    """Fullest first; the first that fits one segment is sent."""
    en = language == "en"
    cut = ""
    if dropped:
        cut = (
            f" Only the first part was kept ({dropped} characters cut)."
            if en
            else f" Hanya bagian awal disimpan ({dropped} karakter dipotong)."
        )
    if kind == "ack" and code is None:  # nothing open to acknowledge
        return (
            ["Thank you. There is no open alert to confirm right now."]
            if en
            else ["Terima kasih. Saat ini tidak ada peringatan aktif untuk dikonfirmasi."]
        )
    ref = f" {code}" if code is not None else ""
    if kind == "ack":
        return (
            [f"Thank you, your confirmation of alert{ref} was received. Stay alert."]
            if en
            else [
                f"Terima kasih, konfirmasi Anda untuk peringatan{ref} sudah diterima. "
                "Tetap waspada."
            ]
        )
    if kind == "ack+report":
        return (
            [
                f"Thank you, your confirmation of alert{ref} and your report were received "
                f"and passed to the coordinator.{cut}",
                f"Thank you, confirmation{ref} and report received.{cut}",
            ]
            if en
            else [
                f"Terima kasih, konfirmasi peringatan{ref} dan laporan Anda sudah diterima dan "
                f"diteruskan ke koordinator.{cut}",
                f"Terima kasih, konfirmasi{ref} dan laporan diterima.{cut}",
            ]
        )
    if kind == "report":
        return (
            [
                f"Thank you, your report was received and passed to the coordinator.{cut}",
                f"Thank you, report received.{cut}",
            ]
            if en
            else [
                f"Terima kasih, laporan Anda sudah diterima dan diteruskan ke koordinator.{cut}",
                f"Terima kasih, laporan diterima.{cut}",
            ]
        )
    if kind == "stop":
        return (
            ["You will receive no more messages from us. Reply MULAI to receive alerts again."]
            if en
            else [
                "Anda tidak akan menerima pesan lagi dari kami. "
                "Balas MULAI untuk menerima peringatan lagi."
            ]
        )
    if kind == "start":
        return (
            ["You will receive alerts again. Reply BERHENTI to stop."]
            if en
            else ["Anda akan menerima peringatan lagi. Balas BERHENTI untuk berhenti."]
        )
    raise ValueError(f"unknown confirmation kind {kind!r}; use one of {', '.join(KINDS)}")


def confirmation_text(
    kind: str, *, language: str, sender_name: str, code: int | None = None, dropped: int = 0
) -> str:
    """One GSM-7 segment: '<sender>: <text>', shortened in steps, the sender cut last."""
    candidates = [to_gsm7(t) for t in _texts(kind, language, code, dropped)]
    sender = to_gsm7(sender_name).strip() or "SIAGA"
    for cut in (None, 20, 11):
        name = sender if cut is None else sender[:cut].rstrip()
        for text in candidates:
            full = f"{name}: {text}"
            count = count_segments(full)
            if count.encoding == "GSM-7" and count.segments == 1:
                return full
    return candidates[-1][:160]
