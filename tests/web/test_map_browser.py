"""End to end in headless Chromium: the map loads its tiles, a click opens the risk card.

Debian's /usr/bin/chromium driven by Playwright (never a downloaded browser), against a real
uvicorn server on loopback with real scores from the risk domain. Saves a screenshot under
test-output/ and checks its pixels: the communities must be painted in at least two risk
colours.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from geoalchemy2.shape import from_shape
from playwright.sync_api import Browser, Page, sync_playwright
from shapely.geometry import Point
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from service.alerts.drills import create_drill
from service.alerts.models import AlertGroup, Member
from service.alerts.schemas import DrillIn
from service.communities.models import Community
from service.feeds.models import HazardEvent
from service.risk import cache
from service.risk.models import RiskScore
from service.settings import Settings
from service.shelters.models import Shelter
from tests.conftest import LiveServer
from tests.web.mapdata import MapData, build_map_data

# Chromium driven by Playwright against a live server: outside the fast loop (-m 'not slow').
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
# As the machine notes advise: no sandbox as root, no GPU (SwiftShader renders WebGL), and no
# background traffic to the closed network.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LEVEL_RGB = {
    "tinggi": (0xD7, 0x30, 0x1F),
    "sedang": (0xFC, 0x8D, 0x59),
    "rendah": (0xFE, 0xE0, 0x8B),
}
BACKGROUND_RGB = (0xDF, 0xE8, 0xEF)
FILL_OPACITY = 0.8
MEMBER_NAME = "Sri Handayani Uji"


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def map_data(session_factory: sessionmaker[Session], settings: Settings) -> Iterator[MapData]:
    cache.clear_memory()  # ids restart per test: cached weights must not be reused
    yield build_map_data(session_factory, settings)
    cache.clear_memory()


def _current_levels(factory: sessionmaker[Session], hazard: str) -> dict[str, str]:
    with factory() as s:
        rows = s.execute(
            select(Community.code, RiskScore.level)
            .join(RiskScore, RiskScore.community_id == Community.id)
            .where(RiskScore.hazard == hazard, RiskScore.superseded_at.is_(None))
        ).all()
    return {code: level for code, level in rows}


def _seed_drill(
    factory: sessionmaker[Session], settings: Settings, code: str, where: tuple[float, float]
) -> None:
    """An active drill alert to the community, its assembly point, and an earthquake event of
    an hour ago."""
    with factory() as s, s.begin():
        s.add(HazardEvent(
            type="earthquake", status="active", title="Gempa M4.8 uji", magnitude=4.8,
            depth_km=10, time=datetime.now(UTC) - timedelta(hours=1), primary_source="bmkg",
            primary_source_id="uji-1", revision=1, properties={}, raw={},
            epicentre=from_shape(Point(*where), srid=4326),
        ))  # fmt: skip
        group = AlertGroup(name="Destana Uji", community_codes=[code], sender_name="BPBD Sleman")
        s.add(group)
        s.flush()
        s.add(Member(group_id=group.id, name=MEMBER_NAME, phone="+6281298765432", role="ketua"))
        s.flush()
        community = s.scalar(select(Community).where(Community.code == code))
        assert community is not None
        s.add(Shelter(
            community_id=community.id, name="Lapangan Uji", kind="titik_kumpul", capacity=300,
            geom=from_shape(Point(*where), srid=4326),
        ))  # fmt: skip
        create_drill(
            session=s,
            settings=settings,
            group_id=group.id,
            data=DrillIn(hazard="volcano", level=3, community_code=code),
            now=datetime.now(UTC),
        )


def _colour_counts(page: Page, png: bytes) -> dict[str, int]:
    """Pixels of each level's colour (blended over the map background), counted by Chromium."""
    expected = {
        level: [
            round(FILL_OPACITY * c + (1 - FILL_OPACITY) * b)
            for c, b in zip(rgb, BACKGROUND_RGB, strict=True)
        ]
        for level, rgb in LEVEL_RGB.items()
    }
    page.set_content("<canvas id=c></canvas>")
    counts: dict[str, int] = page.evaluate(
        """async ([src, expected]) => {
            const img = new Image();
            img.src = src;
            await img.decode();
            const c = document.getElementById('c');
            c.width = img.width; c.height = img.height;
            const ctx = c.getContext('2d');
            ctx.drawImage(img, 0, 0);
            const d = ctx.getImageData(0, 0, c.width, c.height).data;
            const out = {};
            for (const k of Object.keys(expected)) out[k] = 0;
            for (let i = 0; i < d.length; i += 4) {
                for (const [k, rgb] of Object.entries(expected)) {
                    if (Math.abs(d[i] - rgb[0]) < 8 && Math.abs(d[i+1] - rgb[1]) < 8
                        && Math.abs(d[i+2] - rgb[2]) < 8) { out[k]++; break; }
                }
            }
            return out;
        }""",
        ["data:image/png;base64," + base64.b64encode(png).decode(), expected],
    )
    return counts


