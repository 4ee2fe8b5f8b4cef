"""No CDN anywhere: every HTML page the service serves loads its scripts, styles and images
from this server, and the documentation assets come from installed packages."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.ogc.builders import community_code, insert_communities

URL = re.compile(r"""https?://[^\s"'<>)]+""")
# Where a URL is a resource the browser loads or follows, not an identifier shown as text.
LOADED = re.compile(r"""(?:src|href|url|action)\s*[=(]\s*["']?(https?://[^\s"'<>)]+)""", re.I)
# OGC identifiers (conformance classes, CRS URIs) are names, shown as text on some pages.
IDENTIFIER = re.compile(r"^https?://www\.opengis\.net/(spec|def)/")


def _html_pages(client: TestClient) -> list[str]:
    item = f"/ogc/collections/communities/items/{community_code(1)}"
    pages = ["/", "/docs", "/redoc", "/ogc/api.html"]
    pages += [
        f"{p}?f=html"
        for p in (
            "/ogc",
            "/ogc/api",
            "/ogc/conformance",
            "/ogc/collections",
            "/ogc/collections/communities",
            "/ogc/collections/communities/queryables",
            "/ogc/collections/communities/items",
            item,
        )
    ]
    return pages


def test_no_served_html_page_loads_from_another_origin(
    client: TestClient, clean_db: Engine
) -> None:
    insert_communities(clean_db, 3)
    own = urlparse(str(client.base_url)).netloc
    for page in _html_pages(client):
        r = client.get(page)
        assert r.status_code == 200, page
        assert r.headers["content-type"].startswith("text/html"), page
        body = r.text
        for url in LOADED.findall(body):
            assert urlparse(url).netloc == own, (page, url)
        for url in URL.findall(body):
            assert urlparse(url).netloc == own or IDENTIFIER.match(url), (page, url)
        for asset in re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']([^"']+)""", body):
            got = client.get(asset)
            assert got.status_code == 200, (page, asset)


def test_docs_assets_come_from_the_installed_package(client: TestClient) -> None:
    docs = client.get("/docs").text
    assert "/static/docs/swagger-ui-bundle.js" in docs and '"validatorUrl": null' in docs
    js = client.get("/static/docs/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text[:200_000]
    redoc = client.get("/static/docs/redoc.standalone.js")
    assert redoc.status_code == 200 and len(redoc.content) > 100_000
    assert client.get("/static/docs/../../main.py").status_code == 404
    assert client.get("/static/docs/nothing.js").status_code == 404
    assert "fonts.googleapis" not in client.get("/redoc").text
