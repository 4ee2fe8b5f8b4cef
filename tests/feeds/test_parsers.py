"""Every sample in ../shared/data/feeds parses, with fields checked against the file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from service.feeds.parsers import bmkg, cap, gdacs, shakemap, usgs
from service.feeds.parsers.common import FeedParseError

# The pre-2021 autogempa.xml layout (no DateTime, lon-first coordinates, "SR", Wilayah1..5),
# as BMKG served it in August 2019; made here from the documented layout, not copied.
OLD_AUTOGEMPA_XML = b"""<?xml version="1.0"?>
<Infogempa><gempa>
<Tanggal>27-Aug-19</Tanggal><Jam>13:31:23 WIB</Jam>
<point><coordinates>122.05,1.27</coordinates></point>
<Lintang>1.27 LU</Lintang><Bujur>122.05 BT</Bujur>
<Magnitude>5.0 SR</Magnitude><Kedalaman>10 Km</Kedalaman>
<_symbol>imagesSWF/m2b.swf</_symbol>
<Wilayah1>84 km TimurLaut BUOL-SULTENG</Wilayah1>
<Wilayah2>88 km BaratLaut BOALEMO-GORONTALO</Wilayah2>
<Potensi>tidak berpotensi TSUNAMI</Potensi>
</gempa></Infogempa>"""


def feeds(shared_data: Path) -> Path:
    return shared_data / "feeds"


def test_autogempa_json_fields(shared_data: Path) -> None:
    (r,) = bmkg.parse((feeds(shared_data) / "bmkg/autogempa_2021-10-05.json").read_bytes())
    assert r.time == datetime(2021, 10, 5, 11, 0, 27, tzinfo=UTC)  # DateTime, not 18:00 WIB
    assert (r.lat, r.lon) == (-8.15, 118.10)  # "Coordinates": "-8.15,118.10" is lat first
    assert (r.magnitude, r.depth_km) == (4.5, 20.0)
    assert r.tsunami is False and r.mmi == 2.0
    assert r.properties["felt"] == [{"mmi_min": 2, "mmi_max": 2, "place": "Dompu"}]
    assert r.source_id == "20211005110027" and r.event_type == "earthquake"


def test_autogempa_current_xml_is_lat_first(shared_data: Path) -> None:
    (r,) = bmkg.parse((feeds(shared_data) / "bmkg/autogempa_2021-10-04.xml").read_bytes())
    assert (r.lat, r.lon) == (1.04, 126.96)
    assert r.time == datetime(2021, 10, 4, 10, 59, 19, tzinfo=UTC)
    assert (r.magnitude, r.depth_km, r.mmi) == (4.7, 17.0, 3.0)
    assert "Ternate" in (r.title or "")


def test_autogempa_not_felt_and_no_tsunami(shared_data: Path) -> None:
    (r,) = bmkg.parse(
        (feeds(shared_data) / "bmkg/autogempa_2021-10-13_M5.3_notfelt.json").read_bytes()
    )
    assert (r.lat, r.lon, r.magnitude) == (-0.14, 133.02, 5.3)
    assert r.mmi is None and r.properties["felt"] == [] and r.tsunami is False
    assert r.properties["shakemap_image"].endswith("20211013101309.mmi.jpg")


def test_gempaterkini_list(shared_data: Path) -> None:
    reports = bmkg.parse((feeds(shared_data) / "bmkg/gempaterkini_2023-07-12.json").read_bytes())
    assert len(reports) == 15
    assert all(r.magnitude is not None and r.magnitude >= 5.0 for r in reports)
    first, second = reports[0], reports[1]
    assert (first.lat, first.lon, first.depth_km) == (-10.01, 118.81, 10.0)
    assert (second.lat, second.lon) == (3.65, 95.84)  # "3.65 LU" north
    assert second.time == datetime(2023, 7, 10, 1, 19, 4, tzinfo=UTC)
    assert len({r.source_id for r in reports}) == 15


def test_old_xml_format_is_lon_first_and_local_time() -> None:
    (r,) = bmkg.parse(OLD_AUTOGEMPA_XML)
    assert (r.lat, r.lon) == (1.27, 122.05)
    assert r.time == datetime(2019, 8, 27, 6, 31, 23, tzinfo=UTC)  # 13:31:23 WIB
    assert (r.magnitude, r.depth_km, r.tsunami) == (5.0, 10.0, False)
    assert "BUOL-SULTENG" in (r.properties["wilayah"] or "")


def test_gempadirasakan_documented_shape() -> None:
    body = (
        b'{"Infogempa":{"gempa":[{"Tanggal":"18 Okt 2024","Jam":"15:26:54 WIB",'
        b'"DateTime":"2024-10-18T08:26:54+00:00","Coordinates":"-5.79,112.44","Lintang":"5.79 LS",'
        b'"Bujur":"112.44 BT","Magnitude":"3.8","Kedalaman":"4 km","Wilayah":"Pusat gempa berada'
        b' di laut 130km timur laut Tuban","Dirasakan":"III-IV Bawean, II Tuban"}]}}'
    )
    (r,) = bmkg.parse(body)
    assert (r.lat, r.lon, r.mmi) == (-5.79, 112.44, 4.0)
    assert r.tsunami is None  # no Potensi in the felt feed
    assert r.properties["felt"][0] == {"mmi_min": 3, "mmi_max": 4, "place": "Bawean"}


def test_indonesian_month_names_and_zones() -> None:
    assert bmkg.local_date_time("4 Agu 2021", "07:00:00 WITA") == datetime(
        2021, 8, 3, 23, tzinfo=UTC
    )
    assert bmkg.local_date_time("12 Des 2022", "09:00:00 WIT") == datetime(
        2022, 12, 12, 0, tzinfo=UTC
    )
    assert bmkg.local_date_time("01 Mei 2023", "10:00:00 WIB").month == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tidak berpotensi tsunami", False),
        ("Potensi tsunami untuk diteruskan pada masyarakat", True),
        ("Gempa ini dirasakan untuk diteruskan pada masyarakat", False),
        (None, None),
    ],
)
def test_tsunami_potential(text: str | None, expected: bool | None) -> None:
    assert bmkg.tsunami_potential(text) is expected


def test_coordinates_disagreeing_with_hemispheres_are_refused() -> None:
    body = (
        b'{"Infogempa":{"gempa":{"DateTime":"2021-10-05T11:00:27+00:00","Coordinates":"8.15,118.10",'
        b'"Lintang":"8.15 LS","Bujur":"118.10 BT","Magnitude":"4.5","Kedalaman":"20 km"}}}'
    )
    with pytest.raises(FeedParseError, match="disagree"):
        bmkg.parse(body)


def test_inatews_realtime_geojson(shared_data: Path) -> None:
    (r,) = bmkg.parse(
        (feeds(shared_data) / "bmkg/inatews_gemparealtime_geojson_2022.json").read_bytes()
    )
    assert r.source == "inatews" and r.source_id == "bmg2022suve"
    assert r.lon is not None and r.lat is not None
    assert (round(r.lon, 4), round(r.lat, 4)) == (122.0909, 0.3193)
    assert r.magnitude == 2.6 and round(r.depth_km or 0, 1) == 153.2


def test_usgs_summary_feeds(shared_data: Path) -> None:
    week = usgs.parse((feeds(shared_data) / "usgs/usgs_summary_4.5_week_2020.geojson").read_bytes())
    assert len(week) == 91
    by_id = {r.source_id: r for r in week}
    r = by_id["us6000c60p"]  # 13 km W of Ternate
    assert (r.lon, r.lat, r.depth_km, r.magnitude) == (127.2634, 0.7895, 101.52, 5.0)
    assert r.time == datetime.fromtimestamp(1601974021.687, tz=UTC)
    first = by_id["us6000c7b1"]
    assert first.alert_level == "green" and first.mmi == 0 and first.tsunami is False
    assert first.updated == datetime.fromtimestamp(1602347813.131, tz=UTC)
    hour = usgs.parse((feeds(shared_data) / "usgs/usgs_summary_all_hour_2017.geojson").read_bytes())
    assert len(hour) == 8 and hour[0].source_id == "nc72934355" and hour[0].status == "automatic"


def test_gdacs_rss_with_bom(shared_data: Path) -> None:
    data = (feeds(shared_data) / "gdacs/gdacs_rss_2024-12-10.xml").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    first, second = gdacs.parse(data)
    assert first.source_id == "EQ1457082" and first.event_type == "earthquake"
    assert (first.lat, first.lon) == (51.1125, -177.2133)
    assert (first.magnitude, first.depth_km, first.alert_level) == (5.8, 28.6, "Green")
    assert first.properties["episode_id"] == "1608281"
    assert first.time == datetime(2024, 12, 10, 18, 4, 35, tzinfo=UTC)
    assert first.footprint is not None and first.footprint.bounds == (
        -181.2133,
        47.1125,
        -173.2133,
        55.1125,
    )
    assert second.source_id == "EQ1456937"


def test_gdacs_rss_24h_and_archive(shared_data: Path) -> None:
    day = gdacs.parse((feeds(shared_data) / "gdacs/gdacs_rss_24h_2019-12-30.xml").read_bytes())
    assert len(day) == 21
    assert {r.properties["gdacs_type"] for r in day} >= {"DR", "EQ"}
    archive = gdacs.parse(
        (feeds(shared_data) / "gdacs/gdacs_rss_archive_india_orange_2016-04-09.xml").read_bytes()
    )
    assert len(archive) == 23
    eq = archive[0]
    assert (eq.source_id, eq.magnitude, eq.depth_km, eq.alert_level) == (
        "EQ1077755",
        6.7,
        55.0,
        "Red",
    )
    assert (eq.lat, eq.lon) == (24.8339, 93.6556)


def test_gdacs_json_api(shared_data: Path) -> None:
    reports = gdacs.parse(
        (feeds(shared_data) / "gdacs/gdacs_api_eventsbyarea_pakistan_2026-10.json").read_bytes()
    )
    assert len(reports) == 7
    eq = reports[0]
    assert (eq.source_id, eq.magnitude, eq.depth_km) == ("EQ1569499", 4.8, 248.906)
    assert (eq.lon, eq.lat) == (71.0216, 36.611)
    assert eq.time == datetime(2026, 10, 4, 20, 27, 25, tzinfo=UTC)  # naive -> UTC
    assert eq.properties["episode_id"] == "1737725"
    assert reports[1].event_type == "flood" and reports[1].alert_level == "Orange"


def test_cap_bmkg_nowcast_unions_every_polygon(shared_data: Path) -> None:
    r = cap.parse_alert(
        (feeds(shared_data) / "cap/bmkg_nowcast_cap_id_CGT20260924002_alert.xml").read_bytes()
    )
    assert r.source_id == "2.49.0.1.360.0.2026.09.24.07.75.002"
    assert r.event_type == "extreme_weather" and r.msg_type == "Alert"
    assert (r.severity, r.urgency, r.certainty) == ("Moderate", "Immediate", "Observed")
    assert r.time == datetime(2026, 9, 24, 7, 27, tzinfo=UTC)  # effective 15:27+08:00
    assert r.expires == datetime(2026, 9, 24, 9, 27, tzinfo=UTC)
    fp = r.footprint
    assert fp is not None and fp.is_valid
    # The two big polygons share an edge and merge; two small islands stay apart.
    assert len(fp.geoms) == 3
    minx, miny, maxx, maxy = fp.bounds
    assert 122.0 < minx < maxx < 122.2 and 0.4 < miny < maxy < 0.95  # lon/lat, not swapped
    assert r.properties["event_codes"] == {"OET:v1.2": "OET-194"}


def test_cap_other_samples(shared_data: Path) -> None:
    en = cap.parse_alert(
        (feeds(shared_data) / "cap/bmkg_nowcast_cap_en_CGT20260924002_alert.xml").read_bytes()
    )
    assert en.properties["languages"] == ["en"] and en.footprint is not None
    banten = cap.parse_alert(
        (feeds(shared_data) / "cap/bmkg_nowcast_cap_id_CBT20260216004_alert.xml").read_bytes()
    )
    assert banten.properties["event_codes"] == {"OET": "OET-194"}
    assert banten.footprint is not None and len(banten.footprint.geoms) == 2
    jateng = cap.parse_alert(
        (feeds(shared_data) / "cap/bmkg_nowcast_cap_id_jateng_2026-02-16.xml").read_bytes()
    )
    assert jateng.footprint is None  # its one (trimmed) polygon is a straight line
    amber = cap.parse_alert(
        (feeds(shared_data) / "cap/oasis_example_amber_alert_cap12.xml").read_bytes()
    )
    assert amber.severity == "Severe" and amber.properties["languages"] == ["en-US", "es-US"]
    assert amber.time == datetime(2003, 6, 12, 5, 39, tzinfo=UTC)


def test_cap_update_and_cancel_references() -> None:
    body = b"""<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>B</identifier>
