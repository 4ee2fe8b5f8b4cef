"""Read an OAPIF layer with pyogrio in a separate process and print it as JSON.

GDAL holds the GIL while it downloads, so reading from the process that also runs the
live uvicorn server (in a thread) would deadlock; the tests run this module instead:
`python -m tests.ogc.gdal_reader URL LAYER [minx,miny,maxx,maxy]`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def read_layer(url: str, layer: str, bbox: tuple[float, ...] | None = None) -> dict[str, Any]:
    args = [sys.executable, "-m", "tests.ogc.gdal_reader", url, layer]
    if bbox:
        args.append(",".join(map(str, bbox)))
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def main(argv: list[str]) -> None:
    import pyogrio

    url, layer = argv[0], argv[1]
    bbox = tuple(float(v) for v in argv[2].split(",")) if len(argv) > 2 else None
    layers = [str(name) for name, _ in pyogrio.list_layers(url)]
    df = pyogrio.read_dataframe(url, layer=layer, bbox=bbox)
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
