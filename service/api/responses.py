"""Media types of the API's responses."""

from __future__ import annotations

GEOJSON = "application/geo+json"
