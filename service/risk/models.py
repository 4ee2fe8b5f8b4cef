"""risk tables (filled in by the risk work)."""

from __future__ import annotations