<sender>s@x</sender><sent>2026-01-01T01:00:00+07:00</sent><status>Actual</status>
<msgType>Cancel</msgType><scope>Public</scope>
<references>s@x,A,2026-01-01T00:00:00+07:00</references></alert>"""
    r = cap.parse_alert(body)
    assert r.msg_type == "Cancel" and r.references == ["A"]


def test_cap_index_feeds(shared_data: Path) -> None:
    rss = cap.parse_index(
        (feeds(shared_data) / "cap/bmkg_nowcast_rss_id_2026-09-24.xml").read_bytes()
    )
    assert len(rss) == 11
    assert rss[0].id == "2.49.0.1.360.0.2026.09.24.07.75.002"
    assert rss[0].link and rss[0].link.endswith("CGT20260924002_alert.xml")
    assert rss[0].updated == datetime(2026, 9, 24, 7, 7, tzinfo=UTC)
    assert (
        len(
            cap.parse_index(
                (feeds(shared_data) / "cap/bmkg_nowcast_rss_id_2026-02-16.xml").read_bytes()
            )
        )
        == 3
    )
    atom = cap.parse_index(
        (feeds(shared_data) / "cap/nws_atom_cap_index_feed_2018.xml").read_bytes()
    )
    assert len(atom) > 100
    assert (
        atom[0].summary["event"] == "High Wind Warning" and atom[0].summary["severity"] == "Severe"
    )


def test_xml_entities_are_refused() -> None:
    evil = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><alert>&x;</alert>'
    with pytest.raises(FeedParseError, match="entity"):
        cap.parse_alert(evil)


@pytest.mark.parametrize(
    ("name", "nlon", "nlat", "mag", "time", "lat", "lon"),
    [
        (
            "20131105060809_grid.xml",
            101,
            101,
            3.6,
            datetime(2013, 11, 4, 23, 8, 9, tzinfo=UTC),
            -2.43,
            140.62,
        ),
        (
            "20150918201057_grid.xml",
            101,
            100,
            2.5,
            datetime(2015, 9, 18, 13, 10, 57, tzinfo=UTC),
            -7.92,
            110.34,
        ),
        (
            "20161214005704_grid.xml",
            101,
            101,
            3.5,
            datetime(2016, 12, 13, 17, 57, 4, tzinfo=UTC),
            4.92,
            96.55,
        ),
        (
            "20180928170244_grid.xml",
            161,
            161,
            7.0,
            datetime(2018, 9, 28, 10, 2, 44, tzinfo=UTC),
            0.18,
            119.85,
        ),
        (
            "20190930000000_grid.xml",
            161,
            161,
            7.6,
            datetime(2019, 9, 29, 17, 0, tzinfo=UTC),
            -0.72,
            99.867,
        ),
    ],
)
def test_shakemap_grids(
    shared_data: Path,
    name: str,
    nlon: int,
    nlat: int,
    mag: float,
    time: datetime,
    lat: float,
    lon: float,
) -> None:
    data = (shared_data / "real/bmkg_shakemaps" / name).read_bytes()
    g = shakemap.parse(data)
    assert (g.nlon, g.nlat, g.magnitude, g.time, g.lat, g.lon) == (nlon, nlat, mag, time, lat, lon)
    assert g.mmi.shape == (nlat, nlon) and not np.isnan(g.mmi).any()
    # The first grid line of the file is the north-west point: it lands in cell (0, 0).
    first_line = data.split(b"<grid_data>")[1].split(b"\n", 2)[1].split()
    lon0, lat0, mmi0 = (
        float(first_line[0]),
        float(first_line[1]),
        float(first_line[g.fields.index("MMI")]),
    )
    assert g.mmi[0, 0] == pytest.approx(mmi0)
    assert g.transform @ (0.5, 0.5) == pytest.approx((lon0, lat0), abs=1e-3)
    assert g.bounds[0] < g.lon_min < g.lon_max < g.bounds[2]


def test_truncated_shakemap_is_an_error(shared_data: Path) -> None:
    data = (shared_data / "real/bmkg_shakemaps/20131105060809_grid.xml").read_bytes()
    cut = data[: len(data) // 2] + b"\n</grid_data></shakemap_grid>"
    with pytest.raises(FeedParseError, match="truncated"):
        shakemap.parse(cut)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Service Unavailable</body></html>",
        b'{"Infogempa": {"gempa": [{"Tang',
        b"null",
    ],
)
def test_bad_bodies_raise_parse_errors(body: bytes) -> None:
    for parse in (bmkg.parse, usgs.parse, gdacs.parse):
        with pytest.raises(FeedParseError):
            parse(body)


def test_non_numeric_shakemap_value_is_an_error(shared_data: Path) -> None:
    data = (shared_data / "real/bmkg_shakemaps/20131105060809_grid.xml").read_bytes()
    bad = data.replace(b"139.3950 -01.1813 0 0 1", b"139.3950 -01.1813 0 x 1", 1)
    with pytest.raises(FeedParseError, match="non-numeric"):
        shakemap.parse(bad)
