"""Raster files in the data directory: one COG per layer version, written atomically."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "layer"


def raster_relpath(name: str, version: int) -> Path:
    return Path("rasters") / slug(name) / f"v{version}.tif"


@contextmanager
def pending_file(data_dir: Path, relpath: Path, write: Callable[[Path], object]) -> Iterator[Path]:
    """Write a file via a temporary name; remove it again if the surrounding block fails.

    The database row that names the file commits inside the block, so a failed transaction
    never leaves a file behind and a file never appears before its complete content.
    """
    final = data_dir / relpath
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        os.replace(tmp, final)
        yield final
    except BaseException:
        tmp.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        _remove_empty_parents(final.parent, stop=data_dir)
        raise


def _remove_empty_parents(folder: Path, *, stop: Path) -> None:
    stop = stop.resolve()
    folder = folder.resolve()
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def absolute(data_dir: Path, relpath: str) -> Path:
    return data_dir / relpath
