"""Set-based scoring and its COPY lines against `scoring`'s one-community functions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest

from service.risk import scoring
from service.risk.batch_scoring import (
    FLAGS,
    SHARES,
    ExposureFrame,
    IndicatorFrame,
    score_columns,
)
from service.risk.score_rows import LayerConstants, copy_text
from service.risk.store import COLUMNS
from tests.risk.builders import MMI_SCHEME

CUTOFFS = {"medium_cutoff": 0.2, "high_cutoff": 0.45}
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _communities(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Indicators with every kind of gap: None, out of range, NaN area, zero area."""
    out = []
    for _ in range(n):

        def maybe(value: Any, p: float = 0.3) -> Any:
            return None if rng.random() < p else value

        out.append(
            {
                "population": maybe(int(rng.integers(0, 20_000))),
                "area_km2": maybe(rng.choice([0.0, float("nan"), -1.0, rng.uniform(0.1, 50)])),
                "share_elderly": maybe(rng.uniform(-0.2, 1.2)),
                "share_children": maybe(rng.uniform(0, 0.5)),
                "share_disabled": maybe(rng.choice([rng.uniform(0, 0.1), float("inf")])),
                "share_poor": maybe(rng.uniform(0, 0.6)),
                "has_early_warning": maybe(bool(rng.integers(0, 2))),
                "has_task_force": maybe(bool(rng.integers(0, 2))),
                "has_evacuation_site": maybe(bool(rng.integers(0, 2))),
                "drills_per_year": maybe(int(rng.integers(-1, 5))),
            }
        )
    return out


def _frames(comms: list[dict[str, Any]], k: int, rng: np.random.Generator) -> tuple[Any, Any]:
    n = len(comms)
    pop_by = rng.gamma(1.0, 100.0, (n, k)) * (rng.random((n, k)) < 0.7)
    area_by = rng.uniform(0, 1e6, (n, k)) * (rng.random((n, k)) < 0.7)
    pop = pop_by.sum(axis=1) + rng.uniform(0, 50, n) * (rng.random(n) < 0.8)
    area = area_by.sum(axis=1) + rng.uniform(0, 1e5, n)
    pop[:3] = 0.0  # no people: area alone
    mx = np.where(rng.random(n) < 0.5, rng.uniform(2, 9, n), np.nan)
    exp = ExposureFrame(pop, area, pop_by, area_by, mx, mx / 2)

    def col(name: str) -> np.ndarray:
        return np.array([c[name] for c in comms], dtype=np.float64)

    ind = IndicatorFrame(
        population=col("population"),
        area_km2=col("area_km2"),
        area_known=np.array([c["area_km2"] is not None for c in comms], dtype=bool),
        shares={s: col(s) for s in SHARES},
        flags={f: col(f) for f in FLAGS},
        drills_per_year=col("drills_per_year"),
    )
    return exp, ind


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\":
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[field[i + 1]])
            i += 2
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _expected(comm: dict[str, Any], exp: ExposureFrame, k: int, classes: list) -> dict:
    """The row the one-by-one path wrote (service.risk.service before set-based scoring)."""
    population, area = float(exp.population[k]), float(exp.area_m2[k])
    h = scoring.hazard_index(
        classes=classes,
        population=population,
        area_m2=area,
        population_by_class=exp.population_by_class[k].tolist(),
        area_by_class_m2=exp.area_by_class_m2[k].tolist(),
    )
    density = None
    if comm["population"] is not None and comm["area_km2"]:
        density = comm["population"] / comm["area_km2"]
    elif area > 0 and population > 0:
        density = population / (area / 1e6)
    indicators = {k2: v for k2, v in comm.items() if k2 not in ("population", "area_km2")}
    r = scoring.risk_score(
        hazard=h, indicators=indicators | {"density_per_km2": density}, **CUTOFFS
    )
    mx = exp.max_intensity[k]
    return {
        "score": r.score,
        "level": r.level,
        "hazard_index": round(h.value, 6),
        "vulnerability_index": r.vulnerability.value,
        "capacity_index": r.capacity.value,
        "components": r.components(),
        "indicators": r.vulnerability.inputs | r.capacity.inputs,
        "defaults": r.defaults(),
        "exposure": {
            "population": round(population, 3),
            "area_m2": round(area, 1),
            "population_exposed": round(h.exposed_population, 3),
            "area_exposed_m2": round(h.exposed_area_m2, 1),
            "max_intensity": None if np.isnan(mx) else float(mx),
            "mean_intensity": None if np.isnan(mx) else float(mx / 2),
            "unit": "MMI",
            "classes": h.by_class,
        },
    }


def test_batch_rows_equal_the_one_by_one_rows() -> None:
    rng = np.random.default_rng(7)
    classes = scoring.scheme_classes(MMI_SCHEME)
    comms = _communities(400, rng)
    exp, ind = _frames(comms, len(classes), rng)
    sc = score_columns(classes, exp, ind, **CUTOFFS)
    shared = {"layer_id": 5, "layer_name": 'MMI "x"\t\\ 100%', "model": "m", "unmapped_classes": []}
    layer = LayerConstants(
        5, shared["layer_name"], "earthquake", "coverage", "MMI", shared, NOW, None
    )
    ids = np.arange(1000, 1000 + len(comms))
    lines = "".join(copy_text(layer, classes, ids, sc, exp, rows_per_chunk=64)).split("\n")
    assert lines[-1] == "" and len(lines) == len(comms) + 1
    for k, line in enumerate(lines[:-1]):
        row = dict(zip(COLUMNS, map(_unescape, line.split("\t")), strict=True))
        want = _expected(comms[k], exp, k, classes)
        assert int(row["community_id"]) == 1000 + k and row["layer_name"] == shared["layer_name"]
        assert row["job_id"] is None and row["computed_at"] == NOW.isoformat()
        for name in ("score", "hazard_index", "vulnerability_index", "capacity_index"):
            assert float(row[name]) == want[name], (k, name)
        assert row["level"] == want["level"]
        assert orjson.loads(row["components"]) == want["components"], k
        inputs = orjson.loads(row["inputs"])
        assert inputs["indicators"] == pytest.approx(want["indicators"], rel=0, abs=0), k
        assert inputs["defaults"] == want["defaults"], k
        assert {k2: inputs[k2] for k2 in shared} == shared
        assert orjson.loads(row["exposure"]) == want["exposure"], k


def test_no_communities_no_lines() -> None:
    classes = scoring.scheme_classes(MMI_SCHEME)
    exp, ind = _frames([], len(classes), np.random.default_rng(1))
    sc = score_columns(classes, exp, ind, **CUTOFFS)
    layer = LayerConstants(5, "mmi", "earthquake", "coverage", None, {}, NOW, 3)
    assert len(sc.score) == 0
    assert list(copy_text(layer, classes, np.zeros(0, np.int64), sc, exp)) == []
