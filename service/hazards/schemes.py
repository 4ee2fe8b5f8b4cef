"""Classification schemes: how a hazard value becomes a class and a severity weight (0..1).

Pure: no I/O. Categorical schemes map labels found in zone layers (KRB I/II/III, tsunami
Low..Very High, flood-prone yes/no); threshold schemes bin numbers (flood depth in metres,
MMI) and work on whole numpy arrays, so the risk engine can classify raster cells with them.
A layer stores its scheme as `Scheme.to_dict()` in `hazard_layers.classification`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

SchemeType = Literal["categorical", "thresholds"]


@dataclass(frozen=True)
class HazardClass:
    name: str
    severity: float  # 0 (no hazard) .. 1 (most severe class)
    label_id: str  # Bahasa Indonesia label for people
    lower: float | None = None  # thresholds: value >= lower ...
    upper: float | None = None  # ... and value < upper (None = unbounded)
    aliases: tuple[str, ...] = ()  # categorical: other spellings found in source files

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "severity": self.severity,
            "label_id": self.label_id,
        }
        if self.lower is not None or self.upper is not None:
            out["lower"] = self.lower
            out["upper"] = self.upper
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out


@dataclass(frozen=True)
class Scheme:
    name: str
    type: SchemeType
    hazard: str
    description: str
    classes: tuple[HazardClass, ...]
    unit: str | None = None
    default_fields: tuple[str, ...] = ()  # class fields looked for when none is named
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def severity_of(self, class_name: str) -> float:
        for c in self.classes:
            if c.name == class_name:
                return c.severity
        raise KeyError(class_name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "hazard": self.hazard,
            "unit": self.unit,
            "description": self.description,
            "classes": [c.to_dict() for c in self.classes],
            **self.extra,
        }


def normalise_label(value: object) -> str:
    """Case-, space- and punctuation-insensitive key for matching class labels."""
    return re.sub(r"[\s_\-]+", " ", str(value).strip().casefold()).strip()


def _krb_aliases(roman: str, arabic: str) -> tuple[str, ...]:
    forms = [roman, arabic]
    prefixes = [
        "krb",
        "krb ",
        "kawasan rawan bencana ",
        "kawasan rawan bencana gunungapi ",
        "zone ",
    ]
    return tuple(dict.fromkeys(f"{p}{f}" for p in ["", *prefixes] for f in forms))


VOLCANO_KRB = Scheme(
    name="volcano_krb",
    type="categorical",
    hazard="volcano",
    description=(
        "PVMBG Kawasan Rawan Bencana (volcanic hazard zones): KRB III nearest the vent "
        "(pyroclastic flows, lava, toxic gas), KRB II (ash fall, lahar, ejecta), "
        "KRB I (lahar and ash far out)"
    ),
    classes=(
        HazardClass("KRB I", 0.33, "Kawasan Rawan Bencana I", aliases=_krb_aliases("i", "1")),
        HazardClass("KRB II", 0.67, "Kawasan Rawan Bencana II", aliases=_krb_aliases("ii", "2")),
        HazardClass("KRB III", 1.0, "Kawasan Rawan Bencana III", aliases=_krb_aliases("iii", "3")),
    ),
    default_fields=("KRB", "krb", "kelas", "class"),
)

TSUNAMI_CATEGORY = Scheme(
    name="tsunami_category",
    type="categorical",
    hazard="tsunami",
    description="Tsunami inundation category from a scenario or hazard map",
    classes=(
        HazardClass("Low", 0.25, "Rendah", aliases=("rendah", "1")),
        HazardClass("Medium", 0.5, "Sedang", aliases=("sedang", "moderate", "2")),
        HazardClass("High", 0.75, "Tinggi", aliases=("tinggi", "3")),
        HazardClass("Very High", 1.0, "Sangat tinggi", aliases=("sangat tinggi", "veryhigh", "4")),
    ),
    default_fields=("Category", "kategori", "kelas", "class"),
)

FLOOD_PRONE = Scheme(
    name="flood_prone",
    type="categorical",
    hazard="flood",
    description="Flood-prone area flag (e.g. Jakarta RW flooded in 2007): yes = flood prone",
    classes=(
        HazardClass("no", 0.0, "Tidak rawan banjir", aliases=("n", "tidak", "false", "0", "f")),
        HazardClass(
            "yes",
            1.0,
            "Rawan banjir",
            aliases=("y", "ya", "true", "1", "t", "flood prone", "rawan banjir", "wet", "basah"),
        ),
    ),
    default_fields=("FLOODPRONE", "flood_prone", "rawan_banjir", "affected"),
)

LOW_MEDIUM_HIGH = Scheme(
    name="low_medium_high",
    type="categorical",
    hazard="other",
    description="Generic three-level hazard zones (e.g. BNPB InaRisk classes)",
    classes=(
        HazardClass("low", 0.33, "Rendah", aliases=("rendah", "1")),
        HazardClass("medium", 0.67, "Sedang", aliases=("sedang", "moderate", "2")),
        HazardClass("high", 1.0, "Tinggi", aliases=("tinggi", "3")),
    ),
    default_fields=("kelas", "class", "category", "hazard", "tingkat"),
)

FLOOD_DEPTH = Scheme(
    name="flood_depth",
    type="thresholds",
    hazard="flood",
    unit="m",
    description=(
        "Flood depth in metres: wet above 0.1 m; 0.1-0.7 m (knee to waist), 0.7-1.5 m "
        "(waist to head, dangerous to walk), above 1.5 m (life-threatening, houses flooded)"
    ),
    classes=(
        HazardClass("low", 0.33, "Rendah (0,1-0,7 m)", lower=0.1, upper=0.7),
        HazardClass("medium", 0.67, "Sedang (0,7-1,5 m)", lower=0.7, upper=1.5),
        HazardClass("high", 1.0, "Tinggi (> 1,5 m)", lower=1.5, upper=None),
    ),
    default_fields=("depth", "kedalaman", "depth_m"),
    extra={"wet_threshold": 0.1},
)

MMI = Scheme(
    name="mmi",
    type="thresholds",
    hazard="earthquake",
    unit="MMI",
    description=(
        "Modified Mercalli shaking intensity: VI (strong, light damage), VII (very strong, "
        "damage to poor buildings), VIII and above (severe to extreme)"
    ),
    classes=(
        HazardClass("VI", 0.33, "Kuat (VI)", lower=6.0, upper=7.0),
        HazardClass("VII", 0.67, "Sangat kuat (VII)", lower=7.0, upper=8.0),
        HazardClass("VIII+", 1.0, "Merusak (VIII ke atas)", lower=8.0, upper=None),
    ),
    default_fields=("mmi", "intensity", "PARAMVALUE"),
)

HAZARD_INDEX = Scheme(
    name="hazard_index",
    type="thresholds",
    hazard="other",
    unit="index 0..1",
    description="Generic hazard index 0..1 (e.g. InaRisk): low < 0.33 <= medium < 0.66 <= high",
    classes=(
        HazardClass("low", 0.33, "Rendah", lower=0.0, upper=0.33),
        HazardClass("medium", 0.67, "Sedang", lower=0.33, upper=0.66),
        HazardClass("high", 1.0, "Tinggi", lower=0.66, upper=None),
    ),
    default_fields=("index", "indeks", "value"),
)

SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        VOLCANO_KRB,
        TSUNAMI_CATEGORY,
        FLOOD_PRONE,
        LOW_MEDIUM_HIGH,
        FLOOD_DEPTH,
        MMI,
        HAZARD_INDEX,
    )
}
# The scheme used when a layer names none: (hazard, kind) -> scheme name.
DEFAULT_SCHEME: dict[tuple[str, str], str] = {
    ("volcano", "zones"): "volcano_krb",
    ("tsunami", "zones"): "tsunami_category",
    ("flood", "zones"): "flood_prone",
    ("flood", "raster"): "flood_depth",
    ("earthquake", "raster"): "mmi",
    ("earthquake", "zones"): "mmi",
}


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise KeyError(
            f"unknown classification scheme {name!r}; use one of {', '.join(SCHEMES)}"
        ) from None


def default_scheme(hazard: str, kind: str) -> Scheme:
    name = DEFAULT_SCHEME.get((hazard, kind))
    if name:
        return SCHEMES[name]
    return LOW_MEDIUM_HIGH if kind == "zones" else HAZARD_INDEX


def scheme_from_dict(data: Mapping[str, Any]) -> Scheme:
    """Rebuild a scheme stored in `hazard_layers.classification`."""
    classes = tuple(
        HazardClass(
            name=c["name"],
            severity=float(c["severity"]),
            label_id=c.get("label_id", c["name"]),
            lower=c.get("lower"),
            upper=c.get("upper"),
            aliases=tuple(c.get("aliases", ())),
        )
        for c in data["classes"]
    )
    known = {"name", "type", "hazard", "unit", "description", "classes"}
    return Scheme(
        name=data["name"],
        type=data["type"],
        hazard=data.get("hazard", "other"),
        description=data.get("description", ""),
        classes=classes,
        unit=data.get("unit"),
        extra={k: v for k, v in data.items() if k not in known},
    )


@dataclass(frozen=True)
class Categorised:
    classes: list[str | None]  # class name per value (None where unknown)
    unknown: list[str]  # distinct source values that matched no class


def categorise(
    scheme: Scheme, values: Iterable[object], class_map: Mapping[str, str] | None = None
) -> Categorised:
    """Match categorical labels to classes: class_map first, then class names and aliases."""
    lookup: dict[str, str] = {}
    for c in scheme.classes:
        for key in (c.name, c.label_id, *c.aliases):
            lookup[normalise_label(key)] = c.name
    mapped = {normalise_label(k): v for k, v in (class_map or {}).items()}
    out: list[str | None] = []
    unknown: dict[str, None] = {}
    for value in values:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
            unknown.setdefault("<empty>")
            continue
        key = normalise_label(value)
        name = mapped.get(key) or lookup.get(key)
        if name is None and isinstance(value, float) and value.is_integer():
            name = lookup.get(normalise_label(int(value)))
        out.append(name)
        if name is None:
            unknown.setdefault(str(value))
    return Categorised(classes=out, unknown=list(unknown))


def class_index(scheme: Scheme, values: np.ndarray | Sequence[float]) -> np.ndarray:
    """Threshold schemes: index into `scheme.classes` per value; -1 below the first bound or NaN."""
    if scheme.type != "thresholds":
        raise ValueError(f"scheme {scheme.name!r} is categorical; use categorise()")
    arr = np.asarray(values, dtype=float)
    index = np.full(arr.shape, -1, dtype=np.int16)
    for i, c in enumerate(scheme.classes):
        lower = -np.inf if c.lower is None else c.lower
        upper = np.inf if c.upper is None else c.upper
        index[(arr >= lower) & (arr < upper)] = i
    return index


def severity(scheme: Scheme, values: np.ndarray | Sequence[float]) -> np.ndarray:
    """Threshold schemes: severity weight per value, 0 where no class applies."""
    weights = np.array([c.severity for c in scheme.classes] + [0.0])
    return weights[class_index(scheme, values)]  # -1 picks the trailing 0


def describe(scheme: Scheme) -> str:
    """One line per class, for messages and docs."""
    lines = []
    for c in scheme.classes:
        if scheme.type == "thresholds":
            upper = "" if c.upper is None else f"{c.upper:g}"
            lines.append(f"{c.name}: [{c.lower:g}, {upper or '∞'}) severity {c.severity:g}")
        else:
            lines.append(f"{c.name}: severity {c.severity:g}")
    return "; ".join(lines)
