"""Boundary file -> validated community rows (pyogrio -> checked, repaired, EPSG:4326 frame).

Nothing here touches the database: every check runs before the first row is written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from service.communities.schemas import (
    BOOL_COLUMNS,
    COUNT_COLUMNS,
    DEFAULT_FIELDS,
    MAX_POPULATION,
    SHARE_COLUMNS,
    TEXT_COLUMNS,
    FieldMapping,
)
from service.errors import InvalidFile
from service.geochecks import GeometryLimits, checked_wgs84, limit_vertices
from service.geoio import (
    area_km2,
    attributes,
    clean_polygons,
    field_names,
    find_column,
    listing,
    read_vector,
)

# Kemendagri codes: 72 / 72.71 / 72.71.01 / 72.71.01.1001
KEMENDAGRI_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
LEVEL_BY_PARTS = {1: "provinsi", 2: "kabupaten_kota", 3: "kecamatan", 4: "desa_kelurahan"}
TRUE_WORDS = {"1", "true", "t", "yes", "y", "ya", "ada"}
FALSE_WORDS = {"0", "false", "f", "no", "n", "tidak", "tidak ada", "belum"}


@dataclass(frozen=True)
class CommunityRows:
    """Validated rows, one per feature, in file order."""

    label: str
    columns: tuple[str, ...]  # model columns the file provides (besides geometry, area)
    values: list[dict[str, object]]  # column -> value, plus "properties"
    geoms: np.ndarray  # shapely MultiPolygons in EPSG:4326
    area_km2: np.ndarray
    repaired: list[str]  # codes whose geometry was repaired
    simplified: list[str]  # codes simplified to the vertex limit
    fields: dict[str, str]  # column -> source field

    @property
    def codes(self) -> list[str]:
        return [str(v["code"]) for v in self.values]


def _resolve_fields(frame: pd.DataFrame, mapping: FieldMapping, label: str) -> dict[str, str]:
    explicit = mapping.explicit()
    fields: dict[str, str] = {}
    for column, default in DEFAULT_FIELDS.items():
        wanted = explicit.get(column)
        found = find_column(frame, wanted or default)
        if wanted and found is None:
            raise InvalidFile(
                f"{label} has no field {wanted!r} (given for {column}); "
                f"fields in the file: {field_names(frame)}"
            )
        if found is not None:
            fields[column] = found
    for column in ("code", "name"):
        if column not in fields:
            raise InvalidFile(
                f"{label} has no {column} field {DEFAULT_FIELDS[column]!r}; name the field that "
                f"holds the {column} with --{column}-field (form field {column}_field); "
                f"fields in the file: {field_names(frame)}"
            )
    return fields


def _code_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\x00", "").strip()  # PostgreSQL text cannot hold NUL
    return text or None


def _text(value: object) -> str | None:
    return _code_text(value)


def _feature(i: int, code: str | None = None) -> str:
    return f"feature {i + 1}" + (f" (code {code})" if code else "")


def _number(value: object) -> float | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", ".")
        if not value:
            return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


def _parse_value(column: str, value: object, where: str, field: str) -> object:
    """Convert one indicator value, or raise naming the feature, field and what to do."""
    if column in BOOL_COLUMNS:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, bool | np.bool_):
            return bool(value)
        word = str(value).strip().lower()
        if word in ("", "null", "none", "nan"):
            return None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise InvalidFile(
            f"{where}: field {field!r} value {value!r} is not yes/no; "
            "use 1/0, true/false or ya/tidak"
        )
    try:
        number = _number(value)
    except (TypeError, ValueError) as exc:
        raise InvalidFile(f"{where}: field {field!r} value {value!r} is not a number") from exc
    if number is None:
        return None
    if column in SHARE_COLUMNS:
        if not 0 <= number <= 1:
            hint = " (it looks like a percentage: divide by 100)" if 1 < number <= 100 else ""
            raise InvalidFile(
                f"{where}: field {field!r} value {number:g} is outside 0..1; "
                f"give shares as fractions{hint}"
            )
        return number
    if column in COUNT_COLUMNS:
        limit = MAX_POPULATION if column == "population" else 366
        if number < 0 or not float(number).is_integer() or number > limit:
            raise InvalidFile(
                f"{where}: field {field!r} value {number:g} is not a whole number "
                f"between 0 and {limit:,}"
            )
        return int(number)
    return number


def _derive_from_code(code: str, row: dict[str, object], fields: dict[str, str]) -> None:
    """Fill level and parent codes from a dotted Kemendagri code when the file lacks them."""
    if not KEMENDAGRI_CODE.match(code):
        return
    parts = code.split(".")
    if "level" not in fields:
        row["level"] = LEVEL_BY_PARTS[len(parts)]
    for column, n in (("province_code", 1), ("regency_code", 2), ("district_code", 3)):
        if column not in fields and len(parts) > n:
            row[column] = ".".join(parts[:n])


# Text columns limited to 32 characters in the table (codes and level).
SHORT_COLUMNS = ("level", "province_code", "regency_code", "district_code")


def _check_lengths(frame: pd.DataFrame, fields: dict[str, str], label: str) -> None:
    for column in SHORT_COLUMNS:
        if column not in fields:
            continue
        values = [_text(v) for v in frame[fields[column]].tolist()]
        long = [f"feature {i + 1}" for i, v in enumerate(values) if v is not None and len(v) > 32]
        if long:
            raise InvalidFile(
                f"{label}: field {fields[column]!r} (mapped to {column}) holds values longer than "
                f"32 characters in {listing(long)}; map the right field or shorten the values"
            )


def read_communities(
    path: Path, *, mapping: FieldMapping, label: str, limits: GeometryLimits | None = None
) -> CommunityRows:
    limits = limits or GeometryLimits()
    frame = read_vector(path, label=label, layer=mapping.layer)
    fields = _resolve_fields(frame, mapping, label)

    codes = [_code_text(v) for v in frame[fields["code"]].tolist()]
    missing = [_feature(i) for i, c in enumerate(codes) if c is None]
    if missing:
        raise InvalidFile(
            f"{label}: {listing(missing)} {'has' if len(missing) == 1 else 'have'} no code in "
            f"field {fields['code']!r}; every community needs a unique Kemendagri code"
        )
    too_long = [c for c in codes if c is not None and len(c) > 32]
    if too_long:
        raise InvalidFile(
            f"{label}: codes longer than 32 characters in field {fields['code']!r}: "
            f"{listing(too_long)}; is that the code field?"
        )
    counts = pd.Series(codes).value_counts()
    duplicates = counts[counts > 1]
    if len(duplicates):
        dup = [f"{code} ({n}x)" for code, n in duplicates.items()]
        raise InvalidFile(
            f"{label}: duplicate codes in field {fields['code']!r}: {listing(dup)}; "
            "each code may appear once per file (merge the parts into one feature)"
        )

    feature_names = [_feature(i, c) for i, c in enumerate(codes)]
    frame = checked_wgs84(frame, label=label, names=feature_names, limits=limits)
    names = [_text(v) for v in frame[fields["name"]].tolist()]
    unnamed = [_feature(i, codes[i]) for i, n in enumerate(names) if n is None]
    if unnamed:
        raise InvalidFile(
            f"{label}: {listing(unnamed)} {'has' if len(unnamed) == 1 else 'have'} no name in "
            f"field {fields['name']!r}; fill it in or map another field with --name-field"
        )

    columns = tuple(fields)
    _check_lengths(frame, fields, label)
    extra_columns = [
        str(c) for c in frame.columns if c != frame.geometry.name and c not in fields.values()
    ]
    properties = attributes(frame, extra_columns)
    source = {column: frame[field].tolist() for column, field in fields.items()}
    values: list[dict[str, object]] = []
    for i in range(len(frame)):
        code = str(codes[i])
        where = f"{label}: {_feature(i, code)}"
        row: dict[str, object] = {"code": code, "name": names[i]}
        for column in columns:
            if column in ("code", "name"):
                continue
            raw = source[column][i]
            if column in TEXT_COLUMNS:
                row[column] = _text(raw)
            else:
                row[column] = _parse_value(column, raw, where, fields[column])
        _derive_from_code(code, row, fields)
        row["properties"] = properties[i]
        values.append(row)
    derived = {k for v in values for k in v} - {"code", "name", "properties", *columns}
    columns = (*columns, *sorted(derived))

    cleaned = clean_polygons(frame.geometry, label=label, feature_names=feature_names)
    geoms, simplified = limit_vertices(
        cleaned.geoms, label=label, names=feature_names, limits=limits
    )
    return CommunityRows(
        label=label,
        columns=columns,
        values=values,
        geoms=geoms,
        area_km2=area_km2(geoms),
        repaired=[str(codes[i]) for i in cleaned.repaired],
        simplified=[str(codes[i]) for i in simplified],
        fields=fields,
    )
