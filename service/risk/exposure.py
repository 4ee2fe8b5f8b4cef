"""Exposure: cell-coverage weights of polygons on a raster grid, and the sums they give.

Pure computation: arrays and shapely geometries in, arrays out; no file or database I/O.

Coverage weights (community x cell -> fraction of the cell inside the polygon) are computed
for every polygon at once, vectorised, with the signed-area scanline method font rasterisers
use: each polygon edge is split where it crosses grid lines; a piece lying in cell (i, j)
adds `dr * (j + 1 - c_mid)` to that cell and `dr` to every cell right of it in row i. Summed
over a closed ring this is the exact area of the polygon inside each cell (Green's theorem),
the same quantity exactextract computes. The constant "every cell right of it" part is
kept as runs, so a polygon costs memory in proportion to its boundary, not its area:

    W = B + R · S

`B` holds the fractional boundary cells, `R` holds +1/-1 at the ends of each run of wholly
covered cells, and `S` is the row-wise cumulative sum of the values. A recompute on a new
raster of the same grid is one sparse product per band of rows (`BandOperator.sums`).

The `centre` method counts a cell wholly where its centre falls (InaSAFE, rasterstats):
the same scanline, evaluated at the row centres, gives only runs.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import shapely
from affine import Affine
from numpy.typing import NDArray

Method = Literal["coverage", "centre"]
METHODS: tuple[str, ...] = ("coverage", "centre")
_TINY = 1e-12


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: affine transform (no rotation), width, height, CRS as WKT/string."""

    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int
    crs: str = ""

    @classmethod
    def from_affine(cls, transform: Affine, width: int, height: int, crs: str = "") -> Grid:
        a, b, c, d, e, f = transform[:6]
        if b != 0 or d != 0:
            raise ValueError(
                "rotated rasters are not supported: warp the raster to a north-up grid"
            )
        return cls((a, b, c, d, e, f), int(width), int(height), crs)

    @property
    def affine(self) -> Affine:
        return Affine(*self.transform)

    def key(self) -> str:
        text = repr(
            (tuple(round(v, 12) for v in self.transform), self.width, self.height, self.crs)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Window:
    """Rows and columns of the grid the weights cover (the polygons' bounding box)."""

    row_off: int
    col_off: int
    height: int
    width: int


@dataclass
class CoverageWeights:
    """Per-polygon weights on one grid, as boundary cells plus runs of whole cells.

    Indices are relative to `window`. `partial_*` are fractional cells, `run_*` are
    half-open column ranges [run_start, run_stop) of row `run_row` with weight `run_value`.
    """

    n: int
    grid: Grid
    window: Window
    method: str
    partial_poly: NDArray[np.int64]
    partial_row: NDArray[np.int64]
    partial_col: NDArray[np.int64]
    partial_value: NDArray[np.float64]
    run_poly: NDArray[np.int64]
    run_row: NDArray[np.int64]
    run_start: NDArray[np.int64]
    run_stop: NDArray[np.int64]
    run_value: NDArray[np.float64]
    _bands: dict[int, list[BandOperator]] = field(default_factory=dict, repr=False)

    # -- sparse operators --------------------------------------------------------------
    def bands(self, max_cells: int = 4_000_000) -> list[BandOperator]:
        """The weights cut into bands of rows, each a pair of CSR operators (cached)."""
        if max_cells not in self._bands:
            self._bands[max_cells] = _make_bands(self, max_cells)
        return self._bands[max_cells]

    def to_csr(self) -> sp.csr_array:
        """The explicit polygon x cell matrix over the window (cells row-major in the window).

        Memory grows with polygon area: meant for small sets and for checking.
        """
        w = self.window.width
        lengths = self.run_stop - self.run_start
        poly = np.repeat(self.run_poly, lengths)
        cols = _repeat_ranges(self.run_row * w + self.run_start, lengths)
        vals = np.repeat(self.run_value, lengths)
        m = sp.coo_array(
            (
                np.concatenate([vals, self.partial_value]),
                (
                    np.concatenate([poly, self.partial_poly]),
                    np.concatenate([cols, self.partial_row * w + self.partial_col]),
                ),
            ),
            shape=(self.n, self.window.height * w),
        )
        return m.tocsr()

    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.partial_poly,
                self.partial_row,
                self.partial_col,
                self.partial_value,
                self.run_poly,
                self.run_row,
                self.run_start,
                self.run_stop,
                self.run_value,
            )
        )

    def subset(self, polys: NDArray[np.int64], window: Window | None = None) -> CoverageWeights:
        """The weights of polygons `polys` (ascending indices) on the cells of `window`.

        `window` is in grid rows/cols (as `self.window`) and is cut to `self.window`; None
        means the bounding window of the chosen polygons' cells. The
        result's polygon k is `polys[k]`; cells outside the window are dropped (runs are
        cut at its edges), so sums over it equal the full sums of values that are zero
        outside it, e.g. a hazard raster's footprint. A subset is cheap (a few numpy
        passes over the entries): an event's layer reuses the grid's cached weights.
        """
        polys = np.asarray(polys, dtype=np.int64)
        if window is None:
            window = self._bounding_window(polys)
        r0 = max(window.row_off, self.window.row_off)
        c0 = max(window.col_off, self.window.col_off)
        r1 = min(window.row_off + window.height, self.window.row_off + self.window.height)
        c1 = min(window.col_off + window.width, self.window.col_off + self.window.width)
        win = Window(r0, c0, max(r1 - r0, 0), max(c1 - c0, 0))
        # Offsets of the new window inside the old one.
        dr, dc = r0 - self.window.row_off, c0 - self.window.col_off
        new_index = np.full(self.n + 1, -1, dtype=np.int64)
        new_index[polys] = np.arange(len(polys))
        p_new = new_index[self.partial_poly]
        pk = (
            (p_new >= 0)
            & (self.partial_row >= dr)
            & (self.partial_row < dr + win.height)
            & (self.partial_col >= dc)
            & (self.partial_col < dc + win.width)
        )
        r_new = new_index[self.run_poly]
        start = np.maximum(self.run_start, dc)
        stop = np.minimum(self.run_stop, dc + win.width)
        rk = (r_new >= 0) & (self.run_row >= dr) & (self.run_row < dr + win.height) & (stop > start)
        return CoverageWeights(
            n=len(polys),
            grid=self.grid,
            window=win,
            method=self.method,
            partial_poly=p_new[pk],
            partial_row=self.partial_row[pk] - dr,
            partial_col=self.partial_col[pk] - dc,
            partial_value=self.partial_value[pk],
            run_poly=r_new[rk],
            run_row=self.run_row[rk] - dr,
            run_start=start[rk] - dc,
            run_stop=stop[rk] - dc,
            run_value=self.run_value[rk],
        )

    def _bounding_window(self, polys: NDArray[np.int64]) -> Window:
        chosen = np.zeros(self.n + 1, dtype=bool)
        chosen[polys] = True
        pk, rk = chosen[self.partial_poly], chosen[self.run_poly]
        rows = np.concatenate([self.partial_row[pk], self.run_row[rk]])
        if len(rows) == 0:
            return Window(self.window.row_off, self.window.col_off, 0, 0)
        c0 = min(
            self.partial_col[pk].min(initial=self.window.width),
            self.run_start[rk].min(initial=self.window.width),
        )
        c1 = max(self.partial_col[pk].max(initial=-1) + 1, self.run_stop[rk].max(initial=0))
        return Window(
            self.window.row_off + int(rows.min()),
            self.window.col_off + int(c0),
            int(rows.max() - rows.min() + 1),
            int(c1 - c0),
        )

    # -- persistence (arrays only; the caller decides where) ----------------------------
    def to_arrays(self) -> dict[str, Any]:
        return {
            "n": np.int64(self.n),
            "transform": np.array(self.grid.transform),
            "shape": np.array([self.grid.height, self.grid.width]),
            "crs": np.array(self.grid.crs),
            "window": np.array(
                [self.window.row_off, self.window.col_off, self.window.height, self.window.width]
            ),
            "method": np.array(self.method),
            "partial_poly": self.partial_poly,
            "partial_row": self.partial_row,
            "partial_col": self.partial_col,
            "partial_value": self.partial_value,
            "run_poly": self.run_poly,
            "run_row": self.run_row,
            "run_start": self.run_start,
            "run_stop": self.run_stop,
            "run_value": self.run_value,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, Any]) -> CoverageWeights:
        h, w = (int(v) for v in a["shape"])
        grid = Grid(tuple(float(v) for v in a["transform"]), w, h, str(a["crs"]))  # type: ignore[arg-type]
        win = Window(*(int(v) for v in a["window"]))
        return cls(
            n=int(a["n"]),
            grid=grid,
            window=win,
            method=str(a["method"]),
            partial_poly=a["partial_poly"],
            partial_row=a["partial_row"],
            partial_col=a["partial_col"],
            partial_value=a["partial_value"],
            run_poly=a["run_poly"],
            run_row=a["run_row"],
            run_start=a["run_start"],
            run_stop=a["run_stop"],
            run_value=a["run_value"],
        )


