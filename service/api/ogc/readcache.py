"""What each API process remembers of the items it served, trusted only as long as the
tables they were read from have not changed (service.table_changes).

- **numberMatched.** Counting a 10,000-row collection was a third of what PostgreSQL spent
  on each items page, the same on every page. The page's statement now carries the count
  remembered for its query and the version it was taken at: `CASE WHEN <version now> =
  :version THEN :count ELSE (SELECT count(*) ...) END`. PostgreSQL runs the count's subplan
  only when that branch is taken, so the count is skipped while the tables are unchanged and
  taken again, in the same snapshot as the page's rows, after any committed write to them.
- **Pages.** A page asked for again (the same collection, filters, shape, limit and offset:
  the same SQL and values) costs one look at the version; when it is unchanged the rows
  remembered are served, otherwise the page is read again (api/readcache.py: kept up to
  `SIAGA_API_READ_CACHE_MB` per process with the tiles, least recently used out).

A query reading a table without the change trigger is never remembered.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, case, literal, select
from sqlalchemy.sql.elements import ClauseElement
from starlette.requests import Request

from service.api.readcache import ENTRY_OVERHEAD, VersionedCache
from service.table_changes import tables_read_by, tables_with_trigger, version_of

MAX_COUNTS = 4096
# Bytes counted per remembered count on top of the entry (its key: a statement's structure).
COUNT_SIZE = 300
# Bytes counted per remembered row on top of its text (tuple and string headers).
ROW_OVERHEAD = 120


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def statement_key(stmt: ClauseElement) -> tuple[Hashable, Hashable] | None:
    """(the statement's structure, its bound values): equal for the same SQL and values."""
    ck = stmt._generate_cache_key()
    if ck is None:
        return None
    return ck.key, tuple(_hashable(b.effective_value) for b in ck.bindparams)


@dataclass(frozen=True)
class Page:
    rows: Sequence[Sequence[Any]]
    total: int


def _size(rows: Sequence[Sequence[Any]]) -> int:
    return sum(
        ROW_OVERHEAD + sum(len(v) if isinstance(v, str | bytes) else 16 for v in row)
        for row in rows
    )


class ItemsCache:
    """Counts of items queries, and their pages (in the app's `VersionedCache`), each with
    the version of its tables. Thread-safe."""

    def __init__(self, pages: VersionedCache | None, max_counts: int = MAX_COUNTS) -> None:
        self.pages = pages
        self.max_counts = max_counts
        self.count_hits = self.count_misses = 0
        # Counts have their own budget: pages and tiles must not push them out.
        self._counts = VersionedCache(max_counts * (ENTRY_OVERHEAD + COUNT_SIZE))
        self._tables: dict[Hashable, frozenset[str] | None] = {}
        self._covered: frozenset[str] | None = None
        self._lock = threading.Lock()

    def tables(
        self, conn: Connection, shape: Hashable, query: Select[Any]
    ) -> frozenset[str] | None:
        """The tables `query` reads (`shape`: its structure), or None when one of them has no
        change trigger (nothing read from it can be remembered)."""
        if shape in self._tables:
            return self._tables[shape]
        if self._covered is None:
            self._covered = tables_with_trigger(conn)
        found = tables_read_by(query)
        known = found if found and found <= self._covered else None
        with self._lock:
            if len(self._tables) >= self.max_counts:
                self._tables.clear()
            self._tables[shape] = known
        return known

    # numberMatched

    def matched(
        self, key: Hashable, tables: frozenset[str], counted: ColumnElement[int]
    ) -> ColumnElement[int]:
        """numberMatched for the page's statement: the remembered count while `tables` are
        at its version, else `counted`."""
        known = self._counts.get(key)
        version, number = (known.version, known.value) if known is not None else ("", 0)
        return case((version_of(tables) == literal(version), literal(number)), else_=counted)

    def remember_count(self, key: Hashable, version: str, number: int) -> None:
        previous = self._counts.get(key)
        with self._lock:
            if previous is not None and previous.version == version:
                self.count_hits += 1
            else:
                self.count_misses += 1
        self._counts.put(key, version, number, COUNT_SIZE)

    # pages

    def page(self, conn: Connection, key: Hashable, tables: frozenset[str]) -> Page | None:
        """The remembered page under `key` if its tables are still at its version."""
        if self.pages is None:
            return None
        entry = self.pages.get(("items", key))
        if entry is None:
            return None
        if conn.execute(select(version_of(tables))).scalar_one() != entry.version:
            return None
        self.pages.served(("items", key))
        page: Page = entry.value
        return page

    def remember_page(
        self, key: Hashable, version: str, rows: Sequence[Sequence[Any]], total: int
    ) -> None:
        if self.pages is not None:
            self.pages.put(("items", key), version, Page(rows, total), _size(rows))


def cache_of(request: Request) -> ItemsCache | None:
    """The app's items cache (made by the lifespan in service.main)."""
    return getattr(request.app.state, "ogc_items_cache", None)
