"""Risk scores R = H x V / C per community and hazard, in the spirit of BNPB Perka 2/2012.

Pure computation: exposure figures and indicator values in, a score with every input out.

* H (bahaya, hazard index, 0..1): the share of the community's population and of its area in
  each hazard class, weighted by the class severity from the layer's classification scheme;
  population counts 70 %, area 30 % (area alone when the community has no population data).
* V (kerentanan, vulnerability index, 0..1): Perka 2/2012's social vulnerability: population
  density 60 % (score 1 at >= 1,000 people/km², Perka's "tinggi" class), and 10 % each for the
  shares of elderly, children, people with disabilities and poor (score 1 at >= 40 %).
* C (kapasitas, capacity index, 0..1): the mean of early-warning system, trained task force
  (e.g. Destana/KSB), evacuation site, and drills (2 or more per year = 1).
* R = H x (0.5 + 0.5 V) / (1 + C): vulnerability can raise risk up to twofold over its floor
  and capacity can halve it, so R stays in 0..1 and reaches 1 only for a fully exposed,
  highly vulnerable community with no capacity.
* Level: `rendah` below the medium cut-off, `sedang` below the high cut-off, else `tinggi`.

Unknown indicators take the documented defaults below and are listed under `defaults`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

POPULATION_WEIGHT = 0.7
AREA_WEIGHT = 0.3
DENSITY_HIGH_PER_KM2 = 1000.0
SHARE_HIGH = 0.4
DRILLS_FULL = 2
V_WEIGHTS = {
    "density": 0.6,
    "share_elderly": 0.1,
    "share_children": 0.1,
    "share_disabled": 0.1,
    "share_poor": 0.1,
}

# Defaults for unknown indicators: national figures (BPS) for shares; capacity assumed absent
# (the cautious choice: an unknown early-warning system is not counted as one).
VULNERABILITY_DEFAULTS: dict[str, float] = {
    "density_per_km2": 1000.0,  # Perka's high-class boundary: unknown density is not assumed low
    "share_elderly": 0.11,  # 60+ years, Sensus Penduduk 2020 ~10.8 %
    "share_children": 0.24,  # 0-14 years, SP2020 ~24 %
    "share_disabled": 0.05,  # Susenas 2020 ~5 % with a disability
    "share_poor": 0.095,  # BPS poverty rate 2023 ~9.4 %
}
CAPACITY_DEFAULTS: dict[str, Any] = {
    "has_early_warning": False,
    "has_task_force": False,
    "has_evacuation_site": False,
    "drills_per_year": 0,
}
LEVELS = ("rendah", "sedang", "tinggi")


def scheme_classes(scheme: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The classes of a classification scheme; severity clamped to 0..1 (missing = 1)."""
    out = []
    for cls in (scheme or {}).get("classes") or []:
        sev = cls.get("severity")
        sev = 1.0 if sev is None else min(1.0, max(0.0, float(sev)))
        out.append({**cls, "name": str(cls.get("name")), "severity": sev})
    return out


def zone_class_index(scheme: Mapping[str, Any] | None, zone_class: str) -> int | None:
    """Which scheme class a vector zone's class belongs to (name, label, value or alias)."""
    from service.hazards.schemes import normalise_label

    want = normalise_label(zone_class)
    for k, cls in enumerate(scheme_classes(scheme)):
        keys = [cls.get("name"), cls.get("label_id"), cls.get("value"), *(cls.get("aliases") or [])]
        if want in {normalise_label(v) for v in keys if v is not None}:
            return k
    return None


@dataclass
class HazardIndex:
    value: float
    population_share: float
    area_share: float
    by_class: list[dict[str, Any]]
    exposed_population: float = 0.0  # in classes with severity > 0
    exposed_area_m2: float = 0.0


def hazard_index(
    *,
    classes: Sequence[Mapping[str, Any]],
    population: float,
    area_m2: float,
    population_by_class: Sequence[float],
    area_by_class_m2: Sequence[float],
) -> HazardIndex:
    """H = 0.7 Σ severity·population share + 0.3 Σ severity·area share (area only if no people)."""
    by_class = []
    hp = ha = 0.0
    exposed_pop = exposed_area = 0.0
    for cls, p, a in zip(classes, population_by_class, area_by_class_m2, strict=True):
        ps = p / population if population > 0 else 0.0
        as_ = a / area_m2 if area_m2 > 0 else 0.0
        ps, as_ = min(max(ps, 0.0), 1.0), min(max(as_, 0.0), 1.0)
        hp += cls["severity"] * ps
        ha += cls["severity"] * as_
        if cls["severity"] > 0:  # e.g. flood_prone "no" is a class but not an exposure
            exposed_pop += p
            exposed_area += a
        by_class.append(
            {
                "class": cls["name"],
                "severity": cls["severity"],
                "population": round(float(p), 3),
                "area_m2": round(float(a), 1),
                "population_share": round(ps, 6),
                "area_share": round(as_, 6),
            }
        )
    # People weigh more than land; without population data, area alone.
    h = POPULATION_WEIGHT * hp + AREA_WEIGHT * ha if population > 0 else ha
    return HazardIndex(
        value=min(1.0, max(0.0, h)),
        population_share=min(1.0, exposed_pop / population) if population > 0 else 0.0,
        area_share=min(1.0, exposed_area / area_m2) if area_m2 > 0 else 0.0,
        by_class=by_class,
        exposed_population=exposed_pop,
        exposed_area_m2=exposed_area,
    )


