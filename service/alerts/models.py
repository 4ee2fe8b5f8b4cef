"""alerts tables (filled in by the alerts work)."""

from __future__ import annotations
