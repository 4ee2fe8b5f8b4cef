"""Hazard layer use cases: import a versioned layer (zones or raster), list and read layers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import box
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from service.db import advisory_lock_key, transaction
from service.errors import InvalidInput, NotFound
from service.geochecks import GeometryLimits
from service.hazards import population, storage
from service.hazards.importing import (
    guess_kind,
    inspect_raster,
    primary_file,
    read_zones,
    write_cog,
)
from service.hazards.models import HazardLayer, HazardZone
from service.hazards.schemas import HazardImportReport, HazardLayerCreate, HazardLayerPublic
from service.hazards.schemes import Scheme, default_scheme, get_scheme


def _scheme_for(spec: HazardLayerCreate, kind: str) -> Scheme | None:
    if spec.role == "exposure":
        if spec.scheme:
            raise InvalidInput("exposure layers take no classification scheme; drop the scheme")
        return None
    if spec.scheme:
        try:
            return get_scheme(spec.scheme)
        except KeyError as exc:
            raise InvalidInput(str(exc.args[0])) from exc
    return default_scheme(str(spec.hazard), kind)


def _next_version(session: Session, name: str) -> int:
    session.execute(
        text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_lock_key("hazard-layer", name)}
    )
    latest = session.scalar(select(func.max(HazardLayer.version)).where(HazardLayer.name == name))
    return int(latest or 0) + 1


def _new_layer(
    spec: HazardLayerCreate, *, kind: str, version: int, classification: dict[str, Any]
) -> HazardLayer:
    return HazardLayer(
        name=spec.name,
        version=version,
        role=spec.role,
        hazard=spec.hazard,
        kind=kind,
        title=spec.title,
        source=spec.source,
        licence=spec.licence,
        unit=spec.unit,
        valid_from=spec.valid_from,
        valid_to=spec.valid_to,
        classification=classification,
        properties={},
    )


def import_hazard_layer(
    *,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    paths: Sequence[Path],
    spec: HazardLayerCreate,
    label: str | None = None,
    limits: GeometryLimits | None = None,
) -> HazardImportReport:
    """Validate the file(s), then store a new version of layer `spec.name` in one transaction."""
    path = primary_file(paths, label=label or ", ".join(p.name for p in paths))
    label = label or path.name
    kind = spec.kind or guess_kind(path, label=label)
    scheme = _scheme_for(spec, kind)
    if kind == "zones":
        if scheme is None:
            raise InvalidInput(
                f"{label}: exposure layers must be rasters (population per cell); "
                "import zones as role=hazard"
            )
        return _import_zones(
            session_factory, path, spec=spec, scheme=scheme, label=label, limits=limits
        )
    if spec.class_field or spec.class_map or spec.intensity_field:
        raise InvalidInput(
            f"{label} is a raster: class_field, class_map and intensity_field apply to zone "
            "layers only; a raster is classified by its scheme's thresholds"
        )
    return _import_raster(session_factory, data_dir, path, spec=spec, scheme=scheme, label=label)


def _import_zones(
    session_factory: sessionmaker[Session],
    path: Path,
    *,
    spec: HazardLayerCreate,
    scheme: Scheme,
    label: str,
    limits: GeometryLimits | None,
) -> HazardImportReport:
    zones = read_zones(
        path,
        scheme=scheme,
        label=label,
        class_field=spec.class_field,
        class_map=spec.class_map,
        intensity_field=spec.intensity_field,
        layer=spec.layer,
        limits=limits,
    )
    classification = {
        **scheme.to_dict(),
        "field": zones.class_field,
        "class_map": spec.class_map or {},
        "intensity_field": zones.intensity_field,
    }
    with transaction(session_factory) as session:
        layer = _new_layer(
            spec,
            kind="zones",
            version=_next_version(session, spec.name),
            classification=classification,
        )
        layer.extent = from_shape(box(*zones.bounds), srid=4326)
        population.pin(session, layer, spec.population_layer_id)
        session.add(layer)
        session.flush()
        session.execute(
            insert(HazardZone),
            [
                {
                    "layer_id": layer.id,
                    "hazard_class": c,
                    "intensity": v,
                    "properties": p,
                    "geom": from_shape(g, srid=4326),
                }
                for c, v, p, g in zip(
                    zones.classes, zones.intensity, zones.properties, zones.geoms, strict=True
                )
            ],
        )
        public = _public(session, layer)
    return HazardImportReport(
        layer=public,
        file=label,
        features=len(zones.classes),
        repaired=zones.repaired,
        simplified=zones.simplified,
        skipped_below_threshold=zones.skipped,
    )


def _import_raster(
    session_factory: sessionmaker[Session],
    data_dir: Path,
    path: Path,
    *,
    spec: HazardLayerCreate,
    scheme: Scheme | None,
    label: str,
) -> HazardImportReport:
    info = inspect_raster(path, label=label)
    classification = scheme.to_dict() if scheme else {}
    with session_factory() as session:
        session.begin()
        layer = _new_layer(
            spec,
            kind="raster",
            version=_next_version(session, spec.name),
            classification=classification,
        )
        layer.raster_meta = {**info.meta, "format": "COG", "source_file": label}
        layer.extent = from_shape(box(*info.bounds_4326), srid=4326)
        population.pin(session, layer, spec.population_layer_id)
        session.add(layer)
        session.flush()  # the row's id names the file
        relpath = storage.raster_relpath(layer.id, layer.version)
        # The commit happens inside the file's guard: a failed commit removes the file again.
        with storage.pending_file(data_dir, relpath, lambda dest: write_cog(info.source, dest)):
            layer.raster_path = relpath.as_posix()
            session.flush()
            public = _public(session, layer)
            session.commit()
    return HazardImportReport(layer=public, file=label)


def _public(
    session: Session, layer: HazardLayer, counts: dict[str, int] | None = None
) -> HazardLayerPublic:
    bbox = session.execute(
        select(
            func.ST_XMin(HazardLayer.extent),
            func.ST_YMin(HazardLayer.extent),
            func.ST_XMax(HazardLayer.extent),
            func.ST_YMax(HazardLayer.extent),
        ).where(HazardLayer.id == layer.id)
    ).one()
    public = HazardLayerPublic.model_validate(layer, from_attributes=True)
    public.bbox = None if bbox[0] is None else [float(v) for v in bbox]
    if layer.kind == "zones":
        if counts is None:
            rows = session.execute(
                select(HazardZone.hazard_class, func.count())
                .where(HazardZone.layer_id == layer.id)
                .group_by(HazardZone.hazard_class)
            )
            counts = {str(c): int(n) for c, n in rows}
        public.class_counts = counts
        public.zone_count = sum(counts.values())
    return public


def list_layers(
    *,
    session: Session,
    name: str | None = None,
    hazard: str | None = None,
    role: str | None = None,
    latest_only: bool = False,
) -> list[HazardLayerPublic]:
    stmt = select(HazardLayer).order_by(HazardLayer.name, HazardLayer.version)
    if name:
        stmt = stmt.where(HazardLayer.name == name)
    if hazard:
        stmt = stmt.where(HazardLayer.hazard == hazard)
    if role:
        stmt = stmt.where(HazardLayer.role == role)
    layers = list(session.scalars(stmt))
    if latest_only:
        latest: dict[str, HazardLayer] = {}
        for layer in layers:
            latest[layer.name] = layer
        layers = list(latest.values())
    counts: dict[int, dict[str, int]] = {}
    zone_ids = [layer.id for layer in layers if layer.kind == "zones"]
    if zone_ids:
        rows = session.execute(
            select(HazardZone.layer_id, HazardZone.hazard_class, func.count())
            .where(HazardZone.layer_id.in_(zone_ids))
            .group_by(HazardZone.layer_id, HazardZone.hazard_class)
        )
        for layer_id, cls, n in rows:
            counts.setdefault(int(layer_id), {})[str(cls)] = int(n)
    return [
        _public(session, layer, counts.get(layer.id, {}) if layer.kind == "zones" else None)
        for layer in layers
    ]


def get_layer(*, session: Session, layer_id: int) -> HazardLayerPublic:
    layer = session.get(HazardLayer, layer_id)
    if layer is None:
        raise NotFound(f"no hazard layer with id {layer_id}; list them at /api/v1/hazard-layers")
    return _public(session, layer)


def delete_layer(*, session: Session, layer_id: int) -> dict[str, Any]:
    """Delete one layer version with its zones and scores (FK cascade).

    The caller records the audit entry, commits, then removes the raster file with
    `storage.remove_file(data_dir, details["raster_path"])`.
    """
    layer = session.get(HazardLayer, layer_id)
    if layer is None:
        raise NotFound(f"no hazard layer with id {layer_id}; list them at /api/v1/hazard-layers")
    details: dict[str, Any] = {
        "name": layer.name,
        "version": layer.version,
        "kind": layer.kind,
        "raster_path": layer.raster_path,
    }
    session.delete(layer)
    session.flush()
    return details


def pin_population(
    *, session: Session, layer_id: int, population_layer_id: int | None
) -> HazardLayerPublic:
    """Re-pin a hazard layer to a population raster (None: the newest covering it now).

    The layer's scores change at its next recompute, not before."""
    layer = session.get(HazardLayer, layer_id)
    if layer is None:
        raise NotFound(f"no hazard layer with id {layer_id}; list them at /api/v1/hazard-layers")
    if layer.role != "hazard":
        raise InvalidInput(
            f"layer {layer_id} ({layer.name}) is a population layer; pin hazard layers only"
        )
    population.pin(session, layer, population_layer_id)
    session.flush()
    return _public(session, layer)
