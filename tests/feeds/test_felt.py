"""BMKG felt reports (Dirasakan): the parser, name matching, and felt reports as observations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.feeds import felt, intensity
from service.feeds.events import ingest_reports
from service.feeds.models import EventIntensity, HazardEvent
from service.feeds.parsers import bmkg, shakemap
from service.feeds.shaking import update_shaking
from service.settings import FeedSettings, Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("VII-VIII Padang, V Bukittinggi", [("Padang", 7, 8), ("Bukittinggi", 5, 5)]),
        ("III - IV Palu, II Donggala", [("Palu", 3, 4), ("Donggala", 2, 2)]),
        ("II-III Pacitan dan Trenggalek", [("Pacitan", 2, 3), ("Trenggalek", 2, 3)]),
        ("IV MMI Kota Mataram; III Lombok Barat", [("Kota Mataram", 4, 4), ("Lombok Barat", 3, 3)]),
        ("V\u2013VI Kab. Padang Pariaman", [("Kab. Padang Pariaman", 5, 6)]),
        ("-", []),
        ("", []),
        (None, []),
        ("Gempa ini dirasakan untuk diteruskan pada masyarakat", []),
        ("IIX Somewhere, VI", []),  # not a numeral; a numeral without a place
        ("III Ternate, dirasakan kuat", [("Ternate", 3, 3)]),  # the free text is left out
        ("dirasakan di Manokwari III MMI", [("Manokwari", 3, 3)]),
        ("III DONGGALA, II-III PALU", [("DONGGALA", 3, 3), ("PALU", 2, 3)]),
    ],
)
def test_parse_felt(text: str | None, expected: list[tuple[str, int, int]]) -> None:
    assert [(f.place, f.mmi_min, f.mmi_max) for f in felt.parse(text)] == expected


def test_real_bmkg_samples(shared_data: Path) -> None:
    """Every Dirasakan in ../shared/data/feeds/bmkg parses (or is '-')."""
    folder = shared_data / "feeds/bmkg"
    texts = []
    for path in sorted(folder.glob("autogempa_*.json")):
        texts.append(json.loads(path.read_text())["Infogempa"]["gempa"]["Dirasakan"])
    xml = (folder / "autogempa_2021-10-04.xml").read_text()
    texts.append(xml.split("<Dirasakan>")[1].split("</Dirasakan>")[0])
    parsed = {t: [(f.place, f.mmi_min) for f in felt.parse(t)] for t in texts}
    assert parsed == {"II Dompu": [("Dompu", 2)], "-": [], "III Ternate": [("Ternate", 3)]}
    report = bmkg.parse((folder / "autogempa_2021-10-05.json").read_bytes())[0]
    assert report.properties["felt_text"] == "II Dompu" and report.mmi == 2.0


def test_real_bmkg_prose_in_shakemap_headers(shared_data: Path) -> None:
    """The two event descriptions with felt text among BMKG's 706 ShakeMap grids."""
    index = pd.read_csv(shared_data / "real/bmkg_shakemaps/bmkg_shakemap_event_index.csv")
    texts = index.loc[
        index["event_description"].str.contains("dirasakan", case=False), "event_description"
    ].tolist()
    assert len(texts) == 2
    parsed = [[(f.place, f.mmi_min, f.mmi_max) for f in felt.parse(t)] for t in texts]
    assert parsed[0] == [
        ("Luwuk", 4, 5),
        ("Bitung Manado Minahasa Kotamobagu Gorontalo", 2, 3),  # no separators: one place,
        ("Malil", 2, 3),  # which matches no name and is ignored
    ]
    assert parsed[1] == [("Manokwari", 3, 3)]


def test_normalise_names() -> None:
    assert felt.normalise("Kab. Padang Pariaman") == "padang pariaman"
    assert felt.normalise("KOTA BUKITTINGGI") == "bukittinggi"
    assert felt.normalise("Kabupaten  Pidie Jaya") == "pidie jaya"
    assert felt.normalise("Kec. Palu Timur") == "palu timur"
    assert felt.normalise("Tojo Una-Una") == "tojo una una"
    assert felt.normalise("Banjarbarû") == "banjarbaru"  # accents go
    assert felt.normalise("Kota Administrasi Jakarta Barat") == "jakarta barat"
    assert felt.normalise("Kepulauan Mentawai") == "kepulauan mentawai"  # part of the name


def test_floors_exact_name_before_a_longer_one() -> None:
    regencies = ["Kota Padang", "Kab. Padang Pariaman", "Kota Bukittinggi", "Kota Padang Panjang"]
    districts = ["Padang Barat", "Nan Sabaris", "Guguk Panjang", "Padang Panjang Timur"]
    floor = felt.floors(felt.parse("VII-VIII Padang, V Bukittinggi"), regencies, districts)
    assert floor[0] == 7 and floor[2] == 5  # the lower end of a range: at least VII
    assert np.isnan(floor[1]) and np.isnan(floor[3])  # "Padang" is no Padang Pariaman/Panjang
    # With no exact name, a longer one that begins with the place (whole words) matches.
    assert felt.floors(felt.parse("VI Padang"), regencies[1:], districts[1:])[0] == 6
    assert np.isnan(felt.floors(felt.parse("VI Pariaman"), regencies, districts)[1])
    # District names count too; the highest of two reports wins.
    floor = felt.floors(felt.parse("IV Guguk Panjang, VI Bukittinggi"), regencies, districts)
    assert floor[2] == 6 and np.isnan(floor[0])


