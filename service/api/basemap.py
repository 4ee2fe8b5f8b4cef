"""The map's basemap, from `SIAGA_MAP_BASEMAP`: none, an XYZ raster, a style URL or a PMTiles file.

A PMTiles archive in the data dir is read tile by tile with the `pmtiles` package and served
at `/map/basemap/{z}/{x}/{y}`, so a province's basemap works with no network and no
JavaScript plugin (docs/map.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import Compression, TileType

from service.errors import InvalidInput, NotFound
from service.settings import Settings

TILE_MEDIA = {
    TileType.MVT: "application/vnd.mapbox-vector-tile",
    TileType.PNG: "image/png",
    TileType.JPEG: "image/jpeg",
    TileType.WEBP: "image/webp",
    TileType.AVIF: "image/avif",
}
BASEMAP_TILES = "/map/basemap/{z}/{x}/{y}"


@dataclass
class PMTilesArchive:
    path: Path
    header: dict[str, Any]
    metadata: dict[str, Any]
    _reader: Reader

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        # The reader slices a read-only memory map: no state per call, safe across threads.
        data = self._reader.get(z, x, y)
        return bytes(data) if data is not None else None

    @property
    def media_type(self) -> str:
        return TILE_MEDIA.get(self.header["tile_type"], "application/octet-stream")

    @property
    def gzipped(self) -> bool:
        return self.header.get("tile_compression") == Compression.GZIP


@lru_cache(maxsize=4)
def open_archive(path: Path, mtime_ns: int) -> PMTilesArchive:
    """Open (and keep open) a PMTiles file; a new mtime opens it again."""
    del mtime_ns  # part of the cache key only
    with path.open("rb") as handle:  # the memory map stays valid after the file is closed
        reader = Reader(MmapSource(handle))
    try:
        header = reader.header()
        metadata = reader.metadata()
    except Exception as exc:
        raise InvalidInput(f"{path.name} is not a readable PMTiles v3 archive: {exc}") from exc
    return PMTilesArchive(path=path, header=header, metadata=metadata, _reader=reader)


def archive_for(settings: Settings) -> PMTilesArchive:
    name = settings.map.basemap
    if not name.endswith(".pmtiles"):
        raise NotFound("no PMTiles basemap is configured (SIAGA_MAP_BASEMAP)")
    path = Path(name)
    path = path if path.is_absolute() else settings.storage.data_dir / path
    if not path.is_file():
        raise NotFound(f"the basemap file {path.name} is not in the data dir")
    return open_archive(path, path.stat().st_mtime_ns)


def describe(settings: Settings) -> dict[str, Any]:
    """What the page needs to draw the basemap (no secrets: URLs are the operator's)."""
    url = settings.map.basemap
    attribution = settings.map.basemap_attribution
    if not url:
        return {"kind": "none", "attribution": attribution}
    if url.endswith(".pmtiles"):
        try:
            archive = archive_for(settings)
        except NotFound as exc:
            return {"kind": "none", "attribution": attribution, "problem": exc.detail}
        h = archive.header
        return {
            "kind": "pmtiles",
            "url": BASEMAP_TILES,
            "tile_type": "vector" if h["tile_type"] == TileType.MVT else "raster",
            "minzoom": h.get("min_zoom", 0),
            "maxzoom": h.get("max_zoom", 14),
            "bounds": [
                h.get("min_lon_e7", -1_800_000_000) / 1e7,
                h.get("min_lat_e7", -850_000_000) / 1e7,
                h.get("max_lon_e7", 1_800_000_000) / 1e7,
                h.get("max_lat_e7", 850_000_000) / 1e7,
            ],
            "vector_layers": [
                str(v.get("id")) for v in archive.metadata.get("vector_layers", []) if v.get("id")
            ],
            "attribution": attribution or str(archive.metadata.get("attribution", "")),
        }
    kind = "xyz" if "{z}" in url else "style"
    return {"kind": kind, "url": url, "attribution": attribution}


def external_origin(settings: Settings) -> str | None:
    """The basemap's origin when it is on another host (the page's CSP must allow it)."""
    url = settings.map.basemap
    if not url.startswith(("http://", "https://")):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
