"""Risk scores of a whole set of communities at once: `scoring`'s formulas over numpy arrays.

Pure computation: exposure and indicator columns in, score columns out. Every formula,
default and rounding is that of `scoring` (which scores one community and documents the
model); the sums run in the same order, so the scores are the same numbers. Scoring 84,000
desa one by one took seconds of Python per event; here it is a few array passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.risk import scoring

Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]

# Indicators in the order `scoring` lists a community's defaults.
SHARES = ("share_elderly", "share_children", "share_disabled", "share_poor")
FLAGS = ("has_early_warning", "has_task_force", "has_evacuation_site")
DEFAULT_ORDER = ("density_per_km2", *SHARES, *FLAGS, "drills_per_year")


@dataclass
class ExposureFrame:
    """Exposure of n communities to one layer with K classes (intensities nan = none)."""

    population: Floats  # (n,)
    area_m2: Floats  # (n,)
    population_by_class: Floats  # (n, K)
    area_by_class_m2: Floats  # (n, K)
    max_intensity: Floats  # (n,)
    mean_intensity: Floats  # (n,)

    @classmethod
    def empty(cls, n_classes: int) -> ExposureFrame:
        one, two = np.zeros(0), np.zeros((0, n_classes))
        return cls(one, one, two, two.copy(), one.copy(), one.copy())

    def __len__(self) -> int:
        return len(self.population)


@dataclass
class IndicatorFrame:
    """The communities' own indicators (nan = unknown; `area_known` tells None from nan)."""

    population: Floats
    area_km2: Floats
    area_known: Bools
    shares: dict[str, Floats]  # SHARES
    flags: dict[str, Floats]  # FLAGS: 1.0, 0.0, nan = unknown
    drills_per_year: Floats


@dataclass
class HazardColumns:
    value: Floats  # H, clamped, not rounded
    population_share: Floats
    area_share: Floats
    class_population_share: Floats  # (n, K), clamped
    class_area_share: Floats
    exposed_population: Floats
    exposed_area_m2: Floats


@dataclass
class IndexColumns:
    value: Floats  # rounded to 6 decimals
    inputs: dict[str, NDArray[Any]]  # indicator -> value used (defaults filled in)
    parts: dict[str, Floats]  # unrounded
    defaulted: dict[str, Bools]  # indicator -> took its default


@dataclass
class ScoreColumns:
    score: Floats
    level: NDArray[np.int8]  # index into scoring.LEVELS
    hazard: HazardColumns
    vulnerability: IndexColumns
    capacity: IndexColumns

    def default_masks(self) -> NDArray[np.int64]:
        """Bit k set where indicator DEFAULT_ORDER[k] took its default."""
        taken = self.vulnerability.defaulted | self.capacity.defaulted
        mask = np.zeros(len(self.score), np.int64)
        for k, name in enumerate(DEFAULT_ORDER):
            mask |= taken[name].astype(np.int64) << k
        return mask


def _clamp01(x: Floats) -> Floats:
    return np.minimum(np.maximum(x, 0.0), 1.0)


def hazard_columns(classes: Sequence[Mapping[str, Any]], exp: ExposureFrame) -> HazardColumns:
    """`scoring.hazard_index` for every community (class sums in the same order)."""
    n = len(exp)
    pop, area = exp.population, exp.area_m2
    has_pop, has_area = pop > 0, area > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ps = np.where(has_pop[:, None], exp.population_by_class / pop[:, None], 0.0)
        as_ = np.where(has_area[:, None], exp.area_by_class_m2 / area[:, None], 0.0)
    ps, as_ = _clamp01(ps), _clamp01(as_)
    hp, ha, exposed_pop, exposed_area = (np.zeros(n) for _ in range(4))
    for k, cls in enumerate(classes):
        severity = float(cls["severity"])
        hp = hp + severity * ps[:, k]
        ha = ha + severity * as_[:, k]
        if severity > 0:
            exposed_pop = exposed_pop + exp.population_by_class[:, k]
            exposed_area = exposed_area + exp.area_by_class_m2[:, k]
    h = np.where(has_pop, scoring.POPULATION_WEIGHT * hp + scoring.AREA_WEIGHT * ha, ha)
    with np.errstate(invalid="ignore", divide="ignore"):
        pop_share = np.where(has_pop, np.minimum(1.0, exposed_pop / pop), 0.0)
        area_share = np.where(has_area, np.minimum(1.0, exposed_area / area), 0.0)
    return HazardColumns(_clamp01(h), pop_share, area_share, ps, as_, exposed_pop, exposed_area)


