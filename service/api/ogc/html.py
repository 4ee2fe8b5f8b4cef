"""HTML pages of the OGC API (f=html or a browser's Accept): one server-rendered template.

Nothing is loaded from another origin: the page has its own small style sheet and no script.
Jinja2 escapes every value, so names and texts from the data cannot inject markup.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, Template, select_autoescape

from service.ogc_collections import Collection

HTML = "text/html"
# Same-origin only; the page carries an inline <style> and no scripts.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


@lru_cache(maxsize=1)
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("service.api.ogc", "templates"),
        autoescape=select_autoescape(default=True),
    )
    return env.get_template("ogc.html")


def page(
    *,
    title: str,
    root: str,
    crumbs: list[tuple[str, str]] | None = None,
    description: str = "",
    links: list[dict[str, str]] | None = None,
    raw: Any = None,
    **content: Any,
) -> HTMLResponse:
    """Render the one template; `content` holds collections, features+columns, fields, items."""
    context: dict[str, Any] = {
        "title": title,
        "description": description,
        "crumbs": [("OGC API", root), *(crumbs or [])],
        "links": links or [],
        "raw": None if raw is None else json.dumps(raw, ensure_ascii=False, indent=2),
        "collections": None,
        "features": None,
        "columns": [],
        "fields": None,
        "items": None,
        "summary": "",
    }
    context.update(content)
    return HTMLResponse(_template().render(**context), headers={"Content-Security-Policy": CSP})


def items_page(
    coll: Collection, root: str, features: list[str], matched: int, links: list[dict[str, str]]
) -> HTMLResponse:
    href = f"{root}/collections/{coll.id}"
    rows = []
    for text in features:
        feature = json.loads(text)
        fid = str(feature["id"])
        rows.append(
            {
                "id": fid,
                "href": f"{href}/items/{quote(fid, safe='')}?f=html",
                "properties": feature.get("properties") or {},
            }
        )
    columns = list(rows[0]["properties"]) if rows else list(coll.property_columns())
    # Page links keep f=html from the request: they lead to HTML pages.
    links = [lk | {"type": HTML} if lk["rel"] in ("self", "next", "prev") else lk for lk in links]
    return page(
        title=f"{coll.title}: items",
        root=root,
        crumbs=[("collections", f"{root}/collections?f=html"), (coll.id, f"{href}?f=html")],
        features=rows,
        columns=columns,
        summary=f"{len(rows)} dari {matched} fitur / {len(rows)} of {matched} features",
        links=links,
    )
