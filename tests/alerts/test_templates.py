from __future__ import annotations

import pytest

from service.alerts.levels import AWAS, SIAGA, WASPADA
from service.alerts.segments import count_segments
from service.alerts.templates import (
    KINDS,
    MessageContext,
    TemplateError,
    render,
    whatsapp_template,
)
from service.alerts.wording import HAZARD_NAMES

LONG_NAME = "Desa Sukamaju Kidul Kecamatan Cibeunying Kaler Kabupaten Bandung Barat"


def ctx(**kw: object) -> MessageContext:
    base = {
        "kind": "alert",
        "hazard": "flood",
        "level": AWAS,
        "community_name": "Sukamaju",
        "sender_name": "BPBD Bandung",
    }
    base.update(kw)
    return MessageContext(**base)  # type: ignore[arg-type]


def test_indonesian_sms_has_every_part() -> None:
    text = render(ctx(), language="id", channel="sms")
    assert text.startswith("BPBD Bandung: AWAS BANJIR di Sukamaju.")
    assert "mengungsi" in text and "Balas YA" in text
    count = count_segments(text)
    assert count.encoding == "GSM-7" and count.segments == 1


def test_english_and_default_language() -> None:
    assert "FLOOD WARNING in Sukamaju" in render(ctx(), language="en", channel="sms")
    assert render(ctx(), language="xx", channel="sms") == render(
        ctx(), language="id", channel="sms"
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hazard", sorted(HAZARD_NAMES["id"]))
@pytest.mark.parametrize("level", [WASPADA, SIAGA, AWAS])
@pytest.mark.parametrize("language", ["id", "en"])
def test_every_sms_fits_one_gsm7_segment(kind: str, hazard: str, level: int, language: str) -> None:
    c = ctx(
        kind=kind,
        hazard=hazard,
        level=level,
        community_name=LONG_NAME,
        drill=True,
        headline="Gempa M5.6 84 km BaratDaya Kab. Garut",
        member_name="Ibu Siti Nurhaliza",
        names=("Pak Ahmad Sutisna", "Bu Rina Marlina", "Pak Joko", "Ujang", "Neng Euis"),
        sender_name="BPBD Kabupaten Bandung Barat",
    )
    text = render(c, language=language, channel="sms")
    count = count_segments(text)
    assert count.encoding == "GSM-7" and count.segments == 1, text
    assert text.startswith("LATIHAN")
    assert "BPBD Kabupaten Bandung Barat" in text


def test_unicode_names_are_made_gsm7_not_sent_as_ucs2() -> None:
    text = render(
        ctx(community_name="Kampung “Cêmpaka” – Hilir", headline="Air naik 🌊"), channel="sms"
    )
    assert count_segments(text).encoding == "GSM-7"
    assert 'Kampung "Cempaka" - Hilir' in text


def test_shortening_is_deterministic() -> None:
    c = ctx(community_name=LONG_NAME, headline="Tinggi muka air 3 m di pintu air")
    first = render(c, channel="sms")
    assert all(render(c, channel="sms") == first for _ in range(3))
    assert len(first) <= 160


def test_refused_when_it_cannot_fit() -> None:
    with pytest.raises(TemplateError, match="segments"):
        render(ctx(sender_name="X" * 170), channel="sms")


def test_two_segments_allowed_when_configured() -> None:
    c = ctx(community_name=LONG_NAME, headline="Tinggi muka air 3 m di pintu air Manggarai")
    one = render(c, channel="sms")
    two = render(c, channel="sms", max_sms_segments=2)
    assert len(two) > len(one) and count_segments(two).segments == 2


def test_whatsapp_keeps_unicode_and_long_instruction() -> None:
    text = render(ctx(community_name="Cêmpaka"), channel="whatsapp")
    assert "Cêmpaka" in text and "Matikan listrik" in text


def test_notice_lists_names_and_drill() -> None:
    text = render(ctx(kind="notice", names=("Ani", "Budi"), drill=True), channel="whatsapp")
    assert text.startswith("LATIHAN.") and "Ani, Budi" in text


def test_whatsapp_template_parameters() -> None:
    t = whatsapp_template(ctx(drill=True), language="id")
    assert t["name"] == "siaga_alert_latihan" and t["parameters"][1] == "AWAS"
