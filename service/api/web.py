"""The responders' map at `/`: one page, every asset served by Siaga itself (no CDN).

MapLibre GL JS comes from the `maplibre` package on PyPI, installed as a dependency: its
wheel ships the library's dist files, which are served from the installed package folder, so
nothing vendored is committed and a fresh `pip install` brings the map library along.
The page's own files live in `service/web/` (package data).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from service.api import basemap
from service.api.deps import SessionDep, SettingsDep
from service.api.static_files import installed_package_dir
from service.communities.search import AreaLevel, area_outlines
from service.errors import NotFound
from service.risk.extent import first_view_bounds
from service.settings import Settings

router = APIRouter(tags=["web map"])

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
APP_FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
}
VENDOR_FILES = {
    "maplibre-gl.js": "text/javascript; charset=utf-8",
    "maplibre-gl.css": "text/css; charset=utf-8",
}
# Everything from this origin (plus a configured basemap's); MapLibre runs its worker from a
# blob: URL.
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; "
    "img-src 'self' data: blob:{extra}; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'{extra}; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'"
)
CACHE = "public, max-age=3600"
# Outlines of kecamatan and kab/kota: simplified to about 50 m, plenty for a base layer.
OUTLINE_TOLERANCE_DEG = 0.0005


def content_security_policy(settings: Settings) -> str:
    origin = basemap.external_origin(settings)
    return CSP.format(extra=f" {origin}" if origin else "")


@lru_cache(maxsize=1)
def vendor_dir() -> Path:
    """The installed `maplibre` package's dist folder, found without importing the package."""
    return installed_package_dir("maplibre", "srcjs", dist="maplibre", pip_arg="'maplibre>=0.3.6'")


@router.get("/", response_class=HTMLResponse, summary="The responders' risk map")
def index(settings: SettingsDep) -> HTMLResponse:
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": content_security_policy(settings),
            "Cache-Control": "no-cache",
        },
    )


@router.get("/map/config.json", summary="The map's basemap and first view")
def map_config(settings: SettingsDep, session: SessionDep) -> dict[str, Any]:
    """`basemap`: how to draw it (`kind` none, xyz, style or pmtiles); `first_view`: the
    bounds of the largest cluster of scored communities (all communities when none is
    scored; null when none is loaded)."""
    return {"basemap": basemap.describe(settings), "first_view": first_view_bounds(session)}


@router.get(
    "/map/areas/{level}.geojson",
    summary="Kecamatan (district) or kab/kota (regency) outlines from the loaded communities",
    response_class=JSONResponse,
)
def map_areas(
    level: Annotated[AreaLevel, PathParam(description="district or regency")],
    session: SessionDep,
) -> JSONResponse:
    fc = area_outlines(session=session, level=level, tolerance_deg=OUTLINE_TOLERANCE_DEG)
    return JSONResponse(
        fc, media_type="application/geo+json", headers={"Cache-Control": "no-cache"}
    )


@router.get("/map/basemap/{z}/{x}/{y}", summary="A tile of the offline PMTiles basemap")
def basemap_tile(
    settings: SettingsDep,
    z: Annotated[int, PathParam(ge=0, le=30)],
    x: Annotated[int, PathParam(ge=0)],
    y: Annotated[int, PathParam(ge=0)],
) -> Response:
    archive = basemap.archive_for(settings)
    if x >= 2**z or y >= 2**z:
        raise NotFound(f"tile {z}/{x}/{y} is outside the tile matrix of zoom {z}")
    data = archive.tile(z, x, y)
    if data is None:
        return Response(status_code=204, headers={"Cache-Control": CACHE})
    headers = {"Cache-Control": CACHE}
    if archive.gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=archive.media_type, headers=headers)


@router.get("/static/app/{name}", include_in_schema=False)
def app_asset(name: str) -> Response:
    if name not in APP_FILES:
        raise NotFound(f"no web asset {name!r}")
    return FileResponse(
        WEB_DIR / name, media_type=APP_FILES[name], headers={"Cache-Control": "no-cache"}
    )


@router.get("/static/vendor/{name}", include_in_schema=False)
def vendor_asset(name: str) -> Response:
    if name not in VENDOR_FILES:
        raise NotFound(f"no vendor asset {name!r}")
    return FileResponse(
        vendor_dir() / name, media_type=VENDOR_FILES[name], headers={"Cache-Control": CACHE}
    )
