"""`siaga communities ...` commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from service.clitools import parse_pairs, user_errors
from service.geochecks import GeometryLimits
from service.ops.cli import audited_write

app = typer.Typer(
    help="communities (desa/kelurahan boundaries and indicators)", no_args_is_help=True
)
console = Console()


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., help="GeoJSON, GeoPackage or zipped Shapefile"),
    code_field: str = typer.Option(None, help="field with the Kemendagri code [default: kode]"),
    name_field: str = typer.Option(None, help="field with the name [default: nama]"),
    level_field: str = typer.Option(None, help="admin level [default: level]"),
    province_code_field: str = typer.Option(None, help="[default: kode_prov]"),
    province_name_field: str = typer.Option(None, help="[default: nama_prov]"),
    regency_code_field: str = typer.Option(None, help="[default: kode_kab]"),
    regency_name_field: str = typer.Option(None, help="[default: nama_kab]"),
    district_code_field: str = typer.Option(None, help="[default: kode_kec]"),
    district_name_field: str = typer.Option(None, help="[default: nama_kec]"),
    population_field: str = typer.Option(None, help="[default: population]"),
    field: list[str] = typer.Option(
        None, "--field", help="COLUMN=SOURCE for any column, e.g. share_poor=persen_miskin"
    ),
    layer: str = typer.Option(None, help="layer of a multi-layer GeoPackage"),
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Import (upsert by code) every feature of a boundary file in one transaction."""
    from service.communities.schemas import FieldMapping
    from service.communities.service import import_communities
    from service.runtime import open_runtime

    with user_errors():
        options = {
            "code_field": code_field,
            "name_field": name_field,
            "level_field": level_field,
            "province_code_field": province_code_field,
            "province_name_field": province_name_field,
            "regency_code_field": regency_code_field,
            "regency_name_field": regency_name_field,
            "district_code_field": district_code_field,
            "district_name_field": district_name_field,
            "population_field": population_field,
        }
        for column, source in parse_pairs(field, "--field").items():
            key = f"{column}_field"
            if key not in FieldMapping.model_fields:
                raise typer.BadParameter(f"unknown column {column!r}", param_hint="--field")
            options[key] = source
        mapping = FieldMapping(layer=layer, **{k: v for k, v in options.items() if v})
        with open_runtime() as rt:
            report = import_communities(
                session_factory=rt.session_factory,
                path=path,
                mapping=mapping,
                limits=GeometryLimits.of(rt.settings.imports),
            )
    if json_output:
        typer.echo(report.model_dump_json())
        return
    console.print(
        f"{report.file}: {report.features} features — [green]{report.created} created[/green], "
        f"{report.updated} updated, {report.unchanged} unchanged"
    )
    if report.repaired:
        console.print(f"repaired invalid geometry: {', '.join(report.repaired)}")


@app.command("delete")
def delete(
    code: str = typer.Argument(..., help="the community's Kemendagri code"),
    yes: bool = typer.Option(False, "--yes", help="do not ask for confirmation"),
) -> None:
    """Delete one community with its risk scores (audited)."""
    from service.communities.service import delete_community

    if not yes:
        typer.confirm(f"delete community {code} and its risk scores?", abort=True)
    with audited_write("communities.delete", f"community:{code}") as (_, session, details):
        details.update(delete_community(session=session, code=code))
    console.print(f"deleted community {code} ({details['name']})")