def test_map_tiles_click_and_risk_card(
    browser: Browser,
    live_server: LiveServer,
    map_data: MapData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    auth_headers: Callable[[str], dict[str, str]],
    output_dir: Path,
) -> None:
    levels = _current_levels(session_factory, "volcano")
    assert {"tinggi", "sedang"} <= set(levels.values()), levels  # the data has contrast
    target = next(c for c in map_data.codes if levels.get(c) == "tinggi")
    index = map_data.codes.index(target)
    _seed_drill(session_factory, settings, target, map_data.centres[0])
    token = auth_headers("responder")["Authorization"].removeprefix("Bearer ")

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")

    # Bahasa Indonesia by default; the map fits the communities' extent and loads tiles.
    assert page.inner_text("h1") == "Siaga – Peta Risiko"
    # Predicates as functions: the page's CSP forbids eval of strings.
    page.wait_for_function("() => window.siaga && window.siaga.map.loaded()", timeout=30_000)
    page.wait_for_selector("body[data-tiles-loaded=true]", timeout=30_000)

    # The drill and the event come from the OGC collections as overlays.
    page.wait_for_function(
        "() => window.siaga.state.overlayCounts.alerts >= 1"
        " && window.siaga.state.overlayCounts.events >= 1"
        " && window.siaga.state.overlayCounts.shelters >= 1",
        timeout=15_000,
    )
    page.select_option("#hazard", "volcano")
    page.wait_for_function(
        "(n) => window.siaga.state.tilesLoaded && window.siaga.state.renderedCount === n",
        arg=len(map_data.codes),
        timeout=30_000,
    )
    rendered: dict[str, Any] = page.evaluate(
        """() => {
            const out = {};
            for (const f of window.siaga.map.queryRenderedFeatures({layers: ['risk-fill']}))
                out[f.properties.code] = f.properties.level;
            return out;
        }"""
    )
    assert rendered == levels  # every community, each in its current volcano level

    # Click the community through the map canvas, as a responder would.
    lon, lat = map_data.centres[index]
    point = page.evaluate("([lon, lat]) => window.siaga.map.project([lon, lat])", [lon, lat])
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_selector("#risk-level", timeout=15_000)
    assert page.inner_text("#card-name") == map_data.names[index]
    badge = page.locator("#risk-level")
    assert badge.get_attribute("data-level") == "tinggi"
    assert badge.inner_text() == "Tinggi"
    panel = page.text_content("#panel") or ""
    for words in (
        "Keterpaparan per kelas",
        "KRB III",
        "Sumber data",
        "krb_uji v1",
        "pop_uji v1",
        "Riwayat skor",
        "Masuk dengan kunci API",
    ):
        assert words in panel, (words, panel[:2000])
    assert page.locator("#panel svg.history circle").count() >= 1

    # English on request, the same card.
    page.click(".lang button[data-lang=en]")
    assert page.inner_text("#risk-level") == "High"
    assert "Exposure by class" in (page.text_content("#panel") or "")

    # Signed in as a responder: the community's alert deliveries with recipients' names.
    page.fill("#api-key", token)
    page.click("#signin-button")
    page.wait_for_selector("#deliveries table.deliveries", timeout=15_000)
    deliveries = page.inner_text("#deliveries")
    assert MEMBER_NAME in deliveries and "whatsapp" in deliveries.lower() + "whatsapp"
    assert "Signed in as test-responder (responder)" in page.inner_text("#who")

    page.click(".lang button[data-lang=id]")
    # The click also opened the drill alert's popup (its area is the community): close it
    # for an unobstructed picture.
    page.evaluate("() => document.querySelectorAll('.maplibregl-popup').forEach(p => p.remove())")
    shot = output_dir / "map_risk_card.png"
    png = page.screenshot(path=str(shot))
    assert not errors, errors
    # Every asset came from Siaga itself: no CDN, no outside host.
    outside = [u for u in requests if not u.startswith((live_server.url, "data:", "blob:"))]
    assert not outside, outside
    assert any("/static/vendor/maplibre-gl.js" in u for u in requests)
    assert any("/tiles/risk/" in u and "hazard=volcano" in u for u in requests)

    counts = _colour_counts(browser.new_page(), png)
    painted = [level for level, n in counts.items() if n > 2000]
    assert len(painted) >= 2, counts


def _name_places(factory: sessionmaker[Session], codes: list[str]) -> None:
    """Put the test desa in two kecamatan of one kabupaten, as Kepmendagri files do."""
    with factory() as s, s.begin():
        for k, code in enumerate(codes):
            district = ("34.04.01", "Cangkringan") if k % 2 == 0 else ("34.04.02", "Pakem")
            s.execute(
                update(Community)
                .where(Community.code == code)
                .values(
                    district_code=district[0],
                    district_name=district[1],
                    regency_code="34.04",
                    regency_name="Kabupaten Sleman",
                )
            )


