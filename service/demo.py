"""Demo data for the quick start, generated in code (nothing copied from real data sets).

A fictional city shaped like Palu (Sulawesi Tengah): 60 kelurahan tiling the valley around
119.87 E, 0.90 S as a Voronoi mosaic, with Kemendagri-like codes under the unused province
code 99 (so real imports never collide with them), population and indicators; a flood-depth
raster along a river running north into a bay; a population raster on the same grid made
from the kelurahan populations; and volcano-like KRB zones around a fictional vent.

`load_demo()` is idempotent: communities upsert by code, layers are added only when absent.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import Point, Polygon, box

from service.geochecks import GeometryLimits
from service.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from service.hazards.schemas import HazardLayerCreate

SEED = 2018  # the Palu earthquake and tsunami year; any fixed seed keeps the demo stable
BBOX = (119.80, -0.98, 119.96, -0.82)  # minx, miny, maxx, maxy
CELL = 0.001  # degrees (~110 m)
N_COMMUNITIES = 60
PROVINCE = ("99", "Sulawesi Tengah (demo)")
REGENCY = ("99.71", "Kota Palu (demo)")
DISTRICTS = ["Palu Barat", "Palu Timur", "Palu Selatan", "Palu Utara", "Tatanga", "Mantikulore"]
SYLLABLES = ["ta", "lo", "bu", "ka", "si", "po", "ri", "ba", "ng", "to", "wa", "le", "mo", "nu"]
VENT = (119.935, -0.845)
DEMO_LAYERS = ("demo-flood-depth", "demo-population", "demo-volcano-krb")


def _name(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        parts = rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))
        name = "".join(parts).capitalize()
        if name not in used and not name.endswith("ng"):
            used.add(name)
            return name


def demo_communities(n: int = N_COMMUNITIES, seed: int = SEED) -> gpd.GeoDataFrame:
    """Kelurahan polygons tiling BBOX (Voronoi cells of jittered seeds) with indicators."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = BBOX
    side = int(np.ceil(np.sqrt(n)))
    xs, ys = np.meshgrid(
        np.linspace(minx, maxx, side + 2)[1:-1], np.linspace(miny, maxy, side + 2)[1:-1]
    )
    step = (maxx - minx) / (side + 1)
    points = np.column_stack([xs.ravel(), ys.ravel()])[:n]
    points += rng.uniform(-0.35 * step, 0.35 * step, size=points.shape)
    frame_box = box(*BBOX)
    cells = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=frame_box)
    polys = [c.intersection(frame_box) for c in shapely.get_parts(cells)]
    # Voronoi output order is not the seed order; sort cells south-west to north-east.
    polys.sort(key=lambda p: (round(p.centroid.y, 3), p.centroid.x))

    used: set[str] = set()
    rows = []
    for i, poly in enumerate(polys):
        district = i * len(DISTRICTS) // len(polys)
        district_code = f"{REGENCY[0]}.{district + 1:02d}"
        centre_dist = Point(119.87, -0.90).distance(poly.centroid)
        density = float(np.clip(9000 * np.exp(-centre_dist / 0.03), 300, None))
        area_km2 = poly.area * 111.32**2
        unknown = rng.random() < 0.2  # some indicators are not surveyed yet
        rows.append(
            {
                "kode": f"{district_code}.{1001 + i:04d}",
                "nama": _name(rng, used),
                "level": "desa_kelurahan",
                "kode_prov": PROVINCE[0],
                "nama_prov": PROVINCE[1],
                "kode_kab": REGENCY[0],
                "nama_kab": REGENCY[1],
                "kode_kec": district_code,
                "nama_kec": DISTRICTS[district],
                "population": round(density * area_km2 * float(rng.uniform(0.8, 1.2))),
                "share_elderly": None if unknown else round(float(rng.uniform(0.05, 0.12)), 3),
                "share_children": round(float(rng.uniform(0.2, 0.3)), 3),
                "share_disabled": None if unknown else round(float(rng.uniform(0.01, 0.04)), 3),
                "share_poor": round(float(rng.uniform(0.04, 0.25)), 3),
                "has_early_warning": bool(rng.random() < 0.4),
                "has_task_force": None if unknown else bool(rng.random() < 0.5),
                "has_evacuation_site": bool(rng.random() < 0.6),
                "drills_per_year": int(rng.integers(0, 4)),
                "demo": True,
                "geometry": poly,
            }
        )
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


