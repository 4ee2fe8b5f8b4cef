"""Vector tiles of current risk levels: `GET /tiles/risk/{z}/{x}/{y}.pbf` (ST_AsMVT), and
their TileJSON at `GET /tiles/risk.json`.

The queries are the risk domain's (service/risk/tiles.py). Tiles carry an ETag derived from
the version of the communities and their scores (service.table_changes), so a client
revalidating after `Cache-Control: max-age` gets a 304 until either changes; they are
gzipped when the client accepts it. Each API process remembers the tiles that were slow to
make (api/readcache.py) and serves one again, gzipped or not, while that version is
unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from service.api.deps import ReadEngineDep, ReadSessionDep, SettingsDep
from service.api.readcache import read_cache_of
from service.communities.search import all_bounds
from service.errors import InvalidInput
from service.hazards.models import HAZARD_TYPES
from service.risk import tiles

router = APIRouter(prefix="/tiles", tags=["tiles"])

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
CACHE_CONTROL = "public, max-age=60"
# gzip level: tiles are small; 5 is within a few per cent of 9 at a fraction of the CPU.
GZIP_LEVEL = 5
_MERCATOR_LAT = 85.051129
# Tiles that took longer than this to make are remembered (api/readcache.py). Checking a
# remembered tile's version costs about 0.6 ms of the process and the database: a tile of a
# few dozen desa at zoom 10 costs about that to make again, a province at zoom 6 far more.
REMEMBER_AFTER_S = 0.005


def check_hazard(hazard: str | None) -> None:
    if hazard is not None and hazard not in HAZARD_TYPES:
        raise InvalidInput(
            f"hazard={hazard!r} is unknown; use one of: {', '.join(HAZARD_TYPES)}",
            parameter="hazard",
            allowed=list(HAZARD_TYPES),
        )


def _etag(version: str, hazard: str | None, gzipped: bool) -> str:
    digest = hashlib.sha256(f"{version}|{hazard}".encode()).hexdigest()[:20]
    return f'"{digest}{"-gz" if gzipped else ""}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


def _wants_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "").lower()


@router.get("/risk/{z}/{x}/{y}.pbf", response_class=Response)
def risk_tile(
    request: Request,
    engine: ReadEngineDep,
    z: int,
    x: int,
    y: int,
    hazard: Annotated[str | None, Query(description="flood, earthquake, volcano, ...")] = None,
) -> Response:
    """Mapbox Vector Tile (layer `risk`) with code, name, hazard, level, score per community."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {z} is out of range: use 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise InvalidInput(
            f"tile {z}/{x}/{y} does not exist: x and y must be in 0..{n - 1} at zoom {z}"
        )
    check_hazard(hazard)
    gz = _wants_gzip(request)
    headers = {"Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if_none_match = request.headers.get("if-none-match")
    cache = read_cache_of(request)
    key = ("tile", z, x, y, hazard, gz)
    known = cache.get(key) if cache is not None else None
    with engine.connect() as conn:
        if if_none_match or known is not None:
            version = tiles.score_version(conn)
            etag = _etag(version, hazard, gz)
            if _matches(if_none_match, etag):
                return Response(status_code=304, headers=headers | {"ETag": etag})
            if known is not None and cache is not None and known.version == version:
                cache.served(key)
                return _tile_response(known.value, etag, gz, headers)
        started = time.perf_counter()
        version, body = tiles.risk_tile(conn, z=z, x=x, y=y, hazard=hazard)
    if gz and body:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    if cache is not None and time.perf_counter() - started >= REMEMBER_AFTER_S:
        cache.put(key, version, body, len(body))
    return _tile_response(body, _etag(version, hazard, gz), gz, headers)


def _tile_response(body: bytes, etag: str, gz: bool, headers: dict[str, str]) -> Response:
    headers = headers | {"ETag": etag}
    if gz and body:
        headers["Content-Encoding"] = "gzip"
    return Response(content=body, media_type=MVT_MEDIA_TYPE, headers=headers)


@router.get("/risk.json")
def risk_tilejson(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    hazard: Annotated[str | None, Query(description="flood, earthquake, volcano, ...")] = None,
) -> dict[str, object]:
    """TileJSON 3.0 of the risk tiles: URL template, zooms, bounds of the communities, and
    the `risk` layer's fields."""
    check_hazard(hazard)
    base = (settings.api.public_url or str(request.base_url)).rstrip("/")
    url = f"{base}/tiles/risk/{{z}}/{{x}}/{{y}}.pbf" + (f"?hazard={hazard}" if hazard else "")
    bounds = all_bounds(session) or [-180.0, -_MERCATOR_LAT, 180.0, _MERCATOR_LAT]
    centre = [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6), 8]
    fields = {
        "code": "Kemendagri code",
        "name": "community name",
        "hazard": "hazard of the highest current score (null: not scored)",
        "level": "rendah, sedang or tinggi (null: belum dinilai)",
        "score": "R = H x V / C, 0..1",
    }
    return {
        "tilejson": "3.0.0",
        "name": "Siaga risk" + (f" ({hazard})" if hazard else ""),
        "description": "Highest current risk score per community.",
        "scheme": "xyz",
        "tiles": [url],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": bounds,
        "center": centre,
        "vector_layers": [{"id": "risk", "fields": fields, "minzoom": 0, "maxzoom": MAX_ZOOM}],
    }
