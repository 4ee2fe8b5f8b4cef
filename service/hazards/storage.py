"""Raster files in the data directory: one COG per layer version, written atomically.

Files are keyed by the layer row's id and version (`layers/<id>/v<version>.tif`), never by
its name: two names that look alike (`banjir palu`, `banjir_palu`, `.`, `..`) can never share
a file. Rows store their path relative to the data dir, so layers imported before this scheme
(`rasters/<slug>/v<n>.tif`) keep resolving to the file they were written to.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Top folder of the id-keyed scheme; the old name-keyed files live under "rasters/".
LAYERS_DIR = "layers"


def raster_relpath(layer_id: int, version: int) -> Path:
    """Where layer row `layer_id` (version `version`) keeps its raster, relative to the data dir."""
    if layer_id < 1 or version < 1:
        raise ValueError(f"layer id and version must be positive (got {layer_id}, {version})")
    return Path(LAYERS_DIR) / str(int(layer_id)) / f"v{int(version)}.tif"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def pending_file(data_dir: Path, relpath: Path, write: Callable[[Path], object]) -> Iterator[Path]:
    """Write a file via a temporary name, then rename; remove it again if the block fails.

    The database row that names the file commits inside the block, so a failed transaction
    never leaves a file behind and a file never appears before its complete content. A file
    that is already there is never replaced (paths are unique per layer row).
    """
    final = data_dir / relpath
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise FileExistsError(f"{relpath} already exists in the data dir; refusing to replace it")
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    placed = False
    try:
        write(tmp)
        _fsync_file(tmp)
        os.replace(tmp, final)
        placed = True
        _fsync_dir(final.parent)
        yield final
    except BaseException:
        tmp.unlink(missing_ok=True)
        if placed:
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


def remove_file(data_dir: Path, relpath: str | None) -> None:
    """Remove a layer's raster (after its row is deleted); missing files are fine."""
    if not relpath:
        return
    path = Path(relpath)
    if path.is_absolute() or ".." in path.parts:
        return  # never follow a path out of the data dir
    final = data_dir / path
    final.unlink(missing_ok=True)
    _remove_empty_parents(final.parent, stop=data_dir)
