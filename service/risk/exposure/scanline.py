"""Building coverage weights: every polygon at once, vectorised, by the signed-area scanline.

The method font rasterisers use: each polygon edge is split where it crosses grid lines; a
piece lying in cell (i, j) adds `dr * (j + 1 - c_mid)` to that cell and `dr` to every cell
right of it in row i. Summed over a closed ring this is the exact area of the polygon inside
each cell (Green's theorem), the same quantity exactextract computes. The constant "every
cell right of it" part is kept as runs, so a polygon costs memory in proportion to its
boundary, not its area (see `weights`).

The `centre` method counts a cell wholly where its centre falls (InaSAFE, rasterstats):
the same scanline, evaluated at the row centres, gives only runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from service.risk.exposure import METHODS
from service.risk.exposure.grid import Grid, Window, polygon_window
from service.risk.exposure.weights import CoverageWeights, repeat_ranges

_TINY = 1e-12


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


def _rows_spanned(
    r1: NDArray[np.float64], r2: NDArray[np.float64], window: Window
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Each edge's lowest and highest row, and which edges count: those wholly above or below
    the window, and horizontal ones, add nothing."""
    rlo, rhi = np.minimum(r1, r2), np.maximum(r1, r2)
    return rlo, rhi, (rhi > 0) & (rlo < window.height) & (r1 != r2)


def _coverage_entries(
    c1: NDArray[np.float64],
    r1: NDArray[np.float64],
    c2: NDArray[np.float64],
    r2: NDArray[np.float64],
    poly: NDArray[np.int64],
    window: Window,
) -> tuple[NDArray[Any], ...]:
    """Split edges at grid lines; each piece lies in one cell: (poly, row, col, area, dr)."""
    _, _, keep = _rows_spanned(r1, r2, window)
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
    rlo, rhi, keep = _rows_spanned(r1, r2, window)
    c1, r1, c2, r2, poly = c1[keep], r1[keep], c2[keep], r2[keep], poly[keep]
    rlo, rhi = rlo[keep], rhi[keep]
    # Row i's centre line r = i + 0.5 is crossed when lo <= i + 0.5 < hi (half-open: a
    # vertex on the line is counted once).
    first = np.ceil(rlo - 0.5).astype(np.int64)
    count = np.maximum(np.ceil(rhi - 0.5).astype(np.int64) - first, 0)
    e = np.repeat(np.arange(len(c1)), count)
    i = repeat_ranges(first, count)
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
