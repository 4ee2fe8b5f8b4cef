"""Input and output models for hazard and exposure layers."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HazardType = Literal[
    "flood", "earthquake", "tsunami", "volcano", "landslide", "extreme_weather", "other"
]
Role = Literal["hazard", "exposure"]
Kind = Literal["zones", "raster"]


class HazardLayerCreate(BaseModel):
    """What describes a layer on import (CLI options or multipart form fields)."""

    # Unknown fields are refused by the caller (the API checks form keys, the CLI has options).
    model_config = ConfigDict(extra="ignore")

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\w .\-]+$",
        description="layer name; importing under an existing name adds a version",
    )
    role: Role = Field("hazard", description="hazard, or exposure for population rasters")
    hazard: HazardType | None = Field(None, description="required for role=hazard")
    kind: Kind | None = Field(None, description="zones or raster; guessed from the file if absent")
    scheme: str | None = Field(None, description="classification scheme (see docs/imports.md)")
    class_field: str | None = Field(None, description="zones: the field holding the class")
    class_map: dict[str, str] | None = Field(
        None, description='zones: source value -> class, JSON e.g. {"Zona A": "KRB III"}'
    )
    intensity_field: str | None = Field(None, description="zones: numeric field for intensity")
    title: str | None = None
    source: str | None = None
    licence: str | None = None
    unit: str | None = Field(None, max_length=32)
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    layer: str | None = Field(None, description="layer inside a multi-layer GeoPackage")
    population_layer_id: int | None = Field(
        None,
        gt=0,
        description="hazard layers: the population raster to score against "
        "(default: the newest one covering the layer at import)",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text may not contain NUL characters")
        return value

    @field_validator("class_map", mode="before")
    @classmethod
    def _parse_class_map(cls, value: Any) -> Any:
        # Form fields arrive as text: accept JSON or "value=class;value=class".
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return None
            if text.startswith("{"):
                return json.loads(text)
            pairs = [p for p in re.split(r"[;\n]", text) if p.strip()]
            out = {}
            for pair in pairs:
                if "=" not in pair:
                    raise ValueError(f"class_map entry {pair!r} is not VALUE=CLASS")
                key, _, val = pair.partition("=")
                out[key.strip()] = val.strip()
            return out
        return value

    @model_validator(mode="after")
    def _hazard_for_hazard_layers(self) -> HazardLayerCreate:
        if self.role == "hazard" and self.hazard is None:
            raise ValueError(
                "hazard is required for a hazard layer (flood, earthquake, tsunami, volcano, "
                "landslide, extreme_weather, other); use role=exposure for population rasters"
            )
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class HazardLayerPublic(BaseModel):
    id: int
    name: str
    version: int
    role: str
    hazard: str | None
    kind: str
    title: str | None
    source: str | None
    licence: str | None
    unit: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    classification: dict[str, Any]
    raster_path: str | None = None
    raster_meta: dict[str, Any] | None = None
    bbox: list[float] | None = Field(None, description="EPSG:4326 extent: minx, miny, maxx, maxy")
    zone_count: int | None = None
    class_counts: dict[str, int] | None = None
    population_layer_id: int | None = Field(
        None, description="the population raster this hazard layer is scored against"
    )
    properties: dict[str, Any] = Field(default_factory=dict)


class HazardLayerUpdate(BaseModel):
    """What can change on a stored layer version: its population pin."""

    model_config = ConfigDict(extra="forbid")

    population_layer_id: int | None = Field(
        ...,
        gt=0,
        description="the population raster to score against; null pins the newest covering it",
    )


class HazardImportReport(BaseModel):
    layer: HazardLayerPublic
    file: str
    features: int | None = Field(None, description="zones stored")
    repaired: list[int] = Field(default_factory=list, description="feature numbers repaired")
    simplified: list[int] = Field(
        default_factory=list, description="feature numbers simplified to the vertex limit"
    )
    skipped_below_threshold: int = 0
