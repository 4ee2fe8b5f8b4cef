"""Replies as people write them: the corpus in reply_corpus.txt, read by the pure classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.alerts.reply_words import ACK_WORDS, NEGATION_WORDS, classify, normalise

CORPUS = Path(__file__).with_name("reply_corpus.txt")


def corpus() -> list[tuple[str, str]]:
    out = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expected, _, text = line.partition("\t")
        out.append((expected, text))
    return out


def test_corpus_is_large_and_every_class_is_there() -> None:
    cases = corpus()
    assert len(cases) >= 300
    assert {e for e, _ in cases} == {"ack", "ack+report", "report"}
    assert len({t for _, t in cases}) == len(cases), "duplicate replies in the corpus"


def test_corpus_is_read_right_at_least_98_percent() -> None:
    cases = corpus()
    wrong = [(e, t, classify(t).kind) for e, t in cases if classify(t).kind != e]
    right = 1 - len(wrong) / len(cases)
    assert right >= 0.98, f"{right:.1%} right; wrong: {wrong}"


def test_normalise_folds_case_strips_punctuation_and_squeezes_letters() -> None:
    assert normalise("Yaaa!!") == "ya"
    assert normalise("OKEEE") == "oke"
    assert normalise("👍") == "ok"
    assert normalise("100") == "100"  # digits are never squeezed


def test_negations_are_never_ack_words() -> None:
    assert not (ACK_WORDS & NEGATION_WORDS)
    for word in ("tidak", "tdk", "belum", "blm", "gak", "ora", "teu"):
        assert not classify(word).ack
        assert not classify(f"ya {word}").ack
        assert not classify(f"ok {word} terima pak").ack


@pytest.mark.parametrize(
    ("text", "code", "report"),
    [
        ("YA 12", "12", None),
        ("ya12", "12", None),
        ("Ya #7, terima kasih", "7", None),
        ("ya 12 air naik terus", "12", "air naik terus"),
        ("ya sdh terima pak", None, None),
        ("ya, air naik 50cm di RT 3", None, "air naik 50cm di RT 3"),
        ("Siap 86", None, None),
    ],
)
def test_code_and_report_are_split_from_the_ack(text: str, code: str | None, report: str) -> None:
    reply = classify(text)
    assert reply.ack
    assert reply.code == code
    assert reply.report == report


def test_a_number_that_is_not_a_code_stays_in_the_report() -> None:
    reply = classify("ya 3 rumah terendam")
    assert (reply.code, reply.report, reply.report_with_code) == (
        "3",
        "rumah terendam",
        "3 rumah terendam",
    )


def test_not_an_ack_keeps_the_whole_text() -> None:
    assert classify("  tdk terima pak ").report == "tdk terima pak"
    assert classify("").report is None
