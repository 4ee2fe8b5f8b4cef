"""Benchmark: risk scores for a national set of desa after an earthquake's MMI is stored.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:55432/siaga \
        python bench/risk_national.py --communities 84000

Creates a scratch database (dropped afterwards) with N synthetic desa over Indonesia's
extent (Voronoi cells of random points clipped to five island-like ellipses), a uniform
population raster over the whole extent, and three M7.0 earthquakes (Padang, Yogyakarta,
Padang again 10 km away). For each, the worker's code path (`update_shaking`) estimates
the MMI raster, stores the layer and the per-desa MMI with its queued recompute job, which
it then runs as a worker does (`run_pending_jobs`).
The first event builds the coverage weights of every desa on the population grid (cold);
the next ones reuse them (warm), as a running worker does. Prints, per event, the seconds
from the stored MMI to the stored scores and their parts, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import Point, box
from sqlalchemy import create_engine, func, make_url, select, text

from bench.scratch import add_uniform_population, scratch_database
from service.db import make_session_factory
from service.feeds.models import HazardEvent
from service.feeds.shaking import update_shaking
from service.jobs import run_pending_jobs
from service.migrate import upgrade
from service.risk.jobs import register_handlers
from service.risk.models import RiskLayerState, RiskScore
from service.settings import DatabaseSettings, Settings, StorageSettings

EXTENT = (94.0, -11.5, 141.5, 6.5)  # Indonesia: west, south, east, north
# Island-like ellipses: centre lon, lat, half-axes (degrees), rotation (degrees).
ISLANDS = [
    (101.5, -0.5, 7.5, 1.6, -40),  # Sumatra
    (110.0, -7.3, 5.5, 0.7, -5),  # Java
    (114.0, 0.5, 4.5, 3.5, 0),  # Kalimantan
    (121.0, -2.0, 2.5, 2.0, 20),  # Sulawesi
    (137.0, -4.5, 4.5, 2.0, -15),  # Papua
]
EVENTS = [(100.30, -0.95, "Padang"), (110.40, -7.90, "Yogyakarta"), (100.25, -1.03, "Padang 2")]


def islands() -> shapely.Geometry:
    shapes = []
    for lon, lat, ax, ay, rot in ISLANDS:
        circle = Point(0, 0).buffer(1.0, 64)
        e = shapely.affinity.scale(circle, ax, ay)
        shapes.append(shapely.affinity.translate(shapely.affinity.rotate(e, rot), lon, lat))
    return shapely.union_all(shapes)


def make_desa(n: int, seed: int = 1) -> np.ndarray:
    """N Voronoi cells of random points on the islands, clipped to them (multipolygons)."""
    land = islands()
    rng = np.random.default_rng(seed)
    pts: list[np.ndarray] = []
    have = 0
    while have < n:
        cand = shapely.points(
            rng.uniform(EXTENT[0], EXTENT[2], 4 * n), rng.uniform(EXTENT[1], EXTENT[3], 4 * n)
        )
        cand = cand[shapely.contains_xy(land, *shapely.get_coordinates(cand).T)]
        pts.append(cand[: n - have])
        have += len(pts[-1])
    points = np.concatenate(pts)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(points), extend_to=box(*EXTENT))
    )
    shapely.prepare(land)
    cells = shapely.intersection(cells, land)
    cells = cells[~shapely.is_empty(cells)]
    return np.array(
        [g if g.geom_type == "MultiPolygon" else shapely.multipolygons([g]) for g in cells]
    )


def load_communities(url: str, geoms: np.ndarray) -> None:
    import psycopg

    areas = shapely.area(geoms) * 111.32**2  # km², good enough near the equator
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    cols = "code, name, level, population, area_km2, properties, geom"
    with (
        psycopg.connect(dsn) as conn,
        conn.cursor() as cur,
        cur.copy(f"COPY communities ({cols}) FROM STDIN") as copy,
    ):
        for i, (g, a) in enumerate(zip(geoms, areas, strict=True)):
            code = f"99.{i // 10000:02d}.{i // 100 % 100:02d}.{2000 + i % 100}"
            copy.write_row(
                (code, f"Desa {i}", "desa", 3000, round(float(a), 3), "{}", f"SRID=4326;{g.wkt}")
            )


def add_population(sf, data_dir: Path, res: float) -> None:
    add_uniform_population(sf, data_dir, EXTENT, res)


def add_event(sf, k: int, lon: float, lat: float, name: str) -> int:
    with sf() as s, s.begin():
        ev = HazardEvent(
            type="earthquake",
            title=f"M7.0 {name}",
            time=datetime.now(UTC),
            magnitude=7.0,
            depth_km=10.0,
            primary_source="bench",
            primary_source_id=f"bench-{k}",
            epicentre=from_shape(Point(lon, lat), srid=4326),
        )
        s.add(ev)
        s.flush()
        return ev.id


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(url: str, n: int, res: float, profile: str | None = None) -> None:
    upgrade(url)
    engine = create_engine(url, pool_size=4)
    sf = make_session_factory(engine)
    register_handlers()  # this process runs the recompute jobs the shaking queues
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            env="test",
            database=DatabaseSettings(url=url),
            storage=StorageSettings(data_dir=data_dir),
        )
        t = time.perf_counter()
        geoms = make_desa(n)
        load_communities(url, geoms)
        add_population(sf, data_dir, res)
        with sf() as s:
            s.execute(text("ANALYZE communities"))
        print(
            f"setup: {len(geoms)} desa (mean {shapely.get_num_coordinates(geoms).mean():.0f} "
            f"vertices), population grid {res}° over {EXTENT}, {time.perf_counter() - t:.1f} s"
        )
        for k, (lon, lat, name) in enumerate(EVENTS):
            event_id = add_event(sf, k, lon, lat, name)
            if profile and k == len(EVENTS) - 1:
                import cProfile

                prof = cProfile.Profile()
                r = update_shaking(session_factory=sf, settings=settings, event_id=event_id)
                t = time.perf_counter()
                prof.runcall(run_pending_jobs, sf, settings)
                prof.dump_stats(profile)
            else:
                r = update_shaking(session_factory=sf, settings=settings, event_id=event_id)
                t = time.perf_counter()
                run_pending_jobs(sf, settings)  # the recompute job the shaking queued
            recompute_s = time.perf_counter() - t
            with sf() as s:
                state = s.get(RiskLayerState, r.layer_id)
                timing = (state.summary or {}).get("timing", {}) if state else {}
                scored = s.scalar(
                    select(func.count())
                    .select_from(RiskScore)
                    .where(RiskScore.layer_id == r.layer_id)
                )
            parts = ", ".join(
                f"{k} {v}" for k, v in timing.items() if k.endswith("_s") or k == "weights_source"
            )
            print(
                f"event {k + 1} M7.0 {name}: MMI for {r.communities} desa stored in "
                f"{r.seconds:.2f} s; stored MMI -> {scored} risk scores "
                f"{recompute_s:.2f} s ({parts})"
            )
    print(f"peak RSS {peak_rss_mb():.0f} MB; load average {os.getloadavg()}")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--communities", type=int, default=84_000)
    ap.add_argument("--pop-res", type=float, default=0.01, help="population cell size, degrees")
    ap.add_argument("--profile", help="write cProfile stats of the last event to this file")
    args = ap.parse_args()
    with scratch_database("siaga_bench_risk") as url:
        run(url, args.communities, args.pop_res, args.profile)


if __name__ == "__main__":
    main()
