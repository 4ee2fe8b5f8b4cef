"""messaging tables (filled in by the messaging work)."""

from __future__ import annotations
