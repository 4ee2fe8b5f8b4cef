"""`siaga hazards ...` commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from service.clitools import parse_pairs, user_errors
from service.geochecks import GeometryLimits
from service.ops.cli import audited_write

app = typer.Typer(help="hazard and exposure layers", no_args_is_help=True)
console = Console()


@app.command("import")
def import_layer(
    paths: list[Path] = typer.Argument(
        ..., help="the layer file (.tif, .asc [+ .prj], .geojson, .gpkg, .shp, .zip)"
    ),
    name: str = typer.Option(..., help="layer name; an existing name gets a new version"),
    hazard: str = typer.Option(
        None, help="flood, earthquake, tsunami, volcano, landslide, extreme_weather, other"
    ),
    role: str = typer.Option("hazard", help="hazard, or exposure for population rasters"),
    kind: str = typer.Option(None, help="zones or raster [default: from the file]"),
    scheme: str = typer.Option(None, help="classification scheme (`siaga hazards schemes`)"),
    class_field: str = typer.Option(None, help="zones: field holding the class"),
    class_map: list[str] = typer.Option(
        None, "--class-map", help="zones: VALUE=CLASS, e.g. 'Zona Merah=KRB III' (repeat)"
    ),
    intensity_field: str = typer.Option(None, help="zones: numeric intensity field"),
    title: str = typer.Option(None),
    source: str = typer.Option(None, help="who made the data"),
    licence: str = typer.Option(None),
    unit: str = typer.Option(None, help="unit of raster values, e.g. m or people"),
    valid_from: datetime = typer.Option(None),
    valid_to: datetime = typer.Option(None),
    layer: str = typer.Option(None, help="layer of a multi-layer GeoPackage"),
    population_layer: int = typer.Option(
        None,
        "--population-layer",
        help="hazard layers: population raster id to score against [default: newest covering]",
    ),
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Import a hazard or exposure layer as a new version (one transaction)."""
    from service.hazards.schemas import HazardLayerCreate
    from service.hazards.service import import_hazard_layer
    from service.runtime import open_runtime

    with user_errors():
        given = {
            "kind": kind,
            "scheme": scheme,
            "class_field": class_field,
            "intensity_field": intensity_field,
            "title": title,
            "source": source,
            "licence": licence,
            "unit": unit,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "layer": layer,
            "hazard": hazard,
            "population_layer_id": population_layer,
        }
        spec = HazardLayerCreate(
            name=name,
            role=role,
            class_map=parse_pairs(class_map, "--class-map") or None,
            **{k: v for k, v in given.items() if v is not None},
        )
        with open_runtime() as rt:
            report = import_hazard_layer(
                session_factory=rt.session_factory,
                data_dir=rt.settings.storage.data_dir,
                paths=paths,
                spec=spec,
                limits=GeometryLimits.of(rt.settings.imports),
            )
    if json_output:
        typer.echo(report.model_dump_json())
        return
    lay = report.layer
    console.print(f"layer {lay.name} v{lay.version} (id {lay.id}, {lay.kind}, {lay.role})")
    if lay.kind == "zones":
        console.print(f"{report.features} zones: {lay.class_counts}")
        if report.repaired:
            console.print(f"repaired geometry of features {report.repaired}")
    else:
        meta = lay.raster_meta or {}
        console.print(
            f"stored {lay.raster_path}: {meta.get('width')}x{meta.get('height')} "
            f"{meta.get('crs')} stats {meta.get('stats')}"
        )


@app.command("pin-population")
def pin_population(
    layer_id: int = typer.Argument(..., help="the hazard layer (version) id"),
    population_layer_id: int = typer.Argument(..., help="the population raster's layer id"),
) -> None:
    """Score a hazard layer against this population raster from its next recompute on."""
    from service.hazards.service import pin_population as pin

    target = f"hazard_layer:{layer_id}"
    with audited_write("hazard_layers.pin_population", target) as (_, session, details):
        lay = pin(session=session, layer_id=layer_id, population_layer_id=population_layer_id)
        details["population_layer_id"] = lay.population_layer_id
    console.print(
        f"layer {lay.name} v{lay.version} (id {lay.id}) now scored against population layer "
        f"{lay.population_layer_id}; run `siaga risk recompute` to apply"
    )


@app.command("list")
def list_layers() -> None:
    """Every layer version."""
    from service.hazards.service import list_layers as list_all
    from service.runtime import open_runtime

    with open_runtime() as rt, rt.session_factory() as session:
        table = Table("id", "name", "v", "role", "hazard", "kind", "scheme", "zones/size")
        for lay in list_all(session=session):
            meta = lay.raster_meta or {}
            size = (
                str(lay.zone_count)
                if lay.kind == "zones"
                else f"{meta.get('width')}x{meta.get('height')}"
            )
            table.add_row(
                str(lay.id),
                lay.name,
                str(lay.version),
                lay.role,
                lay.hazard or "",
                lay.kind,
                str(lay.classification.get("name", "")),
                size,
            )
        console.print(table)


@app.command("schemes")
def schemes() -> None:
    """The built-in classification schemes."""
    from service.hazards.schemes import SCHEMES, describe

    for scheme in SCHEMES.values():
        console.print(
            f"[bold]{scheme.name}[/bold] ({scheme.type}, {scheme.hazard}): {scheme.description}"
        )
        console.print(f"  {describe(scheme)}")


@app.command("delete")
def delete(
    layer_id: int = typer.Argument(..., help="the layer version's id (`siaga hazards list`)"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Delete one layer version with its zones, scores and raster file (audited)."""
    from service.hazards import storage
    from service.hazards.service import delete_layer

    if not yes:
        typer.confirm(f"delete hazard layer {layer_id} with its zones and scores?", abort=True)
    target = f"hazard_layer:{layer_id}"
    with audited_write("hazard_layers.delete", target) as (rt, session, details):
        details.update(delete_layer(session=session, layer_id=layer_id))
        data_dir = rt.settings.storage.data_dir
    storage.remove_file(data_dir, details["raster_path"])  # once the rows are gone for good
    console.print(f"deleted layer {details['name']} v{details['version']} (id {layer_id})")
