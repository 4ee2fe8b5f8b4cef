"""Responses each API process remembers, served only while the tables they were read from
are unchanged (service.table_changes): OGC items pages (api/ogc/readcache.py) and vector
tiles (api/tiles.py).

An entry holds the version of its tables read in the same statement as its data. Serving it
again costs one look at the version now (a tiny indexed aggregate); if any write to those
tables has committed since, the version differs and the caller reads afresh. Entries are
kept up to `SIAGA_API_READ_CACHE_MB` per process, least recently used out (0: none kept).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

# Bytes counted per entry on top of its payload (key, tuples, object headers).
ENTRY_OVERHEAD = 200


@dataclass(frozen=True)
class Entry:
    version: str
    value: Any
    size: int


class VersionedCache:
    """A byte-bounded LRU of (version, value) by key. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.stores = 0
        self.total = 0
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> Entry | None:
        """The entry under `key`, whatever its version (the caller compares it)."""
        if self.max_bytes <= 0:
            return None
        with self._lock:
            return self._entries.get(key)

    def served(self, key: Hashable) -> None:
        """`key`'s entry was current and served: count it and keep it longest."""
        with self._lock:
            self.hits += 1
            if key in self._entries:
                self._entries.move_to_end(key)

    def put(self, key: Hashable, version: str, value: Any, size: int) -> None:
        size += ENTRY_OVERHEAD
        if self.max_bytes <= 0 or size > self.max_bytes // 4:  # one huge entry would empty it
            return
        with self._lock:
            self.stores += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self.total -= old.size
            self._entries[key] = Entry(version, value, size)
            self.total += size
            while self.total > self.max_bytes:
                _, gone = self._entries.popitem(last=False)
                self.total -= gone.size


def read_cache_of(request: Request) -> VersionedCache | None:
    """The app's cache (made by the lifespan in service.main)."""
    return getattr(request.app.state, "read_cache", None)
