"""The estimate from the event alone against every real ShakeMap grid in ../shared (docs/feeds.md,
"Validation"): median |dMMI| and bias where the ShakeMap shows MMI >= 5, on its cells and at
the communities (kelurahan/desa) inside that area. Run with -s to see the table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine

from service.feeds import faults, intensity
from service.feeds.parsers import shakemap

BMKG = "real/bmkg_shakemaps"
INASAFE = "real/inasafe_palu_padang_shakemaps"
FAULTS = "real/bmkg_catalog/fault_indo_world.geojson"
BOUNDARIES = "real/admin_boundaries_kepmendagri2025"
PADANG = "kota_padang_kelurahan.geojson"
PALU = "palu_sigi_donggala_desa_kelurahan.geojson"


@dataclass
class Grid:
    label: str
    magnitude: float
    depth_km: float
    lon: float
    lat: float
    mmi: np.ndarray  # per cell, NaN off the grid
    cell_lon: np.ndarray
    cell_lat: np.ndarray
    vs30: np.ndarray | None  # the grid's own SVEL, when it has one
    raster: np.ndarray  # rows north to south
    transform: Affine
    communities: str | None
    real: bool  # a real event (not a scenario) of M >= 6: the targets apply


def _bmkg(shared: Path, name: str, label: str, communities: str | None, real: bool) -> Grid:
    raw = (shared / BMKG / name).read_bytes()
    g = shakemap.parse(raw)
    body = raw.split(b"<grid_data>")[1].split(b"</grid_data>")[0]
    table = np.array(body.split(), dtype=np.float64).reshape(-1, len(g.fields))
    col = {f: table[:, i] for i, f in enumerate(g.fields)}
    return Grid(
        label, float(g.magnitude or 0), float(g.depth_km or 0), float(g.lon), float(g.lat),
        col["MMI"], col["LON"], col["LAT"], col.get("SVEL"), g.mmi, g.transform, communities, real,
    )  # fmt: skip


def _asc(
    shared: Path,
    name: str,
    label: str,
    src: tuple[float, float, float, float],
    *,
    communities: str | None,
    real: bool,
) -> Grid:
    with rasterio.open(shared / INASAFE / name) as f:
        a = f.read(1).astype(np.float64)
        a[a == f.nodata] = np.nan
        t = f.transform
    rows, cols = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    lon, lat = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    m, h, x, y = src
    return Grid(
        label, m, h, x, y, a.ravel(), lon.ravel(), lat.ravel(), None, a, t, communities, real
    )


def grids(shared: Path) -> list[Grid]:
    """Each ShakeMap with the source its header gives, or SOURCES.md where there is no header."""
    return [
        # USGS ShakeMap of the real 30 Sep 2009 Padang M7.6 (no header: USGS origin, 0.720 S
        # 99.867 E, 81 km, the same as BMKG's reconstruction below).
        _asc(shared, "shakemap_padang_20090930.asc", "USGS Padang 2009 M7.6",
             (7.6, 81.0, 99.867, -0.720), communities=PADANG, real=True),
        _bmkg(shared, "20190930000000_grid.xml", "BMKG model Padang 2009 M7.6", PADANG, True),
        # Header as it is: SOURCES.md says its epicentre is 0.18 N where BMKG/USGS put the
        # quake at 0.18-0.26 S, so the grid is low over Palu (the estimate uses the header).
        _bmkg(shared, "20180928170244_grid.xml", "BMKG Palu 2018 M7.0 (header off)", PALU, False),
        # Badan Geologi scenario: no header and no epicentre in SOURCES.md; the grid's centre
        # (a ShakeMap is drawn round its epicentre) and a 10 km depth are assumed.
        _asc(shared, "palu_koro_6.5_shakemap.asc", "Palu-Koro M6.5 scenario",
             (6.5, 10.0, 118.75757142431 + 382 * 0.00833 / 2, -2.9166665 + 436 * 0.00833 / 2),
             communities=PALU, real=False),
        _bmkg(shared, "20131105060809_grid.xml", "BMKG Papua 2013 M3.6", None, False),
        _bmkg(shared, "20150918201057_grid.xml", "BMKG Yogyakarta 2015 M2.5", None, False),
        _bmkg(shared, "20161214005704_grid.xml", "BMKG Aceh 2016 M3.5", None, False),
    ]  # fmt: skip


def _stats(est: np.ndarray, obs: np.ndarray) -> tuple[int, float, float]:
    d = est - obs
    return len(d), float(np.median(np.abs(d))), float(np.median(d))


def validate(shared: Path) -> list[dict[str, Any]]:
    fault_map = faults.load(str(shared / FAULTS))
    rows: list[dict[str, Any]] = []
    for g in grids(shared):
        kind, strike, _ = faults.source_geometry(fault_map, g.lon, g.lat, g.depth_km)
        src = intensity.Source(g.magnitude, g.depth_km, g.lon, g.lat, kind, strike)
        row: dict[str, Any] = {"grid": g.label, "kind": kind, "strike": strike, "real": g.real}
        shaken = np.isfinite(g.mmi) & (g.mmi >= 5.0)
        row["max"] = float(np.nanmax(g.mmi))
        if not shaken.any():
            rows.append(row)
            continue
        est = intensity.estimate_mmi(src, g.cell_lon[shaken], g.cell_lat[shaken])
        row["cells"] = _stats(est, g.mmi[shaken])
        if g.vs30 is not None:
            own = intensity.estimate_mmi(
                src, g.cell_lon[shaken], g.cell_lat[shaken], g.vs30[shaken]
            )
            row["cells_grid_vs30"] = _stats(own, g.mmi[shaken])
        if g.communities:
            desa = gpd.read_file(shared / BOUNDARIES / g.communities)
            pts = desa.geometry.make_valid().representative_point()
            x, y = pts.x.to_numpy(), pts.y.to_numpy()
            obs = intensity.sample_raster(g.raster, g.transform, x, y)
            inside = np.isfinite(obs) & (obs >= 5.0)
            if inside.any():
                row["communities"] = _stats(
                    intensity.estimate_mmi(src, x[inside], y[inside]), obs[inside]
                )
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    def cell(v: object) -> str:
        if not isinstance(v, tuple):
            return "-"
        n, med, bias = v
        return f"{n} / {med:.2f} / {bias:+.2f}"

    lines = [
        "| ShakeMap | type, strike | max MMI | cells: n / median abs / bias |"
        " same, grid's Vs30 | communities: n / median abs / bias |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        strike = f"{r['strike']:.0f}" if r["strike"] is not None else "worst case"
        lines.append(
            f"| {r['grid']} | {r['kind']}, {strike} | {r['max']:.1f} | {cell(r.get('cells'))}"
            f" | {cell(r.get('cells_grid_vs30'))} | {cell(r.get('communities'))} |"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def rows(shared_data: Path) -> list[dict[str, Any]]:
    out = validate(shared_data)
    print("\n" + table(out))
    return out


def test_usgs_padang_2009_within_the_targets(rows: list[dict[str, Any]]) -> None:
    usgs = rows[0]
    assert usgs["kind"] == "intraslab"
    for key in ("cells", "communities"):
        n, med, bias = usgs[key]
        assert n > 100 if key == "cells" else n == 104  # every Padang kelurahan felt >= V
        assert med <= 0.5 and abs(bias) <= 0.3, (key, med, bias)


def test_bmkg_padang_reconstruction(rows: list[dict[str, Any]]) -> None:
    bmkg = rows[1]
    # With the grid's own site model (SVEL) both targets hold; with Siaga's single default
    # Vs30 (350 m/s, also applied to the grid's sea cells) the median error does, the bias
    # (+0.47) does not: docs/feeds.md explains.
    _, med, bias = bmkg["cells_grid_vs30"]
    assert med <= 0.5 and abs(bias) <= 0.3
    _, med, _ = bmkg["cells"]
    assert med <= 0.5
    _, med, bias = bmkg["communities"]
    assert med <= 0.5 and abs(bias) <= 0.3


def test_every_grid_is_in_the_table(rows: list[dict[str, Any]]) -> None:
    assert len(rows) == 7
    small = [r for r in rows if float(r["max"]) < 5.0]
    assert len(small) == 3 and all("cells" not in r for r in small)  # M < 4: nothing >= V
    for r in rows:
        if "cells" in r:
            n, med, _ = r["cells"]
            assert n > 0 and med < 1.5  # no grid is off by more than 1.5 units