@dataclass(frozen=True)
class Grid:
    transform: rasterio.Affine
    width: int
    height: int

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        cols, rows = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        xs = self.transform.c + cols * self.transform.a
        ys = self.transform.f + rows * self.transform.e
        return xs, ys


def demo_grid() -> Grid:
    minx, miny, maxx, maxy = BBOX
    width = round((maxx - minx) / CELL)
    height = round((maxy - miny) / CELL)
    return Grid(Affine(CELL, 0.0, minx, 0.0, -CELL, maxy), width, height)


def demo_flood_depth(grid: Grid, seed: int = SEED) -> np.ndarray:
    """Depth in metres: deepest along a meandering river and near the bay in the north."""
    rng = np.random.default_rng(seed + 1)
    xs, ys = grid.centres()
    river_x = 119.87 + 0.008 * np.sin((ys + 0.98) * 40)
    distance = np.abs(xs - river_x)
    northness = (ys - BBOX[1]) / (BBOX[3] - BBOX[1])  # 0 south .. 1 north (coast)
    depth = 2.8 * np.exp(-((distance / (0.006 + 0.012 * northness)) ** 2)) * (0.5 + northness)
    depth += rng.normal(0, 0.05, size=depth.shape)
    depth[depth < 0.05] = 0.0
    return depth.astype("float32")


def demo_population(grid: Grid, communities: gpd.GeoDataFrame) -> np.ndarray:
    """People per cell: each kelurahan's population spread evenly over its cells."""
    ids = rasterize(
        ((geom, i + 1) for i, geom in enumerate(communities.geometry)),
        out_shape=(grid.height, grid.width),
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )
    counts = np.bincount(ids.ravel(), minlength=len(communities) + 1)
    population = np.concatenate([[0], communities["population"].to_numpy(dtype=float)])
    per_cell = np.divide(population, counts, out=np.zeros_like(population), where=counts > 0)
    return per_cell[ids].astype("float32")


def demo_volcano_zones() -> gpd.GeoDataFrame:
    """KRB III / II / I as nested, lobed rings around a fictional vent (PVMBG field style)."""
    angles = np.linspace(0, 2 * np.pi, 73)[:-1]
    # Lobes: zones reach further down-valley (south-west), as lahar paths do.
    lobe = 1 + 0.35 * np.cos(angles - np.radians(225))

    def ring(radius: float) -> Polygon:
        return Polygon(
            np.column_stack(
                [VENT[0] + radius * lobe * np.cos(angles), VENT[1] + radius * lobe * np.sin(angles)]
            )
        )

    iii, ii, i = ring(0.012), ring(0.025), ring(0.045)
    zones = [
        ("Kawasan Rawan Bencana III", iii),
        ("Kawasan Rawan Bencana II", ii.difference(iii)),
        ("Kawasan Rawan Bencana I", i.difference(ii)),
    ]
    return gpd.GeoDataFrame(
        [{"GUNUNG": "Gunung Demo", "KRB": krb, "geometry": g} for krb, g in zones],
        crs="EPSG:4326",
    )


def _write_tif(path: Path, grid: Grid, data: np.ndarray) -> None:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=1,
        dtype=data.dtype,
        crs="EPSG:4326",
        transform=grid.transform,
        nodata=-9999.0,
    ) as dst:
        dst.write(data, 1)


@dataclass
class DemoReport:
    communities: dict[str, int] = field(default_factory=dict)
    layers_added: list[str] = field(default_factory=list)
    layers_present: list[str] = field(default_factory=list)
    feeds_added: list[str] = field(default_factory=list)