def _padang_event(session_factory: sessionmaker[Session], felt_text: str | None) -> int:
    with session_factory() as s, s.begin():
        event = HazardEvent(
            type="earthquake", status="active", title="Gempa M7.6 Padang",
            time=datetime(2009, 9, 30, 10, 16, 9, tzinfo=UTC),
            magnitude=7.6, depth_km=81, primary_source="bmkg", primary_source_id="x", revision=1,
            properties={"felt_places": bmkg.parse_felt(felt_text)}, raw={"Dirasakan": felt_text},
            epicentre=from_shape(Point(99.867, -0.72), srid=4326),
        )  # fmt: skip
        s.add(event)
        s.flush()
        return event.id


def _intensities(session_factory: sessionmaker[Session], event_id: int) -> dict[str, tuple]:
    with session_factory() as s:
        rows = s.execute(
            select(Community.code, EventIntensity.mmi, EventIntensity.method)
            .join(Community, Community.id == EventIntensity.community_id)
            .where(EventIntensity.event_id == event_id)
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_felt_report_raises_the_named_communities_until_a_shakemap(
    shared_data: Path,
    settings: Settings,
    session_factory: sessionmaker[Session],
    padang_communities: int,
) -> None:
    event_id = _padang_event(session_factory, "VIII Padang, V Bukittinggi")
    result = update_shaking(
        session_factory=session_factory, settings=settings, event_id=event_id, recompute=False
    )
    assert result.method == "gmpe:bchydro" and result.communities == padang_communities == 104
    stored = _intensities(session_factory, event_id)
    # The estimate gives Kota Padang 7.2-7.7; people reported VIII: every kelurahan gets 8.
    assert len(stored) == 104 and set(stored.values()) == {(8.0, "felt_report")}
    grid = shakemap.parse(
        (shared_data / "real/bmkg_shakemaps/20190930000000_grid.xml").read_bytes()
    )
    update_shaking(
        session_factory=session_factory, settings=settings, event_id=event_id, grid=grid,
        recompute=False,
    )  # fmt: skip
    stored = _intensities(session_factory, event_id)
    assert {m for _, m in stored.values()} == {"shakemap"}  # the ShakeMap supersedes both
    assert 6.0 < min(v for v, _ in stored.values()) < 8.0  # the grid's values, no floor


def test_unreadable_felt_text_and_a_community_vs30(
    settings: Settings, session_factory: sessionmaker[Session], padang_communities: int
) -> None:
    with session_factory() as s, s.begin():
        s.execute(
            update(Community)
            .where(Community.code == "13.71.01.1001")
            .values(properties={"vs30": 760})
        )
        s.execute(
            update(Community)
            .where(Community.code == "13.71.01.1002")
            .values(properties={"vs30": "lunak"})  # not a number: the default
        )
    event_id = _padang_event(session_factory, "dirasakan kuat di Padang")
    result = update_shaking(
        session_factory=session_factory, settings=settings, event_id=event_id, recompute=False
    )
    assert result.skipped is None
    stored = _intensities(session_factory, event_id)
    assert {m for _, m in stored.values()} == {"gmpe:bchydro"}  # no felt_report, no error
    with session_factory() as s:
        points: dict[str, str] = dict(
            s.execute(
                select(
                    Community.code, func.ST_AsText(func.ST_PointOnSurface(Community.geom))
                ).where(Community.code.in_(["13.71.01.1001", "13.71.01.1002"]))
            ).all()
        )
    src = intensity.Source(7.6, 81, 99.867, -0.72, "intraslab")
    for code, vs30 in (("13.71.01.1001", 760.0), ("13.71.01.1002", intensity.DEFAULT_VS30)):
        x, y = (float(v) for v in points[code][6:-1].split())
        expected = float(intensity.estimate_mmi(src, [x], [y], vs30)[0])
        # own Vs30: the point itself; default: the grid's 0.01 deg cell (drawn at that Vs30)
        assert stored[code][0] == pytest.approx(expected, abs=0.006 if vs30 == 760 else 0.03)
    assert stored["13.71.01.1001"][0] < stored["13.71.01.1002"][0] - 0.1  # firm ground: less


def test_a_new_felt_place_re_estimates_and_the_same_report_does_not(
    shared_data: Path, session_factory: sessionmaker[Session]
) -> None:
    """Dompu felt II; a later copy adds 'II-III Bima': a revision that redoes
    the shaking; the same copy again changes nothing."""
    body = (shared_data / "feeds/bmkg/autogempa_2021-10-05.json").read_bytes()
    more = body.replace(b"II Dompu", b"II Dompu, II-III Bima")
    assert more != body
    results = []
    for data in (body, more, more):
        with session_factory() as s, s.begin():
            results.append(
                ingest_reports(
                    session=s, reports=bmkg.parse(data), feed_id=None, tolerances=FeedSettings()
                )
            )
    first, second, third = results
    assert first.new_events and first.shaking_changed == first.new_events
    assert second.revised_events == second.shaking_changed == first.new_events
    assert third.shaking_changed == [] and third.revised_events == []
    with session_factory() as s:
        event = s.get(HazardEvent, first.new_events[0])
        assert event is not None
        assert [p["place"] for p in event.properties["felt_places"]] == ["Dompu", "Bima"]
