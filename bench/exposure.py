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
from service.risk.exposure import Grid, coverage_weights, polygon_sums


def make_polygons(
    n_cells: int, n_polys: int, res: float, x0: float, y0: float, seed: int
) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    extent = n_cells * res
    pts = shapely.points(
        rng.uniform(x0, x0 + extent, n_polys), rng.uniform(y0 - extent, y0, n_polys)
    )
    box = shapely.box(x0, y0 - extent, x0 + extent, y0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box))
    cells = shapely.segmentize(shapely.intersection(cells, box), res * 3)
    return gpd.GeoDataFrame({"id": np.arange(len(cells))}, geometry=cells, crs="EPSG:4326")


def write_raster(path: Path, n: int, transform: Affine, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        nodata=-1,
    ) as ds:
        step = 1024
        for r in range(0, n, step):
            h = min(step, n - r)
            ds.write(
                rng.gamma(2.0, 10.0, size=(h, n)).astype("float32"),
                1,
                window=rasterio.windows.Window(0, r, n, h),
            )


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
    args = ap.parse_args()
    res, x0, y0 = 0.001, 110.0, -6.0
    transform = Affine(res, 0, x0, 0, -res, y0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t = time.perf_counter()
        gdf = make_polygons(args.size, args.polygons, res, x0, y0, seed=1)
        write_raster(d / "pop_a.tif", args.size, transform, seed=2)
        write_raster(d / "pop_b.tif", args.size, transform, seed=3)
        gen = time.perf_counter() - t
        verts = shapely.get_num_coordinates(gdf.geometry.values).mean()
        print(
            f"data: {args.size}x{args.size} cells ({args.size**2 / 1e6:.0f} M), "
            f"{len(gdf)} polygons "
            f"(mean {verts:.0f} vertices), generated in {gen:.1f} s"
        )
        grid = Grid.from_affine(transform, args.size, args.size, "EPSG:4326")
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


if __name__ == "__main__":
    main()
