"""The collections of the foundation: communities and hazard zones."""

from __future__ import annotations

from sqlalchemy import FromClause, and_, select
from sqlalchemy.orm import aliased

from service.api.ogc.registry import Collection, Filter, register
from service.communities.models import Community
from service.hazards.models import HAZARD_TYPES, HazardLayer, HazardZone

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

register(
    Collection(
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
)


def _hazard_zones_source() -> FromClause:
    """Zones of the newest version of each hazard layer, with the layer's attributes."""
    newer = aliased(HazardLayer)
    newest = (
        ~select(newer.id)
        .where(newer.name == HazardLayer.name, newer.version > HazardLayer.version)
        .exists()
    )
    return (
        select(
            HazardZone.id.label("id"),
            HazardLayer.id.label("layer_id"),
            HazardLayer.name.label("layer"),
            HazardLayer.version.label("version"),
            HazardLayer.hazard.label("hazard"),
            HazardZone.hazard_class.label("class"),
            HazardZone.intensity.label("intensity"),
            HazardLayer.source.label("source"),
            HazardLayer.valid_from.label("valid_from"),
            HazardLayer.valid_to.label("valid_to"),
            HazardZone.geom.label("geom"),
        )
        .join(HazardLayer, HazardLayer.id == HazardZone.layer_id)
        .where(and_(HazardLayer.kind == "zones", HazardLayer.role == "hazard", newest))
        .subquery("ogc_hazard_zones")
    )


register(
    Collection(
        id="hazard-zones",
        title="Zona bahaya (hazard zones)",
        description=(
            "Zona bahaya vektor dari versi terbaru setiap lapisan bahaya: kelas dan intensitas. "
            "Vector hazard zones of the newest version of each hazard layer, with class and "
            "intensity; datetime filters on the layer's validity."
        ),
        source=_hazard_zones_source,
        id_column="id",
        properties=(
            "layer",
            "layer_id",
            "version",
            "hazard",
            "class",
            "intensity",
            "source",
            "valid_from",
            "valid_to",
        ),
        time_column="valid_from",
        time_end_column="valid_to",
        filters=(
            Filter(name="layer", column="layer", description="hazard layer name"),
            Filter(name="hazard", column="hazard", enum=HAZARD_TYPES, description="hazard type"),
            Filter(name="class", column="class", description="hazard class, e.g. III or high"),
        ),
        keywords=("hazard", "bahaya", "zones"),
    )
)