def load_demo(settings: Settings | None = None) -> DemoReport:
    """Load the demo communities and layers into the configured database (idempotent)."""
    from service.db import transaction
    from service.feeds.service import register_public_feeds
    from service.runtime import open_runtime

    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # it logs every file it writes
    report = DemoReport()
    communities = demo_communities()
    with open_runtime(settings) as rt, tempfile.TemporaryDirectory(prefix="siaga-demo-") as tmp:
        folder = Path(tmp)
        limits = GeometryLimits.of(rt.settings.imports)
        report.communities = _load_communities(rt.session_factory, folder, communities, limits)
        _load_layers(rt.session_factory, rt.settings, folder, communities, limits, report)
        # The real public feeds, registered disabled: the demo never depends on reaching them.
        with transaction(rt.session_factory) as session:
            report.feeds_added = [f.name for f in register_public_feeds(session=session)]
    return report


def _load_communities(
    session_factory: sessionmaker[Session],
    folder: Path,
    communities: gpd.GeoDataFrame,
    limits: GeometryLimits,
) -> dict[str, int]:
    from service.communities.service import import_communities

    boundaries = folder / "demo_palu_kelurahan.geojson"
    communities.to_file(boundaries, driver="GeoJSON")
    result = import_communities(session_factory=session_factory, path=boundaries, limits=limits)
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}


def _layer_specs() -> dict[str, HazardLayerCreate]:
    from service.hazards.schemas import HazardLayerCreate

    return {
        "demo-flood-depth": HazardLayerCreate(
            name="demo-flood-depth",
            hazard="flood",
            unit="m",
            scheme="flood_depth",
            title="Demo: kedalaman banjir (skenario)",
            source="Siaga demo generator",
            licence="CC0 (synthetic)",
        ),
        "demo-population": HazardLayerCreate(
            name="demo-population",
            role="exposure",
            unit="people",
            title="Demo: penduduk per sel",
            source="Siaga demo generator",
            licence="CC0 (synthetic)",
        ),
        "demo-volcano-krb": HazardLayerCreate(
            name="demo-volcano-krb",
            hazard="volcano",
            scheme="volcano_krb",
            class_field="KRB",
            title="Demo: Kawasan Rawan Bencana Gunung Demo",
            source="Siaga demo generator",
            licence="CC0 (synthetic)",
        ),
    }


def _write_layer_file(name: str, folder: Path, communities: gpd.GeoDataFrame) -> Path:
    """Generate demo layer `name` into `folder`; returns the file."""
    if name == "demo-flood-depth":
        path = folder / "demo_flood_depth.tif"
        grid = demo_grid()
        _write_tif(path, grid, demo_flood_depth(grid))
    elif name == "demo-population":
        path = folder / "demo_population.tif"
        grid = demo_grid()
        _write_tif(path, grid, demo_population(grid, communities))
    else:
        path = folder / "demo_volcano_krb.geojson"
        demo_volcano_zones().to_file(path, driver="GeoJSON")
    return path


def _load_layers(
    session_factory: sessionmaker[Session],
    settings: Settings,
    folder: Path,
    communities: gpd.GeoDataFrame,
    limits: GeometryLimits,
    report: DemoReport,
) -> None:
    """Import each demo layer that is absent; note which were added and which were there."""
    from sqlalchemy import select

    from service.hazards.models import HazardLayer
    from service.hazards.service import import_hazard_layer

    with session_factory() as session:
        present = set(
            session.scalars(select(HazardLayer.name).where(HazardLayer.name.in_(DEMO_LAYERS)))
        )
    specs = _layer_specs()
    for name in DEMO_LAYERS:
        if name in present:
            report.layers_present.append(name)
            continue
        import_hazard_layer(
            session_factory=session_factory,
            data_dir=settings.storage.data_dir,
            paths=[_write_layer_file(name, folder, communities)],
            spec=specs[name],
            limits=limits,
        )
        report.layers_added.append(name)
