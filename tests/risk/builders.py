"""Builder functions for risk tests: communities, layers and raster files, straight into the DB.

Written with geopandas and ORM inserts so the risk tests do not depend on the importer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from geoalchemy2.shape import from_shape
from sqlalchemy.orm import Session

from service.communities.models import Community
from service.hazards import schemes
from service.hazards.models import HazardLayer, HazardZone


def _multi(g: Any) -> Any:
    g = shapely.make_valid(g)
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "GeometryCollection":
        polys = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        return shapely.MultiPolygon(list(shapely.get_parts(shapely.union_all(polys))))
    return g


def add_communities(session: Session, gdf: gpd.GeoDataFrame, **indicators: Any) -> list[Community]:
    gdf = gdf.to_crs(4326)
    out = []
    for i, row in enumerate(gdf.itertuples()):
        code = str(getattr(row, "kode", None) or f"99.99.{i:04d}")
        c = Community(
            code=code,
            name=str(getattr(row, "nama", None) or code),
            level="desa",
            geom=from_shape(_multi(row.geometry), srid=4326),
            properties={},
            **indicators,
        )
        session.add(c)
        out.append(c)
    session.flush()
    return out


def write_raster(
    path: Path,
    data: np.ndarray,
    transform: Affine,
    crs: str = "EPSG:4326",
    nodata: float | None = None,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[1],
        height=data.shape[0],
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as ds:
        ds.write(data, 1)
    return path


def _extent(path: Path) -> Any:
    with rasterio.open(path) as ds:
        b = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
    return from_shape(shapely.box(*b), srid=4326)


def add_raster_layer(
    session: Session,
    data_dir: Path,
    src: Path,
    *,
    name: str,
    role: str = "hazard",
    hazard: str | None = "flood",
    scheme: dict[str, Any] | None = None,
    version: int = 1,
    **extra: Any,
) -> HazardLayer:
    """Register a raster file (copied into the data dir) as a layer."""
    rel = Path("rasters") / f"{name}_v{version}{src.suffix}"
    dst = data_dir / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    layer = HazardLayer(
        name=name,
        version=version,
        role=role,
        hazard=hazard if role == "hazard" else None,
        kind="raster",
        classification=scheme or {},
        raster_path=str(rel),
        raster_meta={},
        extent=_extent(dst),
        properties={},
        source="test",
        **extra,
    )
    session.add(layer)
    session.flush()
    return layer


def add_zone_layer(
    session: Session,
    gdf: gpd.GeoDataFrame,
    class_field: str,
    *,
    name: str,
    hazard: str,
    scheme: dict[str, Any] | None = None,
    version: int = 1,
) -> HazardLayer:
    gdf = gdf.to_crs(4326)
    layer = HazardLayer(
        name=name,
        version=version,
        role="hazard",
        hazard=hazard,
        kind="zones",
        classification=scheme or {},
        properties={},
        source="test",
        extent=from_shape(shapely.box(*gdf.total_bounds), srid=4326),
    )
    session.add(layer)
    session.flush()
    for row in gdf.itertuples():
        session.add(
            HazardZone(
                layer_id=layer.id,
                hazard_class=str(getattr(row, class_field)),
                properties={},
                geom=from_shape(_multi(row.geometry), srid=4326),
            )
        )
    session.flush()
    return layer


KRB_SCHEME = schemes.VOLCANO_KRB.to_dict()
FLOOD_SCHEME = schemes.FLOOD_DEPTH.to_dict()
MMI_SCHEME = schemes.MMI.to_dict()
TSUNAMI_SCHEME = schemes.TSUNAMI_CATEGORY.to_dict()
FLOOD_PRONE_SCHEME = schemes.FLOOD_PRONE.to_dict()
