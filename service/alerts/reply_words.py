"""What a reply says, read as people write it (pure: no I/O).

A reply acknowledges when its first word is an acknowledgement word after case folding,
punctuation and emoji stripped and repeated letters squeezed ("Yaaa!!", "OKE 👍", "nggih",
"muhun"). A number right after the ack word is the alert's reply code ("YA 12", "ya12").
Whatever the reply says beyond the acknowledgement ("ya, air naik 50cm di RT 3") is kept as a
report; thanks, honorifics and more ack words ("ya sdh terima pak", "Ok siap laksanakan") are
not. Negations are never acknowledgements: "tdk", "belum terima", "ya blm".

Every word list lives here, written as people type them; they are normalised the same way as
the replies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# fmt: off
# Emoji that acknowledge, read as the word "ok".
ACK_EMOJI = "\U0001f44d\U0001f44c\u2705\u2714\U0001f64f\U0001f197"

# A first word that acknowledges.
ACK_WORDS_RAW = (
    # Bahasa Indonesia and chat spellings
    "ya", "iya", "iyaa", "y", "yaa", "yes", "yup", "yap", "iy", "yoi", "yaudah", "yasudah", "ok",
    "oke", "okay", "okey", "okei", "oce", "okeh", "okok", "okee", "siap", "siip", "sip", "sudah",
    "sdh", "udah", "udh", "sudh", "dah", "uda", "terima", "diterima", "trima", "terimakasih",
    "trimakasih", "makasih", "makasi", "mksh", "trims", "thanks", "thx", "tq", "tks", "matur",
    "maturnuwun", "suwun", "hatur", "nuhun", "trm", "dtrm", "ditrima", "baik", "baiklah", "noted",
    "copy", "roger", "konfirmasi", "konfirm", "dikonfirmasi", "hadir", "mengerti", "paham", "1",
    # Javanese
    "nggih", "inggih", "enggih", "injih", "nggeh", "iyo", "yo", "sampun", "sampun nampi",
    # Sundanese
    "muhun", "sumuhun", "mangga", "enya", "leres", "parantos", "atos", "tos",
)
# Honorifics and titles: "iya bu", "siap komandan", "ya pak RT".
HONORIFICS_RAW = (
    "pak", "bapak", "bpk", "pk", "bu", "ibu", "mas", "mbak", "mba", "kak", "kakak", "dik", "adik",
    "bang", "abang", "om", "tante", "pakde", "bude", "kang", "teh", "aa", "ceu", "mang", "bro",
    "ustad", "ustadz", "haji", "rt", "rw", "lurah", "kades", "camat", "koordinator", "korlap",
    "bos", "boss", "komandan", "ndan", "dan", "gan", "sir", "all",
)
# Greetings before the first word: "Assalamualaikum pak, ya sudah terima".
GREETINGS_RAW = (
    "assalamualaikum", "asalamualaikum", "assalamu", "alaikum", "salam", "selamat", "met", "pagi",
    "siang", "sore", "malam", "halo", "hallo", "hai", "yth", "permisi", "maaf", "punten",
)
# Words that add nothing to an acknowledgement: thanks, "received", more ack words.
FILLER_WORDS_RAW = HONORIFICS_RAW + GREETINGS_RAW + ACK_WORDS_RAW + (
    "kasih", "terimakasih", "makasih", "mksh", "makasi", "trimakasih", "thanks", "thank", "you",
    "thx", "tks", "trims", "tq", "suwun", "matur", "nuwun", "maturnuwun", "hatur", "nuhun",
    "laksanakan", "dilaksanakan", "siap", "siaga", "waspada", "standby", "stanby", "monitor",
    "dimonitor", "pantau", "dipantau", "info", "infonya", "informasi", "informasinya", "pesan",
    "pesannya", "sms", "wa", "nya", "baca", "dibaca", "sampai", "sampe", "masuk", "dapat", "dpt",
    "sy", "saya", "aku", "kami", "juga", "jg", "sekali", "banyak", "bnyk", "selamat", "salam",
    "pagi", "siang", "sore", "malam", "assalamualaikum", "waalaikumsalam", "wr", "wb", "sudah",
    "sdh", "udah", "dah", "terima", "diterima", "nampi", "tampi", "katampi", "ditampi", "pisan",
    "sanget", "wilujeng", "received", "got", "it", "confirmed", "siap86", "86",
)
NEGATION_WORDS_RAW = (
    "tidak", "tdk", "tak", "gak", "ga", "gk", "g", "nggak", "ngga", "enggak", "engga", "kagak",
    "ndak", "nda", "belum", "blm", "blum", "blom", "bukan", "bkn", "jangan", "jgn", "ora",
    "mboten", "boten", "dereng", "durung", "teu", "henteu", "acan", "tacan", "no", "not", "nope",
)
# "Ya Allah, air masuk rumah" is an exclamation, not an acknowledgement.
EXCLAMATION_AFTER_YA_RAW = ("allah", "alloh", "ampun", "tuhan", "gusti", "rabbi", "robbi", "lord")
# fmt: on
# A first word "1" acknowledges only alone: "1 rumah roboh" is a report.
LONE_ONLY = frozenset({"1"})

_TOKEN = re.compile(rf"[^\W_]+|[{ACK_EMOJI}]")
_SQUEEZE = re.compile(r"([^\W\d_])\1+")
_CODE = re.compile(r"^(\d{1,6})$")
_GLUED_CODE = re.compile(r"^([^\W\d_]+)(\d{1,6})$")
_LEADING_JUNK = re.compile(r"^[\W_]+")


def normalise(word: str) -> str:
    """Case folded, accents and punctuation dropped, repeated letters squeezed ("Yaaa!" → "ya")."""
    if word and word in ACK_EMOJI:
        return "ok"
    folded = unicodedata.normalize("NFKD", word.casefold())
    folded = "".join(ch for ch in folded if ch.isalnum())
    return _SQUEEZE.sub(r"\1", folded)


def _norm_set(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(normalise(w) for phrase in words for w in phrase.split())


ACK_WORDS = _norm_set(ACK_WORDS_RAW)
FILLER_WORDS = _norm_set(FILLER_WORDS_RAW)
HONORIFICS = _norm_set(HONORIFICS_RAW)
GREETINGS = _norm_set(GREETINGS_RAW) | HONORIFICS
NEGATION_WORDS = _norm_set(NEGATION_WORDS_RAW)
EXCLAMATION_AFTER_YA = _norm_set(EXCLAMATION_AFTER_YA_RAW)


@dataclass(frozen=True)
class Reply:
    """What one reply means. `report` is the text to keep as a ground report (None: nothing
    beyond the acknowledgement). `report_with_code` is the report to keep if `code` turns out
    not to be a reply code ("ya 3 rumah terendam": 3 is a count, not alert 3)."""

    ack: bool
    code: str | None = None
    report: str | None = None
    report_with_code: str | None = None

    @property
    def kind(self) -> str:
        """ack, ack+report or report: the class the corpus test checks."""
        if not self.ack:
            return "report"
        return "ack+report" if self.report else "ack"


@dataclass(frozen=True)
class _Token:
    word: str  # normalised
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for m in _TOKEN.finditer(text):
        glued = _GLUED_CODE.match(m.group())
        if glued and normalise(glued.group(1)) in ACK_WORDS:  # "ya12": ack word + code
            cut = m.start() + len(glued.group(1))
            out.append(_Token(normalise(glued.group(1)), m.start(), cut))
            out.append(_Token(glued.group(2), cut, m.end()))
            continue
        word = normalise(m.group())
        if word:
            out.append(_Token(word, m.start(), m.end()))
    return out


def _rest(text: str, tokens: list[_Token], index: int) -> str | None:
    """The original text from token `index` on, honorifics and punctuation in front dropped."""
    while index < len(tokens) and tokens[index].word in HONORIFICS:
        index += 1
    if index >= len(tokens):
        return None
    rest = _LEADING_JUNK.sub("", text[tokens[index].start :]).strip()
    return rest or None


def _says_more(tokens: list[_Token]) -> bool:
    return any(t.word not in FILLER_WORDS for t in tokens)


def classify(text: str) -> Reply:
    """Read one reply: an acknowledgement (with its code, if any), a report, or both."""
    text = text or ""
    tokens = _tokens(text)
    whole = text.strip() or None
    while tokens and tokens[0].word in GREETINGS:
        tokens = tokens[1:]
    if not tokens or tokens[0].word not in ACK_WORDS:
        return Reply(ack=False, report=whole)
    first, after = tokens[0], tokens[1:]
    if first.word in LONE_ONLY and _says_more(after):
        return Reply(ack=False, report=whole)
    if first.word == "ya" and after and after[0].word in EXCLAMATION_AFTER_YA:
        return Reply(ack=False, report=whole)
    # "ya blm", "ok belum terima": a negation of the acknowledgement itself.
    lead = 0
    while lead < len(after) and after[lead].word in FILLER_WORDS:
        lead += 1
    negated = lead < len(after) and after[lead].word in NEGATION_WORDS
    if negated and not _says_more(after[lead + 1 :]):
        return Reply(ack=False, report=whole)
    code: str | None = None
    code_at = None
    for i in range(min(lead + 1, len(after))):
        if _CODE.match(after[i].word) and after[i].word != "86":  # "siap 86": understood
            code, code_at = after[i].word, i
            break
    remaining = after[code_at + 1 :] if code_at is not None else after
    report = _rest(text, tokens, 2 + code_at) if code_at is not None else _rest(text, tokens, 1)
    report = report if _says_more(remaining) else None
    with_code = _rest(text, tokens, 1) if code is not None and report else report
    return Reply(ack=True, code=code, report=report, report_with_code=with_code)
