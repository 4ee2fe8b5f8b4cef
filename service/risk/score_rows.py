"""Score columns as the lines of a `COPY risk_scores FROM STDIN` (PostgreSQL text format).

Pure computation: arrays in, text out. Every row holds three JSONB documents (components,
inputs, exposure); building them as dicts and encoding them one by one cost seconds per
national event. Their shape is the same on every row of a layer, only the numbers change,
so each line is one `%` format of a template built once per layer: the layer's constants
(names, sources, class names) are JSON-encoded and COPY-escaped into the template, the
numbers go in as `repr` (the shortest text that reads back as the same float).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from service.risk import scoring
from service.risk.batch_scoring import DEFAULT_ORDER, FLAGS, SHARES, ExposureFrame, ScoreColumns

FORMULA = "R = H x (0.5 + 0.5 V) / (1 + C)"
V_PARTS = ("density", *SHARES)
C_PARTS = (*FLAGS, "drills_per_year")


@dataclass
class LayerConstants:
    """What every score row of one recompute shares."""

    layer_id: int
    layer_name: str
    hazard: str
    method: str
    unit: str | None
    inputs: dict[str, Any]  # layer, population layer, scheme, cutoffs, model, unmapped
    computed_at: datetime
    job_id: int | None


def _copy_escaped(text: str) -> str:
    """Text as a COPY text-format field, safe inside a %-format template."""
    for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
        text = text.replace(raw, escaped)
    return text.replace("%", "%%")


def _lit(value: Any) -> str:
    """A constant as JSON text, escaped for the template."""
    return _copy_escaped(orjson.dumps(value, default=float).decode())


def _fields(names: Sequence[str], spec: str = "%r") -> str:
    return ",".join(f'"{name}":{spec}' for name in names)


def _components_template() -> str:
    return (
        '{"H":%r,"V":%r,"C":%r,"formula":' + _lit(FORMULA) + ',"H_population_share":%r,'
        '"H_area_share":%r,"V_parts":{'
        + _fields(V_PARTS)
        + '},"C_parts":{'
        + _fields(C_PARTS)
        + "}}"
    )


def _inputs_template(layer: LayerConstants) -> str:
    shared = _lit(layer.inputs)[1:-1]  # the constant keys, without the braces
    shared += "," if shared else ""
    indicators = (
        '"density_per_km2":%r,'
        + _fields(SHARES)
        + ","
        + _fields(FLAGS, "%s")
        + ',"drills_per_year":%d'
    )
    return "{" + shared + '"indicators":{' + indicators + '},"defaults":%s}'


def _exposure_template(layer: LayerConstants, classes: Sequence[Mapping[str, Any]]) -> str:
    per_class = [
        '{"class":'
        + _lit(str(c["name"]))
        + ',"severity":'
        + _lit(c["severity"])
        + ',"population":%r,"area_m2":%r,"population_share":%r,"area_share":%r}'
        for c in classes
    ]
    return (
        '{"population":%r,"area_m2":%r,"population_exposed":%r,"area_exposed_m2":%r,'
        '"max_intensity":%s,"mean_intensity":%s,"unit":'
        + _lit(layer.unit)
        + ',"classes":['
        + ",".join(per_class)
        + "]}"
    )


def line_template(layer: LayerConstants, classes: Sequence[Mapping[str, Any]]) -> str:
    """One COPY line with a %-field for every per-community value (see `line_values`)."""
    head = "\t".join(
        _copy_escaped(str(v))
        for v in (layer.layer_id, layer.layer_name, layer.hazard, layer.method)
    )
    job = "\\N" if layer.job_id is None else str(layer.job_id)
    return (
        "\t".join(
            [
                "%d",
                head,
                "%r\t%s\t%r\t%r\t%r",  # score, level, hazard, vulnerability, capacity index
                _components_template(),
                _inputs_template(layer),
                _exposure_template(layer, classes),
                _copy_escaped(layer.computed_at.isoformat()),
                job,
            ]
        )
        + "\n"
    )


def _nullable(values: NDArray[np.float64]) -> list[str]:
    return ["null" if v != v else repr(v) for v in values.tolist()]


def _json_bools(values: NDArray[np.bool_]) -> list[str]:
    return np.where(values, "true", "false").tolist()


def _defaults_json(masks: NDArray[np.int64]) -> list[str]:
    table = [
        orjson.dumps([name for k, name in enumerate(DEFAULT_ORDER) if m >> k & 1]).decode()
        for m in range(1 << len(DEFAULT_ORDER))
    ]
    return np.asarray(table, dtype=object)[masks].tolist()


def line_values(
    community_ids: NDArray[np.int64], sc: ScoreColumns, exp: ExposureFrame
) -> list[list[Any]]:
    """The per-community columns, in the order of the fields of `line_template`."""
    h, v, c = sc.hazard, sc.vulnerability, sc.capacity
    r6 = np.round(h.value, 6)
    cols: list[Any] = [community_ids, sc.score, np.asarray(scoring.LEVELS)[sc.level], r6]
    cols += [v.value, c.value, r6, v.value, c.value]
    cols += [np.round(h.population_share, 6), np.round(h.area_share, 6)]
    cols += [np.round(v.parts[name], 6) for name in V_PARTS]
    cols += [c.parts[name] for name in C_PARTS]
    cols += [v.inputs["density_per_km2"], *(v.inputs[name] for name in SHARES)]
    cols += [_json_bools(c.inputs[name]) for name in FLAGS]
    cols += [c.inputs["drills_per_year"], _defaults_json(sc.default_masks())]
    cols += [np.round(exp.population, 3), np.round(exp.area_m2, 1)]
    cols += [np.round(h.exposed_population, 3), np.round(h.exposed_area_m2, 1)]
    cols += [_nullable(exp.max_intensity), _nullable(exp.mean_intensity)]
    for k in range(exp.population_by_class.shape[1]):
        cols += [
            np.round(exp.population_by_class[:, k], 3),
            np.round(exp.area_by_class_m2[:, k], 1),
            np.round(h.class_population_share[:, k], 6),
            np.round(h.class_area_share[:, k], 6),
        ]
    return [col.tolist() if isinstance(col, np.ndarray) else col for col in cols]


def copy_text(
    layer: LayerConstants,
    classes: Sequence[Mapping[str, Any]],
    community_ids: NDArray[np.int64],
    sc: ScoreColumns,
    exp: ExposureFrame,
    *,
    rows_per_chunk: int = 2_000,
) -> Iterator[str]:
    """The COPY lines of every community, joined into chunks of `rows_per_chunk` lines."""
    template = line_template(layer, classes)
    rows = list(zip(*line_values(community_ids, sc, exp), strict=True))
    for lo in range(0, len(rows), rows_per_chunk):
        yield "".join([template % row for row in rows[lo : lo + rows_per_chunk]])
