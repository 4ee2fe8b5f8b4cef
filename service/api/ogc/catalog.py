"""Which collections the OGC API serves: each domain's `<domain>/ogc.py` lists its own as data.

The catalog is built when the app starts (`service.main`'s lifespan, as tipg does) and kept on
`app.state.ogc_catalog`; routes, the OpenAPI document, the HTML pages and the queryables read
it from there. A domain adds a collection by adding it to its `COLLECTIONS`; a new domain
module is one line in DOMAIN_COLLECTIONS.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request

from service.alerts import ogc as alerts_ogc
from service.auth.models import ROLES
from service.communities import ogc as communities_ogc
from service.feeds import ogc as feeds_ogc
from service.hazards import ogc as hazards_ogc
from service.ogc_collections import Catalog, Collection
from service.risk import ogc as risk_ogc
from service.shelters import ogc as shelters_ogc

# In the order the collections are listed at /ogc/collections.
DOMAIN_COLLECTIONS: tuple[tuple[Collection, ...], ...] = (
    communities_ogc.COLLECTIONS,
    hazards_ogc.COLLECTIONS,
    risk_ogc.COLLECTIONS,
    feeds_ogc.COLLECTIONS,
    alerts_ogc.COLLECTIONS,
    shelters_ogc.COLLECTIONS,
)


def domain_collections() -> list[Collection]:
    return [c for group in DOMAIN_COLLECTIONS for c in group]


def build_catalog(collections: Iterable[Collection] | None = None) -> Catalog:
    """A catalog of `collections` (default: every domain's), each checked against its source:
    an inconsistent description fails the start, not the first request."""
    return Catalog(ROLES, domain_collections() if collections is None else collections)


def catalog_of(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.ogc_catalog
    return catalog
