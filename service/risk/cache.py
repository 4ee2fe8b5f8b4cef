"""Coverage weights cached per (polygon set, grid, method): in memory and as .npz on disk.

The key is supplied by the caller (a hash of the community ids and their update times, the
population layer and the method), so the cache never needs to look at geometries. Files
live under `<data dir>/cache/weights/`; a torn or foreign file is ignored and rebuilt.
`remember` keeps small derived values (such as the community set of a grid) in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

import numpy as np

from service.risk.exposure.weights import CoverageWeights

log = logging.getLogger(__name__)
T = TypeVar("T")

_MEMORY: OrderedDict[str, CoverageWeights] = OrderedDict()
_REMEMBERED: OrderedDict[str, object] = OrderedDict()  # small derived values (see `remember`)
_LOCK = threading.Lock()
# One build per key at a time: the start-up warm-up and an event's recompute asking for the
# same national weights must not both spend seconds building them.
_BUILDING: dict[str, threading.Lock] = {}
MEMORY_ENTRIES = 8


def cache_key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def clear_memory() -> None:
    with _LOCK:
        _MEMORY.clear()
        _REMEMBERED.clear()


def remember(key: str, compute: Callable[[], T]) -> T:
    """`compute()` once per key in this process (the last `MEMORY_ENTRIES` keys are kept)."""
    with _LOCK:
        if key in _REMEMBERED:
            _REMEMBERED.move_to_end(key)
            return cast(T, _REMEMBERED[key])
    value = compute()
    with _LOCK:
        _REMEMBERED[key] = value
        while len(_REMEMBERED) > MEMORY_ENTRIES:
            _REMEMBERED.popitem(last=False)
    return value


def get_or_build(
    key: str, build: Callable[[], CoverageWeights], *, directory: Path | None
) -> tuple[CoverageWeights, str]:
    """The weights for `key` and where they came from: 'memory', 'disk' or 'built'."""
    with _LOCK:
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            return _MEMORY[key], "memory"
        building = _BUILDING.setdefault(key, threading.Lock())
    with building:
        with _LOCK:  # built by another thread while this one waited
            if key in _MEMORY:
                _MEMORY.move_to_end(key)
                return _MEMORY[key], "memory"
        weights, source = _load_or_build(key, build, directory)
        with _LOCK:
            _MEMORY[key] = weights
            while len(_MEMORY) > MEMORY_ENTRIES:
                _MEMORY.popitem(last=False)
            _BUILDING.pop(key, None)
    return weights, source


def _load_or_build(
    key: str, build: Callable[[], CoverageWeights], directory: Path | None
) -> tuple[CoverageWeights, str]:
    path = directory / f"{key}.npz" if directory is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                return CoverageWeights.from_arrays(dict(data)), "disk"
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable weights cache %s: %s", path.name, exc)
    weights = build()
    if path is not None:
        _save(path, weights)
    return weights, "built"


def _save(path: Path, weights: CoverageWeights) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
    try:
        np.savez(tmp, **weights.to_arrays())
        os.replace(tmp, path)  # atomic: other workers see the whole file or none
    except OSError as exc:
        log.warning("could not write weights cache %s: %s", path, exc)
        tmp.unlink(missing_ok=True)
