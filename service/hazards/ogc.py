"""The OGC API collection `hazard-zones`: the zones of the newest version of each layer."""

from __future__ import annotations

from sqlalchemy import FromClause, and_, select
from sqlalchemy.orm import aliased

from service.hazards.models import HAZARD_TYPES, HazardLayer, HazardZone
from service.ogc_collections import Collection, Filter


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


HAZARD_ZONES = Collection(
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


COLLECTIONS = (HAZARD_ZONES,)