def test_map_search_labels_and_card_in_both_languages(
    browser: Browser,
    live_server: LiveServer,
    map_data: MapData,
    session_factory: sessionmaker[Session],
    settings: Settings,
    auth_headers: Callable[[str], dict[str, str]],
    output_dir: Path,
) -> None:
    _name_places(session_factory, map_data.codes)
    target, name = map_data.codes[1], map_data.names[1]
    _seed_drill(session_factory, settings, target, map_data.centres[1])
    token = auth_headers("responder")["Authorization"].removeprefix("Bearer ")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    page.wait_for_function("() => window.siaga && window.siaga.map.loaded()", timeout=30_000)
    page.wait_for_selector("body[data-tiles-loaded=true]", timeout=30_000)

    # First view: the scored communities fill the map (no basemap, no network needed).
    first = page.evaluate(
        """() => { const b = window.siaga.map.getBounds();
                   return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"""
    )
    west, south, east, north = map_data.bounds
    assert first[0] <= west and first[1] <= south and first[2] >= east and first[3] >= north
    assert (first[2] - first[0]) < 4 * (east - west)  # fitted to them, not to all Indonesia
    # Kecamatan outlines and their labels, drawn from the loaded communities.
    page.wait_for_function("() => window.siaga.map.getLayer('district-line')", timeout=15_000)
    page.wait_for_function(
        "() => Number(document.body.getAttribute('data-labels')) > 0", timeout=15_000
    )
    labels = page.locator(".map-label").all_inner_texts()
    assert {"Cangkringan", "Pakem"} & set(labels) or "Kabupaten Sleman" in labels, labels

    # Search a kecamatan, then a desa: the map zooms, the desa's card opens.
    page.fill("#search", "pakem")
    page.wait_for_selector("#search-results li .kind", timeout=10_000)
    rows = page.locator("#search-results li").all_inner_texts()
    assert any("Pakem" in r and "Kabupaten Sleman" in r for r in rows), rows
    page.fill("#search", name)
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('#search-results li')]"
        ".some(li => li.textContent.includes(n))",
        arg=name,
        timeout=10_000,
    )
    page.locator("#search-results li", has_text=name).first.click()
    page.wait_for_selector("#risk-level", timeout=15_000)
    assert page.inner_text("#card-name") == name
    assert "Kecamatan Pakem" in page.inner_text("#card-place")
    page.select_option("#hazard", "volcano")
    page.wait_for_selector("#hvc", timeout=15_000)
    panel = page.text_content("#panel") or ""
    for words in ("Penduduk miskin", "Tim siaga bencana desa", "%", "Data penduduk"):
        assert words in panel, (words, panel[:1500])
    for english in ("share poor", "has task force", "share_poor"):
        assert english not in panel

    # Signed in: the drill is marked LATIHAN, statuses are in Bahasa Indonesia.
    page.fill("#api-key", token)
    page.click("#signin-button")
    page.wait_for_selector("#deliveries table.deliveries", timeout=15_000)
    assert page.locator("#deliveries .tag.drill").inner_text() == "LATIHAN"
    cell = page.locator("#deliveries td[data-status]").first
    status = cell.get_attribute("data-status")
    bahasa = {
        "enqueued": "antre",
        "pending": "antre",
        "queued": "antre",
        "sending": "sedang dikirim",
        "sent": "terkirim ke operator",
        "accepted": "diterima operator",
        "delivered": "sampai",
        "read": "dibaca",
        "failed": "gagal",
    }
    assert status in bahasa and cell.inner_text().startswith(bahasa[status]), status
    page.evaluate("() => document.querySelectorAll('.maplibregl-popup').forEach(p => p.remove())")
    page.screenshot(path=str(output_dir / "map_id.png"))

    page.click(".lang button[data-lang=en]")
    panel_en = page.text_content("#panel") or ""
    for words in ("People in poverty", "Village disaster task force", "Population data"):
        assert words in panel_en, (words, panel_en[:1500])
    assert page.locator("#deliveries .tag.drill").inner_text() == "DRILL"
    assert (
        page.get_attribute("#search", "placeholder") == "Find a village, district, regency or code"
    )
    page.screenshot(path=str(output_dir / "map_en.png"))

    # The last view is remembered across a reload.
    page.evaluate("() => window.siaga.map.jumpTo({center: [110.41, -7.61], zoom: 13.5})")
    page.wait_for_timeout(300)
    page.reload()
    page.wait_for_function("() => window.siaga && window.siaga.map.loaded()", timeout=30_000)
    centre = page.evaluate("() => window.siaga.map.getCenter().toArray()")
    zoom = page.evaluate("() => window.siaga.map.getZoom()")
    assert centre == pytest.approx([110.41, -7.61], abs=1e-4) and zoom == pytest.approx(13.5)
    assert not errors, errors
