"""Raster I/O for exposure: windowed reads of the population grid, hazards warped onto it.

The population raster defines the grid every computation runs on. A hazard raster on
another grid (CRS, resolution or alignment) is resampled explicitly onto it, band by band,
with `rasterio.warp.reproject` reading the source through GDAL's chunked warper, so memory
stays bounded by the band size whatever the raster size:

* categorical hazard rasters (class codes) use nearest neighbour: codes must not be averaged;
* continuous intensities (flood depth, MMI, ash thickness, rainfall) use bilinear: a smooth
  field sampled at the population cell's centre, with no blockiness when the hazard grid is
  coarser (ShakeMap grids are ~1 km over 100 m population cells).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.enums import MaskFlags, Resampling
from rasterio.warp import reproject
from rasterio.windows import Window as RioWindow

from service.risk.exposure.bands import BandOperator, Scratch
from service.risk.exposure.grid import Grid, Window
from service.risk.exposure.weights import CoverageWeights

T = TypeVar("T")


def grid_of(path: Path) -> Grid:
    with rasterio.open(path) as ds:
        if ds.crs is None:
            raise ValueError(f"{path.name} has no CRS")
        return Grid.from_affine(ds.transform, ds.width, ds.height, ds.crs.to_wkt())


def read_band(
    ds: Any, window: Window, row0: int, nrows: int, scratch: Scratch | None = None
) -> NDArray[np.float64]:
    """Rows [row0, row0+nrows) of `window` from band 1, masked/nodata/non-finite cells as 0.

    `scratch` lends the raw read's buffers from band to band (the result is always new)."""
    win = RioWindow(window.col_off, window.row_off + row0, window.width, nrows)
    flags = set(ds.mask_flag_enums[0])
    if flags <= {MaskFlags.nodata, MaskFlags.all_valid} and _fits(ds.nodata, ds.dtypes[0]):
        # The mask is only the nodata value (or none): compare values instead of building a
        # masked array (half the time of a national band read). Cleaned in the raster's own
        # type before widening: a float32 band is half the bytes.
        work = scratch or Scratch()
        shape = (nrows, window.width)
        raw = ds.read(1, window=win, out=work.array("raw", shape, ds.dtypes[0]))
        bad = work.array("bad", shape, np.bool_)
        if raw.dtype.kind == "f":
            np.isfinite(raw, out=bad)
            np.logical_not(bad, out=bad)
        else:
            bad.fill(False)
        if MaskFlags.nodata in flags and ds.nodata is not None and not np.isnan(ds.nodata):
            equal = work.array("equal", shape, np.bool_)
            np.equal(raw, raw.dtype.type(ds.nodata), out=equal)
            bad |= equal
        out = raw.astype(np.float64)
        np.copyto(out, 0.0, where=bad)
        return out
    arr = ds.read(1, window=win, masked=True).astype(np.float64)
    out = np.ma.filled(arr, 0.0)
    out[~np.isfinite(out)] = 0.0
    return out


def _fits(nodata: float | None, dtype: str) -> bool:
    """Whether the nodata value is one the band's type can hold (else GDAL's mask decides)."""
    if nodata is None or np.isnan(nodata) or np.issubdtype(np.dtype(dtype), np.floating):
        return True
    info = np.iinfo(np.dtype(dtype))
    return bool(info.min <= nodata <= info.max and float(nodata).is_integer())


def resampling_for(scheme: dict[str, Any]) -> Resampling:
    return Resampling.nearest if scheme.get("type") == "categorical" else Resampling.bilinear


def warp_band(
    src: Any,
    grid: Grid,
    window: Window,
    row0: int,
    nrows: int,
    resampling: Resampling,
) -> NDArray[np.float64]:
    """Band 1 of `src` on rows [row0, row0+nrows) of `window` in `grid`; no data = nan."""
    dst = np.full((nrows, window.width), np.nan, dtype=np.float64)
    a, _, c, _, e, f = grid.transform
    transform = Affine(a, 0.0, c + window.col_off * a, 0.0, e, f + (window.row_off + row0) * e)
    same = (
        src.crs is not None
        and src.crs.to_wkt() == grid.crs
        and np.allclose(tuple(src.transform)[:6], grid.transform, rtol=0, atol=1e-12)
    )
    if same:
        win = RioWindow(window.col_off, window.row_off + row0, window.width, nrows)
        arr = src.read(1, window=win, masked=True).astype(np.float64)
        return np.ma.filled(arr, np.nan)
    src_nodata = src.nodata
    reproject(
        source=rasterio.band(src, 1),
        destination=dst,
        src_nodata=src_nodata,
        dst_transform=transform,
        dst_crs=grid.crs,
        dst_nodata=np.nan,
        resampling=resampling,
    )
    if src_nodata is not None and not np.isnan(src_nodata):
        dst[dst == src_nodata] = np.nan
    return dst


