"""The responders' map at `/`: one page, every asset served by Siaga itself (no CDN).

MapLibre GL JS comes from the `maplibre` package on PyPI, installed as a dependency: its
wheel ships the library's dist files, which are served from the installed package folder, so
nothing vendored is committed and a fresh `pip install` brings the map library along.
The page's own files live in `service/web/` (package data).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from service.errors import NotFound

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
# Everything from this origin; MapLibre runs its worker from a blob: URL.
CSP = (
    "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; "
    "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
CACHE = "public, max-age=3600"


@lru_cache(maxsize=1)
def vendor_dir() -> Path:
    """The installed `maplibre` package's dist folder, found without importing the package."""
    spec = importlib.util.find_spec("maplibre")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'maplibre' package is missing: pip install 'maplibre>=0.3.6'")
    return Path(next(iter(spec.submodule_search_locations))) / "srcjs"


@router.get("/", response_class=HTMLResponse, summary="The responders' risk map")
def index() -> HTMLResponse:
    html = (WEB_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


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
