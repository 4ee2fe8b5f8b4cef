"""The OGC API collection `communities`: administrative units with their indicators."""

from __future__ import annotations

from service.communities.models import Community
from service.ogc_collections import Collection, Filter

COMMUNITY_PROPERTIES = (
    "code",
    "name",
    "level",
    "province_code",
    "province_name",
    "regency_code",
    "regency_name",
    "district_code",
    "district_name",
    "population",
    "area_km2",
    "share_elderly",
    "share_children",
    "share_disabled",
    "share_poor",
    "has_early_warning",
    "has_task_force",
    "has_evacuation_site",
    "drills_per_year",
)

COMMUNITIES = Collection(
    id="communities",
    title="Desa/kelurahan (komunitas)",
    description=(
        "Wilayah administrasi (desa/kelurahan dan lainnya) dengan kode Kemendagri, penduduk "
        "dan indikator kerentanan/kapasitas. Administrative units with their Kemendagri "
        "code, population and vulnerability/capacity indicators (null = unknown)."
    ),
    source=Community.__table__,
    id_column="code",
    properties=COMMUNITY_PROPERTIES,
    filters=(
        Filter(name="level", column="level", description="admin level, e.g. desa, kelurahan"),
        Filter(
            name="province_code", column="province_code", description="Kemendagri province code"
        ),
        Filter(
            name="regency_code",
            column="regency_code",
            description="Kemendagri regency/city code",
        ),
        Filter(
            name="district_code", column="district_code", description="Kemendagri district code"
        ),
    ),
    keywords=("desa", "kelurahan", "kemendagri", "communities"),
)

COLLECTIONS = (COMMUNITIES,)
