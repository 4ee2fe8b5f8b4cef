"""Demo data for the quick start (filled in by the foundation work)."""

from __future__ import annotations


def load_demo() -> None:
    pass
