"""OGC API - Features, Part 1 Core with GeoJSON, under /ogc."""