def density_per_km2(ind: IndicatorFrame, exp: ExposureFrame) -> Floats:
    """The community's own density, else that of the exposure; nan where neither is known."""
    own = ~np.isnan(ind.population) & ind.area_known & (ind.area_km2 != 0)
    from_exposure = (exp.area_m2 > 0) & (exp.population > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            own,
            ind.population / ind.area_km2,
            np.where(from_exposure, exp.population / (exp.area_m2 / 1e6), np.nan),
        )


def vulnerability_columns(density: Floats, ind: IndicatorFrame) -> IndexColumns:
    """`scoring.vulnerability_index` for every community."""
    defaults = scoring.VULNERABILITY_DEFAULTS
    bad = ~np.isfinite(density) | (density < 0)
    used = np.where(bad, defaults["density_per_km2"], density)
    inputs: dict[str, NDArray[Any]] = {"density_per_km2": np.round(used, 3)}
    parts = {"density": np.minimum(1.0, used / scoring.DENSITY_HIGH_PER_KM2)}
    defaulted = {"density_per_km2": bad}
    for name in SHARES:
        v = ind.shares[name]
        off = ~np.isfinite(v) | (v < 0) | (v > 1)
        inputs[name] = np.where(off, defaults[name], v)
        parts[name] = np.minimum(1.0, inputs[name] / scoring.SHARE_HIGH)
        defaulted[name] = off
    value = np.zeros(len(density))
    for key, weight in scoring.V_WEIGHTS.items():
        value = value + weight * parts[key]
    return IndexColumns(np.round(value, 6), inputs, parts, defaulted)


def capacity_columns(ind: IndicatorFrame) -> IndexColumns:
    """`scoring.capacity_index` for every community."""
    inputs: dict[str, NDArray[Any]] = {}
    parts: dict[str, Floats] = {}
    defaulted: dict[str, Bools] = {}
    for name in FLAGS:
        v = ind.flags[name]
        unknown = np.isnan(v)
        inputs[name] = ~unknown & (v != 0)
        parts[name] = inputs[name].astype(np.float64)
        defaulted[name] = unknown
    drills = ind.drills_per_year
    off = ~np.isfinite(drills) | (drills < 0)
    used = np.where(off, float(scoring.CAPACITY_DEFAULTS["drills_per_year"]), drills)
    inputs["drills_per_year"] = np.trunc(used).astype(np.int64)
    parts["drills_per_year"] = np.minimum(1.0, used / scoring.DRILLS_FULL)
    defaulted["drills_per_year"] = off
    value = np.zeros(len(drills))
    for part in parts.values():
        value = value + part
    return IndexColumns(np.round(value / len(parts), 6), inputs, parts, defaulted)


def score_columns(
    classes: Sequence[Mapping[str, Any]],
    exp: ExposureFrame,
    ind: IndicatorFrame,
    *,
    medium_cutoff: float,
    high_cutoff: float,
) -> ScoreColumns:
    """R = H x (0.5 + 0.5 V) / (1 + C) and its level for every community."""
    h = hazard_columns(classes, exp)
    v = vulnerability_columns(density_per_km2(ind, exp), ind)
    c = capacity_columns(ind)
    r = np.round(_clamp01(h.value * (0.5 + 0.5 * v.value) / (1.0 + c.value)), 6)
    level = np.where(r >= high_cutoff, 2, np.where(r >= medium_cutoff, 1, 0)).astype(np.int8)
    return ScoreColumns(r, level, h, v, c)