@dataclass
class BandOperator:
    """Rows [row0, row0 + nrows) of the window: W_band = B + R · S (see module docstring)."""

    row0: int
    nrows: int
    width: int
    boundary: sp.csr_array  # n x (nrows * width)
    runs: sp.csr_array  # n x (nrows * (width + 1)), applied to row-wise cumulative sums
    # For maxima: the entries themselves, band-relative flat cell indices (int32 or int64).
    partial_poly: NDArray[np.integer[Any]]
    partial_cell: NDArray[np.integer[Any]]
    run_poly: NDArray[np.integer[Any]]
    run_first: NDArray[np.integer[Any]]
    run_end: NDArray[np.integer[Any]]

    def sums(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Σ weight x value per polygon; values (nrows, width) or (nrows, width, m), nodata = 0."""
        squeeze = values.ndim == 2
        v = values[..., None] if squeeze else values
        nb, w, m = v.shape
        if (nb, w) != (self.nrows, self.width):
            raise ValueError(
                f"values of shape {(nb, w)} do not fit the band {(self.nrows, self.width)}"
            )
        v = v.astype(np.float64, copy=False)
        out = self.boundary @ v.reshape(nb * w, m)
        s = np.zeros((nb, w + 1, m))
        np.cumsum(v, axis=1, out=s[:, 1:, :])
        out += self.runs @ s.reshape(nb * (w + 1), m)
        return out[:, 0] if squeeze else out

    def maxima(self, values: NDArray[np.float64], n: int) -> NDArray[np.float64]:
        """Max of values (nan = none) over the cells each polygon touches; -inf where none."""
        out = np.full(n, -np.inf)
        flat = np.where(np.isnan(values), -np.inf, values).ravel()
        if len(self.partial_poly):
            np.maximum.at(out, self.partial_poly, flat[self.partial_cell])
        if len(self.run_poly):
            padded = np.r_[flat, -np.inf]
            idx = np.empty(2 * len(self.run_poly), np.int64)
            idx[0::2] = self.run_first
            idx[1::2] = self.run_end
            # reduceat over interleaved (first, end) pairs: even outputs are the run maxima.
            runmax = np.maximum.reduceat(padded, idx)[0::2]
            np.maximum.at(out, self.run_poly, runmax)
        return out


def _csr(
    vals: NDArray[np.float64],
    rows: NDArray[np.int64],
    cols: NDArray[np.int64],
    shape: tuple[int, int],
) -> sp.csr_array:
    """A CSR matrix straight from entries sorted by row (duplicates allowed: products sum them)."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    idx = np.int32 if shape[1] < 2**31 - 1 and len(vals) < 2**31 - 1 else np.int64
    return sp.csr_array((vals, cols.astype(idx), indptr.astype(idx)), shape=shape)


def _make_bands(wt: CoverageWeights, max_cells: int) -> list[BandOperator]:
    w = wt.window.width
    spans = row_bands(wt.window.height, w, max_cells=max_cells)
    rows_per = spans[0][1] if spans else 1
    # Entries are sorted by polygon; a stable sort by band keeps that order inside each band.
    pb = wt.partial_row // rows_per
    rb = wt.run_row // rows_per
    po = np.argsort(pb, kind="stable")
    ro = np.argsort(rb, kind="stable")
    pcut = np.searchsorted(pb[po], np.arange(len(spans) + 1))
    rcut = np.searchsorted(rb[ro], np.arange(len(spans) + 1))
    out = []
    for k, (row0, nrows) in enumerate(spans):
        ps = po[pcut[k] : pcut[k + 1]]
        rs = ro[rcut[k] : rcut[k + 1]]
        p_poly = wt.partial_poly[ps]
        p_cell = (wt.partial_row[ps] - row0) * w + wt.partial_col[ps]
        r_poly = wt.run_poly[rs]
        r_row = wt.run_row[rs] - row0
        r_start, r_stop, r_val = wt.run_start[rs], wt.run_stop[rs], wt.run_value[rs]
        boundary = _csr(wt.partial_value[ps], p_poly, p_cell, (wt.n, nrows * w))
        # Interleave (+v at stop, -v at start) per run so rows stay sorted by polygon.
        rr = np.repeat(r_poly, 2)
        rc = np.empty(2 * len(rs), np.int64)
        rc[0::2] = r_row * (w + 1) + r_stop
        rc[1::2] = r_row * (w + 1) + r_start
        rv = np.empty(2 * len(rs))
        rv[0::2] = r_val
        rv[1::2] = -r_val
        runs = _csr(rv, rr, rc, (wt.n, nrows * (w + 1)))
        # The entries again for maxima, as int32 (a band has < 2**31 cells): memory matters
        # for a national grid (tens of millions of entries).
        idx = np.int32 if wt.n < 2**31 and nrows * w < 2**31 else np.int64
        out.append(
            BandOperator(
                row0,
                nrows,
                w,
                boundary,
                runs,
                p_poly.astype(idx),
                p_cell.astype(idx),
                r_poly.astype(idx),
                (r_row * w + r_start).astype(idx),
                (r_row * w + r_stop).astype(idx),
            )
        )
    return out


# ----------------------------------------------------------------------------------------
# Building the weights
# ----------------------------------------------------------------------------------------


def polygon_window(geoms: NDArray[Any], grid: Grid) -> Window | None:
    """The rows/cols of `grid` covering the polygons' bounding box, clipped to the raster."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) == 0:
        return None
    bounds = shapely.bounds(geoms)
    xmin, ymin = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
    xmax, ymax = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
    a, _, c, _, e, f = grid.transform
    c0, r0 = (xmin - c) / a, (ymax - f) / e
    c1, r1 = (xmax - c) / a, (ymin - f) / e
    cmin, cmax = sorted((c0, c1))
    rmin, rmax = sorted((r0, r1))
    col_off = max(0, int(np.floor(cmin)))
    row_off = max(0, int(np.floor(rmin)))
    col_end = min(grid.width, int(np.ceil(cmax)))
    row_end = min(grid.height, int(np.ceil(rmax)))
    if col_end <= col_off or row_end <= row_off:
        return None
    return Window(row_off, col_off, row_end - row_off, col_end - col_off)


def _edges(geoms: NDArray[Any], grid: Grid, window: Window) -> tuple[NDArray[Any], ...]:
    """Every ring edge of every polygon in window-relative (col, row) space, with its polygon."""
    parts, part_geom = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == 3  # polygons only (collections may hold lines/points)
    parts, part_geom = parts[keep], part_geom[keep]
    # Exterior counter-clockwise, holes clockwise: the signed sums then add up to the area.
    parts = shapely.orient_polygons(parts, exterior_cw=False)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    a, _, c, _, e, f = grid.transform
    col = (coords[:, 0] - c) / a - window.col_off
    row = (coords[:, 1] - f) / e - window.row_off
    same = coord_ring[1:] == coord_ring[:-1]
    poly = part_geom[ring_part[coord_ring[:-1][same]]]
    return col[:-1][same], row[:-1][same], col[1:][same], row[1:][same], poly


def _orientation_sign(grid: Grid) -> float:
    # Counter-clockwise rings in (x, y) traced in (col, row) space: a north-up grid
    # (e < 0) flips the y axis twice over (rows grow downwards, carry runs rightwards).
    a, _, _, _, e, _ = grid.transform
    return 1.0 if (a * e) < 0 else -1.0


def _count_between(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.int64]:
    """How many integers k satisfy lo < k < hi."""
    n = np.ceil(hi) - np.floor(lo) - 1
    return np.maximum(n, 0).astype(np.int64)


def _repeat_ranges(start: NDArray[np.int64], count: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate arange(start[i], start[i] + count[i]) for all i, without a Python loop."""
    total = int(count.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(count) - count
    return np.repeat(start - offsets, count) + np.arange(total)


def _split_at_lines(
    u1: NDArray[np.float64],
    v1: NDArray[np.float64],
    u2: NDArray[np.float64],
    v2: NDArray[np.float64],
    owner: NDArray[np.int64],
) -> tuple[NDArray[Any], ...]:
    """Split segments where u crosses an integer. Piece order is irrelevant to the sums."""
    lo, hi = np.minimum(u1, u2), np.maximum(u1, u2)
    n = _count_between(lo, hi)
    cross = n > 0
    if not cross.any():
        return u1, v1, u2, v2, owner
    # Segments that cross nothing pass through untouched; the rest become n + 1 pieces.
    su1, sv1, su2, sv2, sown, sn = (
        u1[cross],
        v1[cross],
        u2[cross],
        v2[cross],
        owner[cross],
        n[cross],
    )
    up = su2 >= su1
    first = np.where(up, np.floor(np.minimum(su1, su2)) + 1, np.ceil(np.maximum(su1, su2)) - 1)
    step = np.where(up, 1.0, -1.0)
    seg = np.repeat(np.arange(len(su1)), sn)
    offs = np.cumsum(sn) - sn
    k = first[seg] + step[seg] * (np.arange(len(seg)) - offs[seg])
    du, dv = su2 - su1, sv2 - sv1
    kv = sv1[seg] + (k - su1[seg]) / du[seg] * dv[seg]
    # Piece starts: the segment start, then each crossing; ends: each crossing, then the end.
    is_first = np.zeros(len(seg), bool)
    is_first[offs] = True
    is_last = np.zeros(len(seg), bool)
    is_last[offs + sn - 1] = True
    start_u = np.concatenate([su1, k])
    start_v = np.concatenate([sv1, kv])
    end_u = np.concatenate([k[is_first], np.where(is_last, su2[seg], np.roll(k, -1))])
    end_v = np.concatenate([kv[is_first], np.where(is_last, sv2[seg], np.roll(kv, -1))])
    own = np.concatenate([sown, sown[seg]])
    keep = ~cross
    return (
        np.concatenate([u1[keep], start_u]),
        np.concatenate([v1[keep], start_v]),
        np.concatenate([u2[keep], end_u]),
        np.concatenate([v2[keep], end_v]),
        np.concatenate([owner[keep], own]),
    )


def _coverage_entries(
    c1: NDArray[np.float64],
    r1: NDArray[np.float64],
    c2: NDArray[np.float64],
    r2: NDArray[np.float64],
    poly: NDArray[np.int64],
    window: Window,
) -> tuple[NDArray[Any], ...]:
    """Split edges at grid lines; each piece lies in one cell: (poly, row, col, area, dr)."""
    # Edges wholly above or below the window, and horizontal ones, add nothing.
    rlo, rhi = np.minimum(r1, r2), np.maximum(r1, r2)
    keep = (rhi > 0) & (rlo < window.height) & (r1 != r2)
    r1, c1, r2, c2, poly = _split_at_lines(r1[keep], c1[keep], r2[keep], c2[keep], poly[keep])
    c1, r1, c2, r2, poly = _split_at_lines(c1, r1, c2, r2, poly)
    dr = r2 - r1
    cm = 0.5 * (c1 + c2)
    i = np.floor(0.5 * (r1 + r2)).astype(np.int64)
    j = np.floor(cm).astype(np.int64)
    ok = (dr != 0) & (i >= 0) & (i < window.height) & (j < window.width)
    i, j, cm, dr, p = i[ok], j[ok], cm[ok], dr[ok], poly[ok]
    area = dr * (j + 1 - cm)
    # Pieces left of the window add nothing to its cells but carry into all of them.
    left = j < 0
    area[left] = 0.0
    j[left] = -1
    return p, i, j, area, dr


def _centre_entries(
    c1: NDArray[np.float64],
    r1: NDArray[np.float64],
    c2: NDArray[np.float64],
    r2: NDArray[np.float64],
    poly: NDArray[np.int64],
    window: Window,
) -> tuple[NDArray[Any], ...]:
    """Crossings of edges with the row-centre lines: (poly, row, first col right of it, sign)."""
    rlo, rhi = np.minimum(r1, r2), np.maximum(r1, r2)
    keep = (rhi > 0) & (rlo < window.height) & (r1 != r2)
    c1, r1, c2, r2, poly = c1[keep], r1[keep], c2[keep], r2[keep], poly[keep]
    rlo, rhi = rlo[keep], rhi[keep]
    # Row i's centre line r = i + 0.5 is crossed when lo <= i + 0.5 < hi (half-open: a
    # vertex on the line is counted once).
    first = np.ceil(rlo - 0.5).astype(np.int64)
    count = np.maximum(np.ceil(rhi - 0.5).astype(np.int64) - first, 0)
    e = np.repeat(np.arange(len(c1)), count)
    i = _repeat_ranges(first, count)
    ok = (i >= 0) & (i < window.height)
    e, i = e[ok], i[ok]
    cx = c1[e] + (i + 0.5 - r1[e]) * (c2 - c1)[e] / (r2 - r1)[e]
    j0 = np.floor(cx - 0.5).astype(np.int64) + 1
    j0 = np.clip(j0, -1, window.width)
    sign = np.sign(r2 - r1)[e]
    return poly[e], i, j0, np.zeros(len(e)), sign


def _assemble(
    n: int,
    grid: Grid,
    window: Window,
    method: str,
    p: NDArray[np.int64],
    i: NDArray[np.int64],
    j: NDArray[np.int64],
    area: NDArray[np.float64],
    carry: NDArray[np.float64],
    sign: float,
) -> CoverageWeights:
    """Sum pieces per cell, then walk each (polygon, row) left to right accumulating carry."""
    w1 = window.width + 2  # columns -1 .. width
    key = (p * window.height + i) * w1 + (j + 1)
    order = np.argsort(key)
    key = key[order]
    area, carry = area[order], carry[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.empty(0, np.int64)
    key = key[starts]
    area = np.add.reduceat(area, starts) if len(starts) else area[:0]
    carry = np.add.reduceat(carry, starts) if len(starts) else carry[:0]
    group = key // w1
    col = key % w1 - 1
    gp, gi = group // window.height, group % window.height
    # Carry accumulated before each cell within its (polygon, row) group.
    csum = np.cumsum(carry)
    gstart = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else group[:0]
    glen = np.diff(np.r_[gstart, len(group)])
    base = np.repeat(csum[gstart] - carry[gstart], glen)
    after = csum - base  # carry including this cell
    before = after - carry

    if method == "coverage":
        val = sign * (area + before)
        pk = (col >= 0) & (np.abs(val) > _TINY)
        partial = (gp[pk], gi[pk], col[pk], val[pk])
        # Cells between boundary cells take the carry: an integer winding number where the
        # row is crossed fully, a fraction where a horizontal edge lies inside the row.
        snapped = np.rint(after)
        run_value = sign * np.where(np.abs(after - snapped) < 1e-9, snapped, after)
        run_value[np.abs(run_value) < _TINY] = 0.0
    else:
        partial = (gp[:0], gi[:0], col[:0], np.zeros(0))
        run_value = (np.rint(after) != 0).astype(np.float64)
    # Runs: the cells after each entry up to the next entry of the group (or the window edge).
    last = np.r_[group[1:] != group[:-1], True] if len(group) else np.zeros(0, bool)
    nxt = np.r_[col[1:], 0] if len(col) else col
    stop = np.where(last, window.width, nxt)
    start = col + 1 if method == "coverage" else np.maximum(col, 0)
    stop = np.minimum(stop, window.width)
    rk = (stop > start) & (run_value != 0)
    # Indices as int32 while every product of them (flat cell indices in the window, polygon
    # numbers) stays below 2**31: a national set of weights then takes a third less memory.
    small = max(n, (window.height + 1) * (window.width + 2)) < 2**31
    idx = np.int32 if small else np.int64
    return CoverageWeights(
        n=n,
        grid=grid,
        window=window,
        method=method,
        partial_poly=partial[0].astype(idx),
        partial_row=partial[1].astype(idx),
        partial_col=partial[2].astype(idx),
        partial_value=partial[3].astype(np.float64),
        run_poly=gp[rk].astype(idx),
        run_row=gi[rk].astype(idx),
        run_start=start[rk].astype(idx),
        run_stop=stop[rk].astype(idx),
        run_value=run_value[rk],
    )


def coverage_weights(
    geoms: Sequence[Any] | NDArray[Any],
    grid: Grid,
    *,
    method: str = "coverage",
    window: Window | None = None,
    chunk_vertices: int = 250_000,
) -> CoverageWeights:
    """Weights of each polygon (in the grid's CRS) on every cell of `grid`.

    `coverage`: the fraction of each cell inside the polygon (exact area, as exactextract);
    `centre`: 1 for cells whose centre is inside the polygon, else 0 (as InaSAFE/rasterstats).
    """
    if method not in METHODS:
        raise ValueError(f"unknown exposure method {method!r}; use one of {', '.join(METHODS)}")
    arr = np.asarray(geoms, dtype=object)
    n = len(arr)
    window = window or polygon_window(arr, grid) or Window(0, 0, 0, 0)
    empty = np.zeros(0, np.int64)
    if n == 0 or window.height == 0 or window.width == 0:
        z = np.zeros(0)
        return CoverageWeights(
            n, grid, window, method, empty, empty, empty, z, empty, empty, empty, empty, z
        )
    split = _coverage_entries if method == "coverage" else _centre_entries
    sign = _orientation_sign(grid)
    parts = []
    # Polygons in chunks of about `chunk_vertices` vertices: temporary arrays stay bounded
    # (a national set of ~84,000 desa would otherwise need tens of GB at once).
    for lo, hi in _chunks(shapely.get_num_coordinates(arr), chunk_vertices):
        c1, r1, c2, r2, poly = _edges(arr[lo:hi], grid, window)
        p, i, j, area, carry = split(c1, r1, c2, r2, poly + lo, window)
        parts.append(_assemble(n, grid, window, method, p, i, j, area, carry, sign=sign))
    if len(parts) == 1:
        return parts[0]

    def cat(name: str) -> NDArray[Any]:
        out = np.concatenate([getattr(w, name) for w in parts])
        for w in parts:  # free each chunk's copy at once: peak memory ~ weights + 1 field
            setattr(w, name, None)
        return out

    return CoverageWeights(
        n=n,
        grid=grid,
        window=window,
        method=method,
        partial_poly=cat("partial_poly"),
        partial_row=cat("partial_row"),
        partial_col=cat("partial_col"),
        partial_value=cat("partial_value"),
        run_poly=cat("run_poly"),
        run_row=cat("run_row"),
        run_start=cat("run_start"),
        run_stop=cat("run_stop"),
        run_value=cat("run_value"),
    )


def _chunks(vertices: NDArray[np.int64], budget: int) -> list[tuple[int, int]]:
    """[lo, hi) index ranges whose vertex counts add up to about `budget` each."""
    if len(vertices) == 0:
        return [(0, 0)]
    cum = np.cumsum(vertices)
    cuts = [0]
    while cuts[-1] < len(vertices):
        target = (cum[cuts[-1] - 1] if cuts[-1] else 0) + budget
        nxt = int(np.searchsorted(cum, target, side="right"))
        cuts.append(max(nxt, cuts[-1] + 1))
    return list(itertools.pairwise(cuts))


# ----------------------------------------------------------------------------------------
# Sums over bands of rows
# ----------------------------------------------------------------------------------------


def row_bands(height: int, width: int, *, max_cells: int = 4_000_000) -> list[tuple[int, int]]:
    """Split `height` rows into bands of at most ~max_cells cells: [(row0, nrows), ...]."""
    rows = max(1, max_cells // max(width, 1))
    return [(r, min(rows, height - r)) for r in range(0, height, rows)]


# ----------------------------------------------------------------------------------------
# Hazard classification and exposure per class
# ----------------------------------------------------------------------------------------


def cell_areas_m2(grid: Grid, window: Window) -> NDArray[np.float64]:
    """Area in m² of one cell in each row of the window (geodesic for geographic grids)."""
    a, _, c, _, e, f = grid.transform
    if not _is_geographic(grid.crs):
        return np.full(window.height, abs(a * e))
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    rows = np.arange(window.row_off, window.row_off + window.height)
    y_top = f + rows * e
    y_bot = y_top + e
    x0 = c + window.col_off * a
    out = np.empty(window.height)
    for k, (yt, yb) in enumerate(zip(y_top, y_bot, strict=True)):
        area, _ = geod.polygon_area_perimeter([x0, x0 + a, x0 + a, x0], [yb, yb, yt, yt])
        out[k] = abs(area)
    return out


def _is_geographic(crs: str) -> bool:
    if not crs:
        return True
    from pyproj import CRS

    return bool(CRS.from_user_input(crs).is_geographic)


def _bound(cls: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        if cls.get(k) is not None:
            return float(cls[k])
    return None


def _codes(cls: dict[str, Any]) -> list[float]:
    """Numeric raster codes a categorical class answers to (value, name or aliases)."""
    out = []
    for v in [cls.get("value"), cls.get("name"), *(cls.get("aliases") or [])]:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            continue
    return out


def classify_values(values: NDArray[np.float64], scheme: dict[str, Any]) -> NDArray[np.int16]:
    """Class index per cell from a scheme dict (service.hazards.schemes); -1 = none/nodata.

    Threshold classes cover [lower, upper) (`min`/`max` are accepted too); categorical
    rasters hold class codes matched against each class's value, name or aliases.
    """
    classes = scheme.get("classes") or []
    out = np.full(values.shape, -1, dtype=np.int16)
    finite = np.isfinite(values)
    if scheme.get("type") == "categorical":
        for k, cls in enumerate(classes):
            for code in _codes(cls):
                out[finite & (values == code)] = k
        return out
    for k, cls in enumerate(classes):
        lo = _bound(cls, "lower", "min")
        hi = _bound(cls, "upper", "max")
        sel = finite.copy()
        if lo is not None:
            sel &= values >= lo
        if hi is not None:
            sel &= values < hi
        out[sel] = k
    return out


@dataclass
class RasterExposure:
    """Exposure of each polygon to one hazard raster, per hazard class."""

    classes: list[str]
    population: NDArray[np.float64]  # (n,) population inside the polygon
    area_m2: NDArray[np.float64]  # (n,) area of the polygon inside the raster
    population_by_class: NDArray[np.float64]  # (n, K)
    area_by_class_m2: NDArray[np.float64]  # (n, K)
    max_intensity: NDArray[np.float64]  # (n,) nan where no hazard cell
    mean_intensity: NDArray[np.float64]  # (n,) population-weighted over hazard cells


Band = tuple["BandOperator", NDArray[np.float64], NDArray[np.float64]]


def raster_exposure(
    weights: CoverageWeights,
    bands: Iterable[Band],
    scheme: dict[str, Any],
    *,
    cell_area_rows: NDArray[np.float64],
    on_band: Callable[[int, int], None] | None = None,
) -> RasterExposure:
    """Exposure per class from (band operator, population, hazard) triples covering the window.

    Population nodata must be 0; hazard nodata nan. The hazard must already be on the
    population grid (see `service.risk.rasters`).
    """
    names = [str(c.get("name")) for c in scheme.get("classes") or []]
    k = len(names)
    n = weights.n
    totals = np.zeros((n, 2 * k + 4))
    vmax = np.full(n, -np.inf)
    for op, pop, haz in bands:
        row0 = op.row0
        nb, w = pop.shape
        cls = classify_values(haz, scheme)
        area = np.broadcast_to(cell_area_rows[row0 : row0 + nb, None], (nb, w))
        stack = np.zeros((nb, w, 2 * k + 4))
        for c in range(k):
            hit = cls == c
            stack[..., c] = np.where(hit, pop, 0.0)
            stack[..., k + c] = np.where(hit, area, 0.0)
        present = cls >= 0
        stack[..., 2 * k] = pop
        stack[..., 2 * k + 1] = area
        stack[..., 2 * k + 2] = np.where(present, pop * np.nan_to_num(haz), 0.0)
        stack[..., 2 * k + 3] = np.where(present, pop, 0.0)
        totals += op.sums(stack)
        vmax = np.maximum(vmax, op.maxima(np.where(present, haz, np.nan), n))
        if on_band is not None:
            on_band(row0 + nb, weights.window.height)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = totals[:, 2 * k + 2] / totals[:, 2 * k + 3]
    return RasterExposure(
        classes=names,
        population=totals[:, 2 * k],
        area_m2=totals[:, 2 * k + 1],
        population_by_class=totals[:, :k],
        area_by_class_m2=totals[:, k : 2 * k],
        max_intensity=np.where(np.isfinite(vmax), vmax, np.nan),
        mean_intensity=np.where(totals[:, 2 * k + 3] > 0, mean, np.nan),
    )


def polygon_sums(
    weights: CoverageWeights,
    bands: Iterable[tuple[BandOperator, NDArray[np.float64]]],
) -> NDArray[np.float64]:
    """Σ weight x value per polygon (e.g. population in zone ∩ community pieces) over bands."""
    total: NDArray[np.float64] | None = None
    for op, values in bands:
        part = op.sums(values)
        total = part if total is None else total + part
    return total if total is not None else np.zeros(weights.n)


def aggregate_pieces(
    values: NDArray[np.float64],
    piece_owner: NDArray[np.int64],
    piece_class: NDArray[np.int64],
    n_owners: int,
    n_classes: int,
) -> NDArray[np.float64]:
    """Sum piece values into an (owner x class) table."""
    out = np.zeros((n_owners, n_classes))
    np.add.at(out, (piece_owner, piece_class), values)
    return out
