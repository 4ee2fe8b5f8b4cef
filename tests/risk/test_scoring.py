"""The risk model: H from exposure per class, V and C from indicators, R and its level."""

from __future__ import annotations

import pytest

from service.risk import scoring
from tests.risk.builders import (
    FLOOD_PRONE_SCHEME,
    FLOOD_SCHEME,
    KRB_SCHEME,
    MMI_SCHEME,
    TSUNAMI_SCHEME,
)

FULL_INDICATORS = {
    "density_per_km2": 2000.0,
    "share_elderly": 0.4,
    "share_children": 0.4,
    "share_disabled": 0.4,
    "share_poor": 0.4,
    "has_early_warning": False,
    "has_task_force": False,
    "has_evacuation_site": False,
    "drills_per_year": 0,
}


@pytest.mark.parametrize("scheme", [KRB_SCHEME, FLOOD_SCHEME, MMI_SCHEME, TSUNAMI_SCHEME])
def test_hazard_index_weights_each_class_by_severity(scheme: dict) -> None:
    classes = scoring.scheme_classes(scheme)
    k = len(classes)
    # Everyone and all the area in the most severe class -> H = 1; in the mildest -> its severity.
    top = max(range(k), key=lambda i: classes[i]["severity"])
    low = min(range(k), key=lambda i: classes[i]["severity"])
    for idx, want in ((top, 1.0), (low, classes[low]["severity"])):
        pop = [0.0] * k
        area = [0.0] * k
        pop[idx], area[idx] = 100.0, 5e4
        h = scoring.hazard_index(
            classes=classes,
            population=100,
            area_m2=5e4,
            population_by_class=pop,
            area_by_class_m2=area,
        )
        assert h.value == pytest.approx(want)
        assert h.population_share == pytest.approx(1.0)


def test_hazard_index_mixes_population_and_area() -> None:
    classes = scoring.scheme_classes(FLOOD_SCHEME)
    h = scoring.hazard_index(
        classes=classes,
        population=1000,
        area_m2=1e6,
        population_by_class=[0, 0, 500],
        area_by_class_m2=[0, 0, 1e5],
    )
    assert h.value == pytest.approx(0.7 * 0.5 + 0.3 * 0.1)
    h0 = scoring.hazard_index(
        classes=classes,
        population=0,
        area_m2=1e6,
        population_by_class=[0, 0, 0],
        area_by_class_m2=[0, 0, 2e5],
    )
    assert h0.value == pytest.approx(0.2)  # no population data: area alone


def test_zone_class_lookup_by_name_or_value() -> None:
    assert scoring.zone_class_index(KRB_SCHEME, "Kawasan Rawan Bencana II") == 1
    assert scoring.zone_class_index(KRB_SCHEME, "krb iii") == 2
    assert scoring.zone_class_index(KRB_SCHEME, "KRB III") == 2
    assert scoring.zone_class_index(TSUNAMI_SCHEME, "3") == 2
    assert scoring.zone_class_index(KRB_SCHEME, "unknown") is None


def test_zero_severity_class_is_not_exposure() -> None:
    classes = scoring.scheme_classes(FLOOD_PRONE_SCHEME)  # "no" has severity 0
    h = scoring.hazard_index(
        classes=classes,
        population=100,
        area_m2=1e4,
        population_by_class=[60, 40],
        area_by_class_m2=[6e3, 4e3],
    )
    assert h.exposed_population == pytest.approx(40)
    assert h.value == pytest.approx(0.7 * 0.4 + 0.3 * 0.4)


def test_missing_indicators_take_flagged_defaults() -> None:
    v = scoring.vulnerability_index({"share_poor": 0.2})
    assert set(v.defaults) == {
        "density_per_km2",
        "share_elderly",
        "share_children",
        "share_disabled",
    }
    assert v.inputs["share_elderly"] == scoring.VULNERABILITY_DEFAULTS["share_elderly"]
    assert v.inputs["share_poor"] == 0.2
    c = scoring.capacity_index({"has_task_force": True, "drills_per_year": None})
    assert set(c.defaults) == {"has_early_warning", "has_evacuation_site", "drills_per_year"}
    assert c.value == pytest.approx(0.25)
    # Out-of-range values are not trusted either.
    bad = scoring.vulnerability_index({"share_elderly": 1.7, "density_per_km2": float("nan")})
    assert {"share_elderly", "density_per_km2"} <= set(bad.defaults)


def test_vulnerability_and_capacity_extremes() -> None:
    assert scoring.vulnerability_index(FULL_INDICATORS).value == pytest.approx(1.0)
    assert scoring.vulnerability_index(FULL_INDICATORS).defaults == []
    full_c = scoring.capacity_index(
        {
            "has_early_warning": True,
            "has_task_force": True,
            "has_evacuation_site": True,
            "drills_per_year": 4,
        }
    )
    assert full_c.value == pytest.approx(1.0) and full_c.defaults == []


def test_risk_score_formula_and_levels() -> None:
    classes = scoring.scheme_classes(FLOOD_SCHEME)
    h = scoring.hazard_index(
        classes=classes,
        population=100,
        area_m2=1e4,
        population_by_class=[0, 0, 100],
        area_by_class_m2=[0, 0, 1e4],
    )
    worst = scoring.risk_score(
        hazard=h, indicators=FULL_INDICATORS, medium_cutoff=0.33, high_cutoff=0.66
    )
    assert worst.score == pytest.approx(1.0) and worst.level == "tinggi"
    prepared = FULL_INDICATORS | {
        "has_early_warning": True,
        "has_task_force": True,
        "has_evacuation_site": True,
        "drills_per_year": 2,
    }
    better = scoring.risk_score(hazard=h, indicators=prepared, medium_cutoff=0.33, high_cutoff=0.66)
    assert better.score == pytest.approx(0.5) and better.level == "sedang"
    # Configurable cut-offs change the level, not the score.
    strict = scoring.risk_score(hazard=h, indicators=prepared, medium_cutoff=0.2, high_cutoff=0.4)
    assert strict.score == better.score and strict.level == "tinggi"
    none = scoring.hazard_index(
        classes=classes,
        population=100,
        area_m2=1e4,
        population_by_class=[0, 0, 0],
        area_by_class_m2=[0, 0, 0],
    )
    assert (
        scoring.risk_score(hazard=none, indicators={}, medium_cutoff=0.33, high_cutoff=0.66).level
        == "rendah"
    )
    comps = worst.components()
    assert {"H", "V", "C", "formula"} <= set(comps)
