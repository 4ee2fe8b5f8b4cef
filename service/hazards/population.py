"""Which population raster a hazard layer is scored against: its pin.

A hazard layer records the population (exposure) raster it is scored against, so importing
another population raster over the same area never changes earlier layers' figures until
someone re-pins them (`PATCH /api/v1/hazard-layers/{id}`, `siaga hazards pin-population`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import InvalidInput
from service.hazards.models import HazardLayer


def population_rasters() -> Any:
    """Select the population (exposure) rasters."""
    return select(HazardLayer).where(
        HazardLayer.role == "exposure",
        HazardLayer.kind == "raster",
        HazardLayer.raster_path.is_not(None),
    )


def newest_covering(session: Session, layer: HazardLayer) -> HazardLayer | None:
    """The newest population raster whose extent meets the layer's (the default pin)."""
    q = population_rasters()
    if layer.extent is not None:
        q = q.where(
            HazardLayer.extent.is_(None) | func.ST_Intersects(HazardLayer.extent, layer.extent)
        )
    return session.scalars(
        q.order_by(HazardLayer.created_at.desc(), HazardLayer.id.desc()).limit(1)
    ).first()


def population_layer(session: Session, population_layer_id: int) -> HazardLayer:
    """The population raster with this id, or a 400 saying what to pass instead."""
    pop = session.scalars(population_rasters().where(HazardLayer.id == population_layer_id)).first()
    if pop is None:
        raise InvalidInput(
            f"population_layer_id {population_layer_id} is not a population raster: pass the id "
            "of a layer imported with role=exposure (GET /api/v1/hazard-layers?role=exposure)"
        )
    return pop


def pin(session: Session, layer: HazardLayer, population_layer_id: int | None) -> None:
    """Pin `layer` to the given population raster, or to the newest one covering it."""
    if layer.role != "hazard":
        if population_layer_id is not None:
            raise InvalidInput(
                f"layer {layer.id} ({layer.name}) is itself a population layer; only hazard "
                "layers are pinned to a population raster"
            )
        return
    if population_layer_id is not None:
        layer.population_layer_id = population_layer(session, population_layer_id).id
        return
    newest = newest_covering(session, layer)
    layer.population_layer_id = newest.id if newest is not None else None
