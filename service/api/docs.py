"""API documentation pages without a CDN: `/docs` (Swagger UI), `/redoc` (ReDoc) and the
OGC API's `/ogc/api.html` load their scripts from this server.

The files come from the installed `fastapi-offline` package (its `static/` folder holds the
Swagger UI and ReDoc dist files), served from the package folder: nothing vendored into the
repository, nothing fetched from another origin at run time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse

from service.api.static_files import installed_package_dir
from service.errors import NotFound

router = APIRouter(include_in_schema=False)

ASSET_PREFIX = "/static/docs"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
CACHE = "public, max-age=86400"


@lru_cache(maxsize=1)
def assets_dir() -> Path:
    return installed_package_dir(
        "fastapi_offline", "static", dist="fastapi-offline", pip_arg="fastapi-offline"
    )


def swagger_page(openapi_url: str, title: str) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PREFIX}/favicon.png",
        oauth2_redirect_url="/docs/oauth2-redirect",
        # Swagger UI would otherwise ask validator.swagger.io for a badge.
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/docs")
def swagger() -> HTMLResponse:
    return swagger_page("/openapi.json", "Siaga API")


@router.get("/docs/oauth2-redirect")
def swagger_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="Siaga API",
        redoc_js_url=f"{ASSET_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{ASSET_PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSET_PREFIX + "/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}; there are: {', '.join(ASSETS)}")
    return FileResponse(
        assets_dir() / name, media_type=ASSETS[name], headers={"Cache-Control": CACHE}
    )
