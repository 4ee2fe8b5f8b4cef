"""ops tables (filled in by the operations work)."""

from __future__ import annotations
