"""Coverage weights of polygons on one grid: boundary cells plus runs of whole cells."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from service.risk.exposure.bands import BandOperator, make_bands
from service.risk.exposure.grid import Grid, Window


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
            self._bands[max_cells] = make_bands(self, max_cells)
        return self._bands[max_cells]

    def to_csr(self) -> sp.csr_array:
        """The explicit polygon x cell matrix over the window (cells row-major in the window).

        Memory grows with polygon area: meant for small sets and for checking.
        """
        w = self.window.width
        lengths = self.run_stop - self.run_start
        poly = np.repeat(self.run_poly, lengths)
        cols = repeat_ranges(self.run_row * w + self.run_start, lengths)
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


def repeat_ranges(start: NDArray[np.int64], count: NDArray[np.int64]) -> NDArray[np.int64]:
    """Concatenate arange(start[i], start[i] + count[i]) for all i, without a Python loop."""
    total = int(count.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.cumsum(count) - count
    return np.repeat(start - offsets, count) + np.arange(total)
