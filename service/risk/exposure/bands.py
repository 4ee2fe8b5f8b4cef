"""The weights cut into bands of rows, each a pair of CSR operators: W_band = B + R · S.

`B` holds a band's fractional boundary cells and `R` +1/-1 at the ends of each run of whole
cells, applied to the row-wise cumulative sums `S` of the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from service.risk.exposure.grid import row_bands

if TYPE_CHECKING:
    from service.risk.exposure.weights import CoverageWeights


class Scratch:
    """Work arrays lent from band to band of one pass, for one thread at a time.

    Arrays of a band's size (4 M cells) freshly allocated for every band cost page faults
    (the kernel zeroes each new page): about 13 GB of them in a national pass.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, NDArray[Any]] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: Any) -> NDArray[Any]:
        """An uninitialised array; the previous one of that name if it has the same shape."""
        have = self._arrays.get(name)
        if have is None or have.shape != shape or have.dtype != np.dtype(dtype):
            have = self._arrays[name] = np.empty(shape, dtype)
        return have


@dataclass
class BandOperator:
    """Rows [row0, row0 + nrows) of the window: W_band = B + R · S (see the module docstring)."""

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

    def sums(
        self, values: NDArray[np.float64], scratch: Scratch | None = None
    ) -> NDArray[np.float64]:
        """Σ weight x value per polygon; values (nrows, width) or (nrows, width, m), nodata = 0.

        `scratch` lends the work array of one pass over the bands (see `Scratch`).
        """
        squeeze = values.ndim == 2
        v = values[..., None] if squeeze else values
        nb, w, m = v.shape
        if (nb, w) != (self.nrows, self.width):
            raise ValueError(
                f"values of shape {(nb, w)} do not fit the band {(self.nrows, self.width)}"
            )
        v = v.astype(np.float64, copy=False)
        out = self.boundary @ v.reshape(nb * w, m)
        # Row-wise cumulative sums after a zero column (not a zeroed array: one pass less).
        s = (scratch or Scratch()).array("cumsum", (nb, w + 1, m), np.float64)
        s[:, 0, :] = 0.0
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


def make_bands(wt: CoverageWeights, max_cells: int) -> list[BandOperator]:
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
