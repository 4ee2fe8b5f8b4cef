"""Messages that carry what people need (issue 13 item 5): local time in the community's zone,
Desa/Kel. and Kec., the reason, the posko number and the nearest assembly point, in one GSM-7
segment, shortened in fixed steps; parents get names with numbers, backups know whose."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from service.alerts import fanout
from service.alerts.creation import create_alert
from service.alerts.levels import AWAS, SIAGA, WASPADA
from service.alerts.models import AlertRecipient
from service.alerts.segments import count_segments
from service.alerts.signals import event_reason
from service.alerts.templates import ALERT_STEPS, KINDS, MessageContext, TemplateError, render
from service.alerts.wording import HAZARD_NAMES
from service.communities.localtime import local_clock, place_label, zone_for

CODE = "32.73.01.1001"
URL = f"/api/v1/communities/{CODE}/shelters"


@pytest.mark.parametrize(
    ("code", "zone", "clock"),
    [
        ("31.71.01.1001", "WIB", "14:30 WIB"),  # DKI Jakarta
        ("61.71.01.1001", "WIB", "14:30 WIB"),  # Kalimantan Barat: WIB too
        ("51.71.01.1001", "WITA", "15:30 WITA"),  # Bali
        ("64.72.01.1001", "WITA", "15:30 WITA"),  # Kalimantan Timur
        ("73.71.01.1001", "WITA", "15:30 WITA"),  # Sulawesi Selatan
        ("81.71.01.1001", "WIT", "16:30 WIT"),  # Maluku
        ("94.01.01.2001", "WIT", "16:30 WIT"),  # Papua Tengah (2022)
        ("XX.01", "WIB", "14:30 WIB"),  # unknown: the service's default zone
    ],
)
def test_zone_from_the_province_code(code: str, zone: str, clock: str) -> None:
    z = zone_for(code)
    assert z.abbreviation == zone
    assert local_clock(datetime(2026, 12, 6, 7, 30, tzinfo=UTC), z) == clock


def test_province_code_column_wins_over_the_code() -> None:
    assert zone_for("local-1", "52").abbreviation == "WITA"


def test_place_words() -> None:
    assert place_label("Kartini", "31.71.01.1001", "desa_kelurahan") == "Kel. Kartini"
    assert place_label("Sukamaju", "32.04.01.2001", None) == "Desa Sukamaju"
    assert place_label("Sukamaju", "x", "desa") == "Desa Sukamaju"
    assert place_label("Desa Sukamaju", "32.04.01.2001", None) == "Desa Sukamaju"
    assert place_label("Jakarta Pusat", "31.71", "kabupaten_kota") == "Jakarta Pusat"


def test_reasons() -> None:
    quake = event_reason(
        hazard="earthquake",
        title="Gempa M5.6 84 km BaratDaya KAB-GARUT",
        magnitude=5.6,
        properties={},
        clock="10:02 WIB",
    )
    assert quake == "Gempa M5.6 84 km BaratDaya KAB-GARUT 10:02 WIB"
    cap = event_reason(
        hazard="extreme_weather",
        title="Peringatan Dini Cuaca Jawa Barat",
        magnitude=None,
        properties={"event": "Hujan Lebat dan Petir", "area_desc": ["Kota Bandung", "Cimahi"]},
        clock="x",
    )
    assert cap == "Hujan Lebat dan Petir: Kota Bandung"


FULL = MessageContext(
    kind="alert",
    hazard="flood",
    level=SIAGA,
    community_name="Kel. Kartini",
    sender_name="BPBD DKI Jakarta",
    district_name="Sawah Besar",
    local_time="14:05 WIB",
    contact_phone="081234567890",
    shelter_name="Masjid Al-Ikhlas",
    headline="Tinggi muka air Manggarai 950 cm",
    reply_code="123",
)


def test_one_sms_carries_the_essentials() -> None:
    text = render(FULL, channel="sms")
    assert text == (
        "BPBD DKI Jakarta 14:05 WIB: SIAGA BANJIR di Kel. Kartini, Kec. Sawah Besar. "
        "Siap mengungsi. Titik kumpul: Masjid Al-Ikhlas. Posko 081234567890. Balas YA 123."
    )
    assert count_segments(text).segments == 1
    wa = render(FULL, channel="whatsapp")  # WhatsApp has room for everything
    assert "Tinggi muka air Manggarai 950 cm" in wa and "Amankan dokumen" in wa


def test_shortening_steps_are_fixed_and_keep_time_longest() -> None:
    """Each step removes one more thing in the documented order; time goes last."""
    assert ALERT_STEPS[0].long_instruction and not ALERT_STEPS[-1].clock
    order = []
    for before, after in itertools.pairwise(ALERT_STEPS):
        gone = [
            f
            for f in ("reason", "district", "contact", "shelter", "clock")
            if getattr(before, f) and not getattr(after, f)
        ]
        order += gone
    assert order == ["reason", "district", "contact", "shelter", "clock"]
    long_name = "Kampung Sukamaju Kidul Wetan Tonggoh Pasirhalang"
    text = render(
        MessageContext(**{**FULL.__dict__, "community_name": f"Desa {long_name}"}), channel="sms"
    )
    assert "14:05 WIB" in text and "Balas YA 123" in text and "Kec." not in text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("hazard", sorted(HAZARD_NAMES["id"]))
@pytest.mark.parametrize("level", [WASPADA, SIAGA, AWAS])
@pytest.mark.parametrize("language", ["id", "en"])
def test_everything_set_still_fits_with_a_reply_code(kind, hazard, level, language) -> None:
    """Room is reserved for 'Balas YA 123' even with every part at its longest."""
    ctx = MessageContext(
        kind=kind,
        hazard=hazard,
        level=level,
        community_name="Desa Sukamaju Kidul Kecamatan Cibeunying Kaler Kabupaten Bandung Barat",
        sender_name="BPBD Kabupaten Bandung Barat",
        drill=True,
        headline="Gempa M5.6 84 km BaratDaya Kab. Garut 10:02 WIB",
        member_name="Ibu Siti Nurhaliza 081311112222",
        names=("Pak Ahmad 081300001111", "Bu Rina 081300002222", "Ujang 081300003333"),
        district_name="Cibeunying Kaler",
        local_time="10:04 WIB",
        contact_phone="081234567890",
        shelter_name="Lapangan Sepak Bola RW 03",
        reply_code="123",
    )
    text = render(ctx, language=language, channel="sms")
    count = count_segments(text)
    assert count.encoding == "GSM-7" and count.segments == 1, text
    assert text.startswith("LATIHAN")
    if kind in ("alert", "update", "backup"):
        assert "YA 123" in text


def test_backup_says_whose_and_notice_lists_numbers() -> None:
    backup = render(
        MessageContext(**{**FULL.__dict__, "kind": "backup", "member_name": "Siti 0813111"}),
        channel="sms",
    )
    assert "Anda cadangan utk Siti 0813111" in backup
    notice = render(
        MessageContext(**{**FULL.__dict__, "kind": "notice", "names": ("Ani 0811", "Budi 0812")}),
        channel="sms",
    )
    assert "Ani 0811, Budi 0812" in notice


def flood_alert(session, settings, group, code: str, *, level: int, source_ref: str):
    """A flood alert for one community of the group, created (and fanned out) at 07:30 UTC."""
    return create_alert(
        session=session,
        settings=settings,
        group=group,
        rule=None,
        hazard="flood",
        community_code=code,
        level=level,
        kind="alert",
        source_ref=source_ref,
        status="Actual",
        thread=None,
        headline=None,
        trigger=None,
        now=datetime(2026, 12, 6, 7, 30, tzinfo=UTC),
    )


def test_messages_name_the_nearest_shelter_and_the_posko(
    client, session, settings, make_tree, auth_headers, outbox_rows
) -> None:
    coordinator = auth_headers("coordinator")
    tree = make_tree()
    tree.group.contact_phone = "+6281299990000"
    session.commit()
    for name, kind, lon in (
        ("Posko Desa", "posko", 107.610),  # at the centre, but a posko is not where to gather
        ("Lapangan Jauh", "titik_kumpul", 107.619),
        ("Masjid Dekat", "shelter", 107.611),
    ):
        point = {"name": name, "kind": kind, "lon": lon, "lat": -6.89}
        assert client.post(URL, headers=coordinator, json=point).status_code == 201
    alert, _ = flood_alert(session, settings, tree.group, CODE, level=3, source_ref="t:1")
    session.commit()
    sent = outbox_rows.sent(alert_id=alert.id)
    assert sent
    for row in sent:
        assert "Masjid Dekat" in row["body"] and "081299990000" in row["body"], row["body"]
        assert "14:30 WIB" in row["body"]
        if row["channel"] == "sms":
            assert len(row["body"]) <= 160


def test_group_contact_number_is_not_public(client, session, auth_headers) -> None:
    from tests.alerts.conftest import add_community

    add_community(session, CODE, "Sukamaju")
    session.commit()
    coordinator = auth_headers("coordinator")
    body = {"name": "Destana", "community_codes": [CODE], "contact_phone": "0812-9999-0000"}
    r = client.post("/api/v1/groups", headers=coordinator, json=body)
    assert r.status_code == 201 and "contact_phone" not in r.json()  # like members' numbers
    gid = r.json()["id"]
    session.expire_all()
    from service.alerts.models import AlertGroup

    assert session.get(AlertGroup, gid).contact_phone == "+6281299990000"
    assert "contact_phone" not in client.get(f"/api/v1/groups/{gid}").json()
    assert "8129999" not in client.get("/api/v1/groups").text
    assert "contact_phone" not in client.get(f"/api/v1/groups/{gid}", headers=coordinator).json()
    responder = auth_headers("responder")
    assert client.get(f"/api/v1/groups/{gid}", headers=responder).json()["contact_phone"]
    r = client.patch(f"/api/v1/groups/{gid}", headers=coordinator, json={"contact_phone": "12"})
    assert r.status_code in (400, 422)
    r = client.patch(f"/api/v1/groups/{gid}", headers=coordinator, json={"contact_phone": None})
    assert r.status_code == 200
    assert client.get(f"/api/v1/groups/{gid}", headers=responder).json()["contact_phone"] is None


def test_a_text_that_cannot_be_sent_skips_its_members_with_the_reason(
    session, settings, make_tree, outbox_rows, monkeypatch
) -> None:
    """The fan-out pairs texts with members in the database: when one language's SMS text
    cannot be made (here: English), its SMS and WhatsApp members (WhatsApp may fall back to
    SMS) are skipped with the reason, the others get theirs, the unconsenting are skipped."""
    real_render = fanout.render

    def render_or_fail(ctx, *, language, channel, max_sms_segments):
        if language == "en":
            raise TemplateError("the SMS text needs 2 segments; the limit is 1")
        return real_render(ctx, language=language, channel=channel, max_sms_segments=1)

    monkeypatch.setattr(fanout, "render", render_or_fail)
    tree = make_tree()
    tree.members["sekretaris"].language = "en"  # WhatsApp, English
    session.commit()
    alert, created = flood_alert(
        session, settings, tree.group, "32.73.01.1001", level=SIAGA, source_ref="t:unfit"
    )
    session.commit()
    assert created
    sent = {row["member_id"]: row for row in outbox_rows.sent(alert_id=alert.id)}
    m = tree.members
    assert set(sent) == {m["ketua"].id, m["koordinator"].id, m["warga1"].id}
    assert sent[m["ketua"].id]["sms_fallback_body"] and sent[m["ketua"].id]["template"]
    assert sent[m["koordinator"].id]["template"] is None
    reasons = {
        r.member_id: r.skipped_reason
        for r in session.scalars(select(AlertRecipient).where(AlertRecipient.alert_id == alert.id))
    }
    assert len(reasons) == len(m)
    for key in ("sekretaris", "warga2"):
        assert reasons[m[key].id].startswith("message does not fit: the SMS text needs 2")
    assert reasons[m["warga3"].id] == "no consent recorded"
    assert all(reasons[m[k].id] is None for k in ("ketua", "koordinator", "warga1"))
