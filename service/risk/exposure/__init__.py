"""Exposure: cell-coverage weights of polygons on a raster grid, and the sums they give.

Pure computation: arrays and shapely geometries in, arrays out; no file or database I/O.

* `grid`: the raster grid, windows of it, and cell areas;
* `scanline`: building the weights of every polygon at once (`coverage_weights`);
* `weights`: the weights themselves (`CoverageWeights`: subsets, cache arrays);
* `bands`: the weights cut into bands of rows as sparse operators (`BandOperator`);
* `sums`: polygon sums and exposure per hazard class over those bands.

The weights are `W = B + R · S`: `B` holds the fractional boundary cells, `R` holds +1/-1 at
the ends of each run of wholly covered cells, and `S` is the row-wise cumulative sum of the
values (see `scanline` for how they are built). A recompute on a new raster of the same grid
is one sparse product per band of rows (`BandOperator.sums`).
"""

from __future__ import annotations

from typing import Literal

# `coverage`: the exact fraction of each cell inside the polygon (as exactextract);
# `centre`: a cell counts wholly where its centre falls (as InaSAFE and rasterstats).
Method = Literal["coverage", "centre"]
METHODS: tuple[str, ...] = ("coverage", "centre")
