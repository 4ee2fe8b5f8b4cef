"""Parser speed on the real samples in ../shared/data (no database, no network).

    python bench/feeds_parsers.py [--repeat 20]

Prints, per sample, the median parse time and reports per second, so a regression in a
parser (e.g. the ShakeMap grid reader) shows up as a ratio against the previous run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.feeds.parsers import bmkg, cap, gdacs, shakemap, usgs  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CASES = [
    ("feeds/bmkg/gempaterkini_2023-07-12.json", bmkg.parse),
    ("feeds/bmkg/autogempa_2021-10-04.xml", bmkg.parse),
    ("feeds/usgs/usgs_summary_4.5_week_2020.geojson", usgs.parse),
    ("feeds/gdacs/gdacs_rss_24h_2019-12-30.xml", gdacs.parse),
    ("feeds/gdacs/gdacs_api_eventsbyarea_pakistan_2026-10.json", gdacs.parse),
    ("feeds/cap/bmkg_nowcast_cap_id_CGT20260924002_alert.xml", cap.parse_alert),
    ("feeds/cap/nws_atom_cap_index_feed_2018.xml", cap.parse_index),
    ("real/bmkg_shakemaps/20180928170244_grid.xml", shakemap.parse),
    ("real/bmkg_shakemaps/20190930000000_grid.xml", shakemap.parse),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found: the shared data folder must sit beside the project")
    print(f"{'sample':60} {'KiB':>7} {'median ms':>10} {'items':>6}")
    for name, parse in CASES:
        body = (DATA / name).read_bytes()
        times = []
        result = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            result = parse(body)  # type: ignore[operator]
            times.append(time.perf_counter() - t0)
        items = len(result) if isinstance(result, list) else 1
        ms = statistics.median(times) * 1000
        print(f"{name:60} {len(body) / 1024:7.0f} {ms:10.2f} {items:6d}")


if __name__ == "__main__":
    main()