def read_ahead(reads: Iterable[Callable[[], T]]) -> Iterator[T]:
    """The result of each read in turn, the next read running in a thread meanwhile.

    GDAL and numpy release the GIL, so reading band k + 1 overlaps summing band k: the
    warm national sum is about as much reading as summing. One reader thread, so a dataset
    is never used by two threads at once; at most two bands wait besides the one in use.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="siaga-band-read") as reader:
        pending: Future[T] | None = None
        for read in reads:
            following = reader.submit(read)
            if pending is not None:
                yield pending.result()
            pending = following
        if pending is not None:
            yield pending.result()


# GDAL's block cache for band reads. Its default (5 % of RAM) filled with tiles a band-by-band
# pass never reads again: 1.2 GB of a national sum's peak memory. This holds three rows of
# 512-cell tiles of a 40,000-cell-wide float32 raster, so consecutive bands share tiles.
BAND_READ_CACHE_BYTES = 256 * 2**20


def iter_population_bands(
    weights: CoverageWeights, population_path: Path
) -> Iterator[tuple[BandOperator, NDArray[np.float64]]]:
    with (
        rasterio.Env(GDAL_CACHEMAX=BAND_READ_CACHE_BYTES),
        rasterio.open(population_path) as pop,
    ):
        ops = weights.bands()
        scratch = Scratch()  # used by the reader thread alone
        reads = (partial(read_band, pop, weights.window, op.row0, op.nrows, scratch) for op in ops)
        yield from zip(ops, read_ahead(reads), strict=True)


def hazard_window(grid: Grid, hazard_path: Path) -> Window:
    """The cells of `grid` the hazard raster's footprint reaches (one cell of margin).

    Outside it the warped hazard is nodata, which adds nothing to any class, maximum or
    mean: exposure computed on this window alone equals exposure on the whole grid.
    """
    from rasterio.warp import transform_bounds

    with rasterio.open(hazard_path) as haz:
        if haz.crs is None:
            raise ValueError(f"hazard raster {hazard_path.name} has no CRS")
        left, bottom, right, top = transform_bounds(haz.crs, grid.crs, *haz.bounds, densify_pts=21)
    a, _, c, _, e, f = grid.transform
    c0, c1 = sorted(((left - c) / a, (right - c) / a))
    r0, r1 = sorted(((top - f) / e, (bottom - f) / e))
    col0 = min(max(0, int(np.floor(c0)) - 1), grid.width)
    row0 = min(max(0, int(np.floor(r0)) - 1), grid.height)
    col1 = max(min(grid.width, int(np.ceil(c1)) + 1), col0)
    row1 = max(min(grid.height, int(np.ceil(r1)) + 1), row0)
    return Window(row0, col0, row1 - row0, col1 - col0)


def iter_hazard_bands(
    weights: CoverageWeights,
    population_path: Path,
    hazard_path: Path,
    scheme: dict[str, Any],
    rows: tuple[int, int] | None = None,
) -> Iterator[tuple[BandOperator, NDArray[np.float64], NDArray[np.float64]]]:
    """(operator, population, hazard on the population grid) for the bands in `rows`."""
    resampling = resampling_for(scheme)
    first, stop = rows if rows is not None else (0, weights.window.height)
    with ExitStack() as stack:
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=BAND_READ_CACHE_BYTES))
        pop = stack.enter_context(rasterio.open(population_path))
        haz = stack.enter_context(rasterio.open(hazard_path))
        if haz.crs is None:
            raise ValueError(f"hazard raster {hazard_path.name} has no CRS")
        # Only the bands in `rows`: the hazard does not reach the others.
        ops = [op for op in weights.bands() if op.row0 < stop and op.row0 + op.nrows > first]

        scratch = Scratch()  # used by the reader thread alone

        def read(op: BandOperator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            p = read_band(pop, weights.window, op.row0, op.nrows, scratch)
            h = warp_band(haz, weights.grid, weights.window, op.row0, op.nrows, resampling)
            return p, h

        for op, (p, h) in zip(ops, read_ahead(partial(read, op) for op in ops), strict=True):
            yield op, p, h
