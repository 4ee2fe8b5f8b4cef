"""Where the collections come from: each module here registers its collections on import.

A domain adds its collections by writing a module that calls `register(Collection(...))`
and adding its dotted name to COLLECTION_MODULES (one line).
"""

from __future__ import annotations

import importlib

COLLECTION_MODULES: tuple[str, ...] = (
    "service.api.ogc.collections",
    "service.risk.ogc",
    "service.feeds.collections",
    "service.alerts.ogc",
    "service.shelters.ogc",
)


def load() -> None:
    for name in COLLECTION_MODULES:
        importlib.import_module(name)
