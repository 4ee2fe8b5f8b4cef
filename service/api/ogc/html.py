"""HTML pages of the OGC API (f=html or a browser's Accept): one server-rendered template.

Nothing is loaded from another origin: the page has its own small style sheet and no script.
Jinja2 escapes every value, so names and texts from the data cannot inject markup.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, Template, select_autoescape

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
