"""Siaga: geospatial early warning and risk mapping for community groups in Indonesia."""

__version__ = "0.1.0"