@dataclass
class IndexResult:
    value: float
    inputs: dict[str, Any]
    defaults: list[str] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)


def vulnerability_index(indicators: Mapping[str, Any]) -> IndexResult:
    """V from density and vulnerable-group shares; unknown values take defaults (flagged)."""
    inputs: dict[str, Any] = {}
    defaults: list[str] = []
    density = indicators.get("density_per_km2")
    if density is None or not _finite(density) or float(density) < 0:
        density = VULNERABILITY_DEFAULTS["density_per_km2"]
        defaults.append("density_per_km2")
    inputs["density_per_km2"] = round(float(density), 3)
    parts = {"density": min(1.0, float(density) / DENSITY_HIGH_PER_KM2)}
    for name in ("share_elderly", "share_children", "share_disabled", "share_poor"):
        v = indicators.get(name)
        if v is None or not _finite(v) or not 0 <= float(v) <= 1:
            v = VULNERABILITY_DEFAULTS[name]
            defaults.append(name)
        inputs[name] = float(v)
        parts[name] = min(1.0, float(v) / SHARE_HIGH)
    value = sum(V_WEIGHTS[k] * parts[k] for k in V_WEIGHTS)
    return IndexResult(
        round(value, 6), inputs, defaults, {k: round(v, 6) for k, v in parts.items()}
    )


def capacity_index(indicators: Mapping[str, Any]) -> IndexResult:
    """C as the mean of four capacity indicators; unknown ones count as absent (flagged)."""
    inputs: dict[str, Any] = {}
    defaults: list[str] = []
    parts: dict[str, float] = {}
    for name in ("has_early_warning", "has_task_force", "has_evacuation_site"):
        v = indicators.get(name)
        if v is None:
            v = CAPACITY_DEFAULTS[name]
            defaults.append(name)
        inputs[name] = bool(v)
        parts[name] = 1.0 if v else 0.0
    drills = indicators.get("drills_per_year")
    if drills is None or not _finite(drills) or float(drills) < 0:
        drills = CAPACITY_DEFAULTS["drills_per_year"]
        defaults.append("drills_per_year")
    inputs["drills_per_year"] = int(drills)
    parts["drills_per_year"] = min(1.0, float(drills) / DRILLS_FULL)
    value = sum(parts.values()) / len(parts)
    return IndexResult(round(value, 6), inputs, defaults, parts)


def risk_level(score: float, *, medium_cutoff: float, high_cutoff: float) -> str:
    if score >= high_cutoff:
        return "tinggi"
    if score >= medium_cutoff:
        return "sedang"
    return "rendah"


@dataclass
class RiskScore:
    score: float
    level: str
    hazard: HazardIndex
    vulnerability: IndexResult
    capacity: IndexResult

    def components(self) -> dict[str, Any]:
        return {
            "H": round(self.hazard.value, 6),
            "V": self.vulnerability.value,
            "C": self.capacity.value,
            "formula": "R = H x (0.5 + 0.5 V) / (1 + C)",
            "H_population_share": round(self.hazard.population_share, 6),
            "H_area_share": round(self.hazard.area_share, 6),
            "V_parts": self.vulnerability.parts,
            "C_parts": self.capacity.parts,
        }

    def defaults(self) -> list[str]:
        return self.vulnerability.defaults + self.capacity.defaults


def risk_score(
    *,
    hazard: HazardIndex,
    indicators: Mapping[str, Any],
    medium_cutoff: float,
    high_cutoff: float,
) -> RiskScore:
    v = vulnerability_index(indicators)
    c = capacity_index(indicators)
    r = hazard.value * (0.5 + 0.5 * v.value) / (1.0 + c.value)
    r = round(min(1.0, max(0.0, r)), 6)
    return RiskScore(
        r, risk_level(r, medium_cutoff=medium_cutoff, high_cutoff=high_cutoff), hazard, v, c
    )


def _finite(v: Any) -> bool:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return False
    return f == f and f not in (float("inf"), float("-inf"))
