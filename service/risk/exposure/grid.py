"""The raster grid exposure runs on: its transform, windows of it, bands of rows, cell areas."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray


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


def row_bands(height: int, width: int, *, max_cells: int = 4_000_000) -> list[tuple[int, int]]:
    """Split `height` rows into bands of at most ~max_cells cells: [(row0, nrows), ...]."""
    rows = max(1, max_cells // max(width, 1))
    return [(r, min(rows, height - r)) for r in range(0, height, rows)]


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
