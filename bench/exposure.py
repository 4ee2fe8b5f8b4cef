"""Benchmark: Siaga's coverage-weighted zonal sums against exactextract and rasterstats.

    pip install -e '.[bench]'
    python bench/exposure.py                # 8000 x 8000 cells, 10,000 polygons
    python bench/exposure.py --size 2000 --polygons 1000   # a quick look

Synthetic data: a gamma-distributed population raster (tiled GeoTIFF) and irregular polygons
(Voronoi cells of random points, boundaries densified every ~3 cells, clipped to the raster)
that tile the raster. Prints the time of

* Siaga cold: build the coverage weights from the polygons and sum the raster (read in bands);
* Siaga warm: a new raster on the same grid, summed with the cached weights;
* exactextract `sum` (coverage-weighted, the accuracy reference) and rasterstats `sum`
  (cell centres), with ratios, the accuracy of Siaga against each, and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd
import rasterio
import shapely
from affine import Affine

from service.risk import rasters
from service.risk.exposure.grid import Grid
from service.risk.exposure.scanline import coverage_weights
from service.risk.exposure.sums import polygon_sums


def make_polygons(
    width: int, height: int, n_polys: int, res: float, x0: float, y0: float, seed: int
) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    ex, ey = width * res, height * res
    pts = shapely.points(rng.uniform(x0, x0 + ex, n_polys), rng.uniform(y0 - ey, y0, n_polys))
    box = shapely.box(x0, y0 - ey, x0 + ex, y0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box))
    cells = shapely.segmentize(shapely.intersection(cells, box), res * 3)
    return gpd.GeoDataFrame({"id": np.arange(len(cells))}, geometry=cells, crs="EPSG:4326")


def write_raster(path: Path, width: int, height: int, transform: Affine, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        nodata=-1,
    ) as ds:
        step = 512
        for r in range(0, height, step):
            h = min(step, height - r)
            ds.write(
                rng.gamma(2.0, 10.0, size=(h, width)).astype("float32"),
                1,
                window=rasterio.windows.Window(0, r, width, h),
            )


def raster_total(path: Path) -> float:
    total = 0.0
    with rasterio.open(path) as ds:
        for _, win in ds.block_windows(1):
            total += float(ds.read(1, window=win).sum(dtype=np.float64))
    return total


def siaga_sums(weights, path: Path) -> np.ndarray:
    return polygon_sums(weights, rasters.iter_population_bands(weights, path))


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    mask = np.abs(b) > 0
    return float(np.max(np.abs(a[mask] - b[mask]) / np.abs(b[mask]))) if mask.any() else 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", type=int, default=8000, help="raster width = height in cells")
    ap.add_argument("--polygons", type=int, default=10_000)
    ap.add_argument("--skip-rasterstats", action="store_true")
    ap.add_argument(
        "--national",
        action="store_true",
        help="84,000 polygons on 40,000 x 16,000 cells (Indonesia at ~130 m); Siaga only",
    )
    args = ap.parse_args()
    if args.national:
        national()
        return
    res, x0, y0 = 0.001, 110.0, -6.0
    n = args.size
    transform = Affine(res, 0, x0, 0, -res, y0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        gdf = make_polygons(n, n, args.polygons, res, x0, y0, seed=1)
        write_raster(d / "pop_a.tif", n, n, transform, seed=2)
        write_raster(d / "pop_b.tif", n, n, transform, seed=3)
        gen = time.perf_counter() - t
        verts = shapely.get_num_coordinates(gdf.geometry.values).mean()
        print(
            f"data: {n}x{n} cells ({n**2 / 1e6:.0f} M), {len(gdf)} polygons "
            f"(mean {verts:.0f} vertices), generated in {gen:.1f} s"
        )
        grid = Grid.from_affine(transform, n, n, "EPSG:4326")
        geoms = np.asarray(gdf.geometry.values)

        tracemalloc.start()
        t = time.perf_counter()
        weights = coverage_weights(geoms, grid)
        t_weights = time.perf_counter() - t
        cold_a = siaga_sums(weights, d / "pop_a.tif")
        cold = time.perf_counter() - t
        t = time.perf_counter()
        warm_b = siaga_sums(weights, d / "pop_b.tif")
        warm = time.perf_counter() - t
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_siaga = peak_rss_mb()
        t = time.perf_counter()
        centre = coverage_weights(geoms, grid, method="centre")
        centre_a = siaga_sums(centre, d / "pop_a.tif")
        t_centre = time.perf_counter() - t

        from exactextract import exact_extract

        t = time.perf_counter()
        ee_a = exact_extract(str(d / "pop_a.tif"), gdf, ["sum"], output="pandas")["sum"].to_numpy()
        t_ee = time.perf_counter() - t
        ee_b = exact_extract(str(d / "pop_b.tif"), gdf, ["sum"], output="pandas")["sum"].to_numpy()

        t_rs = float("nan")
        rs_a = None
        if not args.skip_rasterstats:
            from rasterstats import zonal_stats

            t = time.perf_counter()
            rs = zonal_stats(gdf, str(d / "pop_a.tif"), stats=["sum"], nodata=-1)
            t_rs = time.perf_counter() - t
            rs_a = np.array([r["sum"] or 0.0 for r in rs])

    print()
    print(f"{'':34}{'seconds':>10}{'vs exactextract':>18}")
    print(f"{'Siaga cold (weights + sum)':34}{cold:10.2f}{t_ee / cold:17.1f}x")
    print(f"{'  of which weights':34}{t_weights:10.2f}")
    print(f"{'Siaga warm (new raster, same grid)':34}{warm:10.2f}{t_ee / warm:17.1f}x")
    print(f"{'Siaga centre method (cold)':34}{t_centre:10.2f}{t_ee / t_centre:17.1f}x")
    print(f"{'exactextract sum':34}{t_ee:10.2f}{1.0:17.1f}x")
    if rs_a is not None:
        print(f"{'rasterstats sum (cell centres)':34}{t_rs:10.2f}{t_ee / t_rs:17.1f}x")
    print()
    print(
        "accuracy, coverage vs exactextract: max relative error "
        f"cold {rel_error(cold_a, ee_a):.1e}, "
        f"warm {rel_error(warm_b, ee_b):.1e} (target 1e-6)"
    )
    if rs_a is not None:
        print(
            f"accuracy, centre vs rasterstats: max relative error {rel_error(centre_a, rs_a):.1e}"
        )
    print(f"conservation: sum over polygons {cold_a.sum():.6e} vs exactextract {ee_a.sum():.6e}")
    print(
        f"memory: weights {weights.nbytes() / 1e6:.0f} MB; Python-heap peak during Siaga runs "
        f"{traced_peak / 1e6:.0f} MB; process peak RSS after Siaga runs {rss_siaga:.0f} MB, "
        f"after all {peak_rss_mb():.0f} MB"
    )
    print(
        f"targets: warm >= 5x faster than exactextract: {'yes' if t_ee / warm >= 5 else 'NO'}; "
        f"cold no slower than exactextract: {'yes' if cold <= t_ee else 'NO'}"
    )


def national(width: int = 40_000, height: int = 16_000, polygons: int = 84_000) -> None:
    """Cold and warm sums at national scale, checked by conservation (the polygons tile the
    raster, so their sums must add up to the raster's total); exactextract is not run."""
    res, x0, y0 = 0.0012, 94.0, 6.5
    transform = Affine(res, 0, x0, 0, -res, y0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        gdf = make_polygons(width, height, polygons, res, x0, y0, seed=1)
        write_raster(d / "pop_a.tif", width, height, transform, seed=2)
        write_raster(d / "pop_b.tif", width, height, transform, seed=3)
        verts = shapely.get_num_coordinates(gdf.geometry.values).mean()
        print(
            f"data: {width}x{height} cells ({width * height / 1e6:.0f} M), {len(gdf)} polygons "
            f"(mean {verts:.0f} vertices), generated in {time.perf_counter() - t:.1f} s"
        )
        grid = Grid.from_affine(transform, width, height, "EPSG:4326")
        geoms = np.asarray(gdf.geometry.values)
        del gdf
        rss_before = peak_rss_mb()
        t = time.perf_counter()
        weights = coverage_weights(geoms, grid)
        t_weights = time.perf_counter() - t
        cold_a = siaga_sums(weights, d / "pop_a.tif")
        cold = time.perf_counter() - t
        t = time.perf_counter()
        warm_b = siaga_sums(weights, d / "pop_b.tif")
        warm = time.perf_counter() - t
        rss = peak_rss_mb()
        total_a, total_b = raster_total(d / "pop_a.tif"), raster_total(d / "pop_b.tif")
    print()
    print(f"{'':34}{'seconds':>10}{'target':>10}")
    print(f"{'Siaga cold (weights + sum)':34}{cold:10.1f}{'<= 120':>10}")
    print(f"{'  of which weights':34}{t_weights:10.1f}")
    print(f"{'Siaga warm (new raster, same grid)':34}{warm:10.1f}{'<= 15':>10}")
    print(
        f"conservation: cold {cold_a.sum():.9e} vs raster {total_a:.9e} "
        f"(rel {abs(cold_a.sum() - total_a) / total_a:.1e}), "
        f"warm {warm_b.sum():.9e} vs {total_b:.9e} "
        f"(rel {abs(warm_b.sum() - total_b) / total_b:.1e})"
    )
    print(
        f"memory: weights {weights.nbytes() / 1e6:.0f} MB; peak RSS {rss:.0f} MB "
        f"(before the weights {rss_before:.0f} MB; target <= 4096 MB)"
    )
    print(
        f"targets: cold {'yes' if cold <= 120 else 'NO'}, warm {'yes' if warm <= 15 else 'NO'}, "
        f"RSS {'yes' if rss <= 4096 else 'NO'}; load average {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
