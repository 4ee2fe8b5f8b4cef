"""Hazard and exposure layers: versioned vector zones and rasters."""
