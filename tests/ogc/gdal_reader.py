"""Read an OAPIF layer with pyogrio in a separate process and print it as JSON.

GDAL holds the GIL while it downloads, so reading from the process that also runs the
live uvicorn server (in a thread) would deadlock; the tests run this module instead:
`python -m tests.ogc.gdal_reader URL LAYER [minx,miny,maxx,maxy]`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def read_layer(
    url: str,
    layer: str,
    bbox: tuple[float, ...] | None = None,
    *,
    where: str | None = None,
    debug: bool = False,
    crs: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Rows, CRS and layer names; with `debug`, also GDAL's debug log (the URLs it fetched)."""
    args = [sys.executable, "-m", "tests.ogc.gdal_reader", url, layer]
    args.append(",".join(map(str, bbox)) if bbox else "")
    args.append(where or "")
    args.append(crs or "")
    child_env = os.environ | ({"CPL_DEBUG": "ON"} if debug else {}) | (env or {})
    done = subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False, env=child_env
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    out["log"] = done.stderr
    return out


def main(argv: list[str]) -> None:
    import pyogrio

    url, layer = argv[0], argv[1]
    bbox = tuple(float(v) for v in argv[2].split(",")) if len(argv) > 2 and argv[2] else None
    where = argv[3] if len(argv) > 3 and argv[3] else None
    options = {"CRS": argv[4]} if len(argv) > 4 and argv[4] else {}
    layers = [str(name) for name, _ in pyogrio.list_layers(url)]
    df = pyogrio.read_dataframe(url, layer=layer, bbox=bbox, where=where, **options)
    rows = []
    for record, geom in zip(
        df.drop(columns="geometry").to_dict("records"), df.geometry, strict=True
    ):
        clean = {k: (None if v != v else v) for k, v in record.items()}  # NaN -> None
        clean["bounds"] = None if geom is None else list(geom.bounds)
        rows.append(clean)
    crs = df.crs.to_string() if df.crs is not None else None
    json.dump({"layers": layers, "crs": crs, "rows": rows}, sys.stdout, default=str)


if __name__ == "__main__":
    main(sys.argv[1:])
