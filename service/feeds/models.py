"""feeds tables (filled in by the feeds work)."""

from __future__ import annotations
