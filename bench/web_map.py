"""Benchmark: the responders' map with 10,000 communities in headless Chromium.

    python bench/web_map.py [--cols 100] [--rows 100]

Creates a scratch database on the server named by DATABASE_URL (default: the embedded one),
builds cols x rows desa with real risk scores (the risk domain's recompute over KRB rings and
flood bands with a population raster), serves the app on loopback and opens the map in
Debian's Chromium: prints the time until every visible community is drawn, the tile requests
and bytes, and the time to redraw after a hazard switch and after zooming in. The scratch
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from service.db import make_session_factory  # noqa: E402
from service.main import create_app  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.settings import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DatabaseSettings,
    Settings,
    StorageSettings,
)
from tests.conftest import LiveServer  # noqa: E402
from tests.web.mapdata import build_map_data  # noqa: E402
from tests.web.test_map_browser import CHROMIUM, LAUNCH_ARGS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--rows", type=int, default=100)
    args = ap.parse_args()
    base = make_url(
        DatabaseSettings(url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL).url
    )
    name = f"siaga_bench_map_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    data_dir = Path(tempfile.mkdtemp())
    try:
        upgrade(url)
        engine = create_engine(url, pool_size=10)
        settings = Settings(
            env="test",
            database=DatabaseSettings(url=url),
            storage=StorageSettings(data_dir=data_dir),
        )
        t0 = time.perf_counter()
        data = build_map_data(
            make_session_factory(engine), settings, cols=args.cols, rows=args.rows, step=0.01
        )
        n = len(data.codes)
        print(f"built {n} communities with scores in {time.perf_counter() - t0:.1f} s")
        app = create_app(settings, engine=engine)
        with LiveServer(app) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            tiles: list[int] = []
            page.on(
                "response", lambda r: tiles.append(len(r.body())) if "/tiles/" in r.url else None
            )
            t0 = time.perf_counter()
            page.goto(server.url + "/")
            page.wait_for_function("() => window.siaga.state.tilesLoaded", timeout=120_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_function("() => window.siaga.map.loaded()", timeout=120_000)
            first = time.perf_counter() - t0
            zoom = page.evaluate("() => window.siaga.map.getZoom()")
            drawn = page.evaluate("() => window.siaga.state.renderedCount")
            hazard = page.evaluate("() => window.siaga.state.hazard")
            with engine.connect() as conn:
                scored = conn.execute(
                    text(
                        "SELECT count(DISTINCT community_id) FROM risk_scores "
                        "WHERE hazard = :h AND superseded_at IS NULL"
                    ),
                    {"h": hazard},
                ).scalar()
            # The risk tiles carry the communities scored for the hazard; others are absent.
            print(
                f"first view (zoom {zoom:.1f}, {hazard}): {drawn} drawn of {scored} scored "
                f"({n} communities) in {first:.2f} s, {len(tiles)} tiles, "
                f"{sum(tiles) / 1024:.0f} KiB"
            )
            for label, action in (
                ("hazard switch to volcano", "() => window.siaga.setHazard('volcano')"),
                (
                    "zoom in x4",
                    "() => window.siaga.map.zoomTo(window.siaga.map.getZoom() + 2, {duration: 0})",
                ),
            ):
                before = len(tiles)
                t0 = time.perf_counter()
                page.evaluate(action)
                page.wait_for_function(
                    "() => window.siaga.state.tilesLoaded && window.siaga.map.loaded()",
                    timeout=120_000,
                )
                page.wait_for_load_state("networkidle")
                took = time.perf_counter() - t0
                drawn = page.evaluate("() => window.siaga.state.renderedCount")
                print(f"{label}: {drawn} drawn in {took:.2f} s ({len(tiles) - before} tiles)")
            page.screenshot(path=str(ROOT / "test-output" / "bench_map_10k.png"))
            # One tile at the first view's zoom, straight from the server (no browser).
            z = int(zoom)
            x = int((data.centres[0][0] + 180) / 360 * 2**z)
            lat = math.radians(data.centres[0][1])
            y = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * 2**z)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                r = httpx.get(f"{server.url}/tiles/risk/{z}/{x}/{y}.pbf?hazard=volcano", timeout=60)
                times.append(time.perf_counter() - t0)
            print(
                f"tile {z}/{x}/{y} (volcano): {len(r.content) / 1024:.0f} KiB, "
                f"median {sorted(times)[2] * 1000:.0f} ms over 5"
            )
            browser.close()
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
