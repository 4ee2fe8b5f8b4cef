"""Sums over bands of rows: Σ weight x value per polygon, and exposure per hazard class."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.risk.exposure.bands import BandOperator, Scratch
from service.risk.exposure.weights import CoverageWeights


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
    scratch = Scratch()
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
        totals += op.sums(stack, scratch)
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
    scratch = Scratch()
    for op, values in bands:
        part = op.sums(values, scratch)
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
