"""Input and output models for communities: field mapping, Create, Update, Public, import report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_POPULATION = 1_000_000_000  # more than any admin unit; keeps BIGINT maths far from overflow
# Model column -> the source field read by default (fits the Kepmendagri boundary files).
DEFAULT_FIELDS: dict[str, str] = {
    "code": "kode",
    "name": "nama",
    "level": "level",
    "province_code": "kode_prov",
    "province_name": "nama_prov",
    "regency_code": "kode_kab",
    "regency_name": "nama_kab",
    "district_code": "kode_kec",
    "district_name": "nama_kec",
    "population": "population",
    "share_elderly": "share_elderly",
    "share_children": "share_children",
    "share_disabled": "share_disabled",
    "share_poor": "share_poor",
    "has_early_warning": "has_early_warning",
    "has_task_force": "has_task_force",
    "has_evacuation_site": "has_evacuation_site",
    "drills_per_year": "drills_per_year",
}
TEXT_COLUMNS = (
    "name",
    "level",
    "province_code",
    "province_name",
    "regency_code",
    "regency_name",
    "district_code",
    "district_name",
)
SHARE_COLUMNS = ("share_elderly", "share_children", "share_disabled", "share_poor")
BOOL_COLUMNS = ("has_early_warning", "has_task_force", "has_evacuation_site")
COUNT_COLUMNS = ("population", "drills_per_year")
INDICATOR_COLUMNS = ("population", *SHARE_COLUMNS, *BOOL_COLUMNS, "drills_per_year")
# Compared on re-import to decide created / updated / unchanged.
DATA_COLUMNS = (*TEXT_COLUMNS, *INDICATOR_COLUMNS)


class FieldMapping(BaseModel):
    """Which source field fills which column; None means "the default name, if the file has it".

    A field named explicitly must exist in the file. `code` and `name` are always required.
    """

    # Unknown fields are refused by the caller (the API checks form keys, the CLI has options).
    model_config = ConfigDict(extra="ignore")

    code_field: str | None = Field(None, description="unique Kemendagri code (default kode)")
    name_field: str | None = Field(None, description="name (default nama)")
    level_field: str | None = Field(None, description="admin level (default level)")
    province_code_field: str | None = Field(None, description="default kode_prov")
    province_name_field: str | None = Field(None, description="default nama_prov")
    regency_code_field: str | None = Field(None, description="default kode_kab")
    regency_name_field: str | None = Field(None, description="default nama_kab")
    district_code_field: str | None = Field(None, description="default kode_kec")
    district_name_field: str | None = Field(None, description="default nama_kec")
    population_field: str | None = Field(None, description="default population")
    share_elderly_field: str | None = None
    share_children_field: str | None = None
    share_disabled_field: str | None = None
    share_poor_field: str | None = None
    has_early_warning_field: str | None = None
    has_task_force_field: str | None = None
    has_evacuation_site_field: str | None = None
    drills_per_year_field: str | None = None
    layer: str | None = Field(None, description="layer to read from a multi-layer GeoPackage")

    def explicit(self) -> dict[str, str]:
        """Columns whose source field was named by the caller."""
        out = {}
        for column in DEFAULT_FIELDS:
            value = getattr(self, f"{column}_field")
            if value is not None and value.strip():
                out[column] = value.strip()
        return out


class CommunityCreate(BaseModel):
    """One validated community row as the importer produces it (geometry kept aside)."""

    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1)
    level: str | None = None
    province_code: str | None = None
    province_name: str | None = None
    regency_code: str | None = None
    regency_name: str | None = None
    district_code: str | None = None
    district_name: str | None = None
    population: int | None = Field(None, ge=0, le=MAX_POPULATION)
    share_elderly: float | None = Field(None, ge=0, le=1)
    share_children: float | None = Field(None, ge=0, le=1)
    share_disabled: float | None = Field(None, ge=0, le=1)
    share_poor: float | None = Field(None, ge=0, le=1)
    has_early_warning: bool | None = None
    has_task_force: bool | None = None
    has_evacuation_site: bool | None = None
    drills_per_year: int | None = Field(None, ge=0)


class CommunityUpdate(BaseModel):
    """PATCH body: population and indicators; send null to mark a value unknown."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    population: int | None = Field(None, ge=0, le=MAX_POPULATION)
    share_elderly: float | None = Field(None, ge=0, le=1, description="share of people aged 65+")
    share_children: float | None = Field(None, ge=0, le=1, description="share under 15")
    share_disabled: float | None = Field(None, ge=0, le=1, description="share with disabilities")
    share_poor: float | None = Field(None, ge=0, le=1, description="share below the poverty line")
    has_early_warning: bool | None = None
    has_task_force: bool | None = None
    has_evacuation_site: bool | None = None
    drills_per_year: int | None = Field(None, ge=0, le=366)


class CommunityPublic(CommunityCreate):
    id: int
    area_km2: float | None
    properties: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON MultiPolygon, EPSG:4326")


class CommunityImportReport(BaseModel):
    file: str
    features: int
    created: int
    updated: int
    unchanged: int
    repaired: list[str] = Field(description="codes whose invalid geometry was repaired")
    simplified: list[str] = Field(
        default_factory=list, description="codes simplified to the vertex limit"
    )
    fields: dict[str, str] = Field(description="column -> source field used")
