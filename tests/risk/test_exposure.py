"""Exposure on tiny grids with known answers, and on real data against InaSAFE and exactextract."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from service.risk import cache
from service.risk.exposure.grid import Grid, Window, cell_areas_m2
from service.risk.exposure.scanline import coverage_weights
from service.risk.exposure.sums import classify_values, polygon_sums, raster_exposure
from tests.risk.builders import FLOOD_SCHEME, MMI_SCHEME, TSUNAMI_SCHEME

UNIT = Grid.from_affine(Affine(1, 0, 0, 0, -1, 4), 4, 4, "EPSG:3857")  # 4x4 cells of 1 m²


def sums(weights, values: np.ndarray) -> np.ndarray:
    w = weights.window
    sub = values[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
    return polygon_sums(
        weights, ((op, sub[op.row0 : op.row0 + op.nrows]) for op in weights.bands())
    )


def dense(weights) -> np.ndarray:
    """Weights as a full (n, height, width) array over the whole grid."""
    out = np.zeros((weights.n, weights.grid.height, weights.grid.width))
    m = weights.to_csr().toarray().reshape(weights.n, weights.window.height, weights.window.width)
    w = weights.window
    out[:, w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width] = m
    return out


def test_coverage_fractions_of_a_shifted_square() -> None:
    # Square from (0.5, 0.5) to (2.5, 2.5) in map units; the grid's origin is top-left (0, 4).
    w = coverage_weights([shapely.box(0.5, 0.5, 2.5, 2.5)], UNIT)
    got = dense(w)[0]
    want = np.array(
        [
            [0, 0, 0, 0],
            [0.25, 0.5, 0.25, 0],
            [0.5, 1.0, 0.5, 0],
            [0.25, 0.5, 0.25, 0],
        ]
    )
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_centre_counts_cells_whose_centre_is_inside() -> None:
    w = coverage_weights([shapely.box(0.4, 0.4, 2.6, 2.6)], UNIT, method="centre")
    got = dense(w)[0]
    want = np.zeros((4, 4))
    want[1:4, 0:3] = 1
    np.testing.assert_array_equal(got, want)


def test_hole_triangle_and_outside_parts() -> None:
    ring = shapely.box(0, 0, 4, 4)
    holed = shapely.Polygon(ring.exterior.coords, [shapely.box(1, 1, 3, 3).exterior.coords])
    tri = shapely.Polygon([(0, 4), (2, 4), (0, 2)])  # half of the 2x2 top-left block
    outside = shapely.box(3, 3, 10, 10)  # only one cell (top-right) lies in the raster
    w = coverage_weights([holed, tri, outside], UNIT)
    d = dense(w)
    assert d[0].sum() == pytest.approx(12.0)
    assert d[0][1:3, 1:3].sum() == pytest.approx(0.0, abs=1e-12)
    assert d[1].sum() == pytest.approx(2.0)
    np.testing.assert_allclose(d[1][:2, :2], [[1, 0.5], [0.5, 0]], atol=1e-12)
    assert d[2].sum() == pytest.approx(1.0)
    assert d[2][0, 3] == pytest.approx(1.0)


def test_multipolygon_and_south_up_grid() -> None:
    mp = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2.5, 2.5, 3, 4)])
    w = coverage_weights([mp], UNIT)
    assert dense(w)[0].sum() == pytest.approx(1.75)
    south_up = Grid.from_affine(Affine(1, 0, 0, 0, 1, 0), 4, 4, "EPSG:3857")
    w2 = coverage_weights([shapely.box(0.5, 0.5, 2.5, 2.5)], south_up)
    assert dense(w2)[0].sum() == pytest.approx(4.0)
    assert dense(w2)[0].min() >= 0


def test_banded_operators_equal_the_explicit_matrix() -> None:
    rng = np.random.default_rng(1)
    grid = Grid.from_affine(Affine(0.01, 0, 100, 0, -0.01, 5), 300, 200, "EPSG:4326")
    pts = shapely.points(rng.uniform(100, 103, 60), rng.uniform(3, 5, 60))
    polys = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts)))
    polys = shapely.intersection(polys, shapely.box(100.2, 3.1, 102.9, 4.95))
    values = rng.gamma(2.0, 5.0, size=(200, 300))
    w = coverage_weights(polys, grid)
    explicit = (
        w.to_csr()
        @ values[
            w.window.row_off : w.window.row_off + w.window.height,
            w.window.col_off : w.window.col_off + w.window.width,
        ].ravel()
    )
    banded = sums(w, values)
    np.testing.assert_allclose(banded, explicit, rtol=1e-10)
    w._bands.clear()
    small = w.bands(max_cells=1000)  # many bands: same answer
    sub = values[w.window.row_off :, w.window.col_off :][: w.window.height, : w.window.width]
    again = polygon_sums(w, ((op, sub[op.row0 : op.row0 + op.nrows]) for op in small))
    np.testing.assert_allclose(again, explicit, rtol=1e-10)
    # Voronoi cells tile the clip box: their weights sum to 1 on cells wholly inside it.
    total = w.to_csr().sum(axis=0)
    assert total.max() <= 1 + 1e-9


def test_matches_exactextract_on_random_polygons(tmp_path: Path) -> None:
    from exactextract import exact_extract

    rng = np.random.default_rng(7)
    transform = Affine(0.01, 0, 100, 0, -0.01, 5)
    values = rng.gamma(2.0, 5.0, size=(150, 200)).astype("float32")
    src = tmp_path / "v.tif"
    with rasterio.open(
        src,
        "w",
        driver="GTiff",
        width=200,
        height=150,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=transform,
    ) as ds:
        ds.write(values, 1)
    # Irregular, concave polygons: buffered random walks, some reaching beyond the raster.
    geoms = []
    for _ in range(40):
        walk = np.cumsum(rng.normal(0, 0.05, size=(12, 2)), axis=0) + rng.uniform(
            [100, 3.5], [102, 5]
        )
        geoms.append(shapely.LineString(walk).buffer(rng.uniform(0.01, 0.08)))
    gdf = gpd.GeoDataFrame(geometry=geoms, crs=4326)
    ee = exact_extract(str(src), gdf, ["sum"], output="pandas")["sum"].to_numpy()
    grid = Grid.from_affine(transform, 200, 150, "EPSG:4326")
    ours = sums(coverage_weights(gdf.geometry.values, grid), values.astype(float))
    np.testing.assert_allclose(ours, ee, rtol=1e-6)


def test_cache_round_trip(tmp_path: Path) -> None:
    cache.clear_memory()
    built = []

    def build():
        built.append(1)
        return coverage_weights([shapely.box(0.5, 0.5, 2.5, 2.5)], UNIT)

    w1, s1 = cache.get_or_build("k1", build, directory=tmp_path)
    _, s2 = cache.get_or_build("k1", build, directory=tmp_path)
    cache.clear_memory()
    w3, s3 = cache.get_or_build("k1", build, directory=tmp_path)
    assert (s1, s2, s3) == ("built", "memory", "disk") and len(built) == 1
    np.testing.assert_allclose(dense(w3), dense(w1))


def test_classify_each_scheme() -> None:
    depth = np.array([0.0, 0.05, 0.1, 0.69, 0.7, 1.49, 1.5, 9.0, np.nan])
    np.testing.assert_array_equal(
        classify_values(depth, FLOOD_SCHEME), [-1, -1, 0, 0, 1, 1, 2, 2, -1]
    )
    mmi = np.array([5.9, 6.0, 7.0, 7.99, 8.0, 9.2])
    np.testing.assert_array_equal(classify_values(mmi, MMI_SCHEME), [-1, 0, 1, 1, 2, 2])
    # A categorical raster of tsunami category codes 1..4 (the scheme's aliases).
    cat = np.array([0, 1, 2, 3, 4, 5], dtype=float)
    np.testing.assert_array_equal(classify_values(cat, TSUNAMI_SCHEME), [-1, 0, 1, 2, 3, -1])
    legacy = {
        "type": "thresholds",
        "classes": [{"name": "a", "min": 1, "max": 2}, {"name": "b", "min": 2}],
    }
    np.testing.assert_array_equal(classify_values(np.array([0.5, 1.5, 3.0]), legacy), [-1, 0, 1])


def test_raster_exposure_per_class_known_answer() -> None:
    grid = Grid.from_affine(Affine(10, 0, 0, 0, -10, 40), 4, 4, "EPSG:32749")
    pop = np.full((4, 4), 10.0)
    depth = np.array(
        [
            [0.0, 0.2, 0.2, 0.0],
            [0.0, 1.0, 2.0, 0.0],
            [0.0, 0.0, np.nan, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    # Left half and right half of the grid, each 2 x 4 cells.
    w = coverage_weights([shapely.box(0, 0, 20, 40), shapely.box(20, 0, 40, 40)], grid)
    areas = cell_areas_m2(grid, w.window)
    res = raster_exposure(
        w, [(op, pop, depth) for op in w.bands()], FLOOD_SCHEME, cell_area_rows=areas
    )
    np.testing.assert_allclose(res.population, [80, 80])
    np.testing.assert_allclose(res.population_by_class, [[10, 10, 0], [10, 0, 10]])
    np.testing.assert_allclose(res.area_by_class_m2, [[100, 100, 0], [100, 0, 100]])
    np.testing.assert_allclose(res.max_intensity, [1.0, 2.0])
    np.testing.assert_allclose(res.mean_intensity, [(0.2 + 1.0) / 2, (0.2 + 2.0) / 2])


def test_geographic_cell_areas_are_geodesic() -> None:
    grid = Grid.from_affine(Affine(0.01, 0, 106, 0, -0.01, 0.005), 2, 1, "EPSG:4326")

    a = cell_areas_m2(grid, Window(0, 0, 1, 2))
    assert a[0] == pytest.approx(1113.2 * 1105.7, rel=0.01)  # ~1.23 km² at the equator


# -- real data ----------------------------------------------------------------------------


def _merapi(shared_data: Path) -> tuple[gpd.GeoDataFrame, Path, Grid]:
    d = shared_data / "real" / "inasafe_merapi"
    zones = gpd.read_file(d / "donut.shp")
    src = d / "pop_merapi_clip.tif"
    with rasterio.open(src) as ds:
        grid = Grid.from_affine(ds.transform, ds.width, ds.height, ds.crs.to_wkt())
    return zones, src, grid


def _values(src: Path) -> np.ndarray:
    with rasterio.open(src) as ds:
        return np.ma.filled(ds.read(1, masked=True).astype(float), 0.0)


def test_merapi_centre_matches_inasafe(shared_data: Path) -> None:
    zones, src, grid = _merapi(shared_data)
    got = sums(coverage_weights(zones.geometry.values, grid, method="centre"), _values(src))
    per_class = zones.assign(pop=got).groupby("KRB")["pop"].sum()
    published = {
        "Kawasan Rawan Bencana III": 56_514,
        "Kawasan Rawan Bencana II": 68_568,
        "Kawasan Rawan Bencana I": 66_971,
    }
    for krb, want in published.items():
        assert per_class[krb] == pytest.approx(want, rel=0.005)
    assert per_class.sum() == pytest.approx(192_055, rel=0.005)


def test_merapi_coverage_matches_exactextract(shared_data: Path) -> None:
    from exactextract import exact_extract

    zones, src, grid = _merapi(shared_data)
    ee = exact_extract(str(src), zones, ["sum"], output="pandas")["sum"].to_numpy()
    got = sums(coverage_weights(zones.geometry.values, grid), _values(src))
    np.testing.assert_allclose(got, ee, rtol=1e-6)


def test_jakarta_conservation(shared_data: Path) -> None:
    """Communities that tile an area: their sums add up to the raster total inside the union."""
    kel = gpd.read_file(
        shared_data / "real" / "admin_boundaries_kepmendagri2025" / "dki_jakarta_kelurahan.geojson"
    )
    geoms = _tiling(shapely.make_valid(kel.geometry.values))
    src = shared_data / "real" / "population_jakarta_sp2010" / "populaiton_jakarta.tif"
    with rasterio.open(src) as ds:
        grid = Grid.from_affine(ds.transform, ds.width, ds.height, ds.crs.to_wkt())
    values = _values(src)
    union = shapely.union_all(geoms)
    per = sums(coverage_weights(geoms, grid), values)
    whole = sums(coverage_weights([union], grid), values)[0]
    assert len(per) == 261
    assert per.sum() == pytest.approx(whole, rel=1e-6)
    # "The raster total inside the union", independently: exactextract on the union.
    from exactextract import exact_extract

    ee = exact_extract(
        str(src), gpd.GeoDataFrame(geometry=[union], crs=4326), ["sum"], output="pandas"
    )
    assert whole == pytest.approx(float(ee["sum"].iloc[0]), rel=1e-6)
    centre = sums(coverage_weights(geoms, grid, method="centre"), values)
    centre_whole = sums(coverage_weights([union], grid, method="centre"), values)[0]
    assert centre.sum() == pytest.approx(centre_whole, rel=1e-9)


def _tiling(geoms: np.ndarray) -> np.ndarray:
    """Remove the slivers where simplified boundaries overlap, so the polygons tile exactly."""
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="overlaps")
    out = geoms.copy()
    for i, j in zip(a, b, strict=True):
        if i < j:
            out[j] = shapely.difference(out[j], out[i])
    return out


def test_chunked_build_equals_one_pass() -> None:
    rng = np.random.default_rng(3)
    grid = Grid.from_affine(Affine(0.01, 0, 100, 0, -0.01, 5), 300, 200, "EPSG:4326")
    pts = shapely.points(rng.uniform(100, 103, 80), rng.uniform(3, 5, 80))
    polys = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts)))
    polys = shapely.segmentize(shapely.intersection(polys, shapely.box(100, 3, 103, 5)), 0.03)
    values = rng.gamma(2.0, 5.0, size=(200, 300))
    for method in ("coverage", "centre"):
        one = coverage_weights(polys, grid, method=method)
        many = coverage_weights(polys, grid, method=method, chunk_vertices=50)
        np.testing.assert_allclose(sums(many, values), sums(one, values), rtol=1e-12)
        np.testing.assert_allclose(sums(many, values).sum(), values.sum(), rtol=1e-9)


@pytest.mark.parametrize("method", ["coverage", "centre"])
def test_subset_equals_the_full_weights_on_its_window(method: str) -> None:
    """An event's layer reuses the grid's weights: a subset of polygons on a window gives
    exactly the full sums of values that are zero outside the window."""
    grid = Grid.from_affine(Affine(0.1, 0, 100.0, 0, -0.1, 0.0), 60, 50, "EPSG:4326")
    rng = np.random.default_rng(7)
    pts = shapely.points(rng.uniform(100.2, 105.8, 40), rng.uniform(-4.8, -0.2, 40))
    frame = shapely.box(100.05, -4.95, 105.95, -0.05)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    polys = shapely.intersection(cells, frame)
    full = coverage_weights(polys, grid, method=method)
    values = rng.gamma(2.0, 5.0, size=(grid.height, grid.width))

    win = Window(row_off=12, col_off=9, height=23, width=31)
    outside = np.ones_like(values, dtype=bool)
    outside[12:35, 9:40] = False
    masked = np.where(outside, 0.0, values)
    keep = np.arange(0, 40, 2)
    sub = full.subset(keep, win)
    assert sub.n == len(keep) and sub.window == win
    w = sub.window
    part = values[w.row_off : w.row_off + w.height, w.col_off : w.col_off + w.width]
    got = polygon_sums(sub, ((op, part[op.row0 : op.row0 + op.nrows]) for op in sub.bands()))
    want = sums(full, masked)[keep]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert 3 <= (want > 0).sum() < len(keep)  # some chosen polygons meet the window, some not
    # A window reaching past the weights' own is cut to it.
    wide = full.subset(keep, Window(-5, -5, 500, 500))
    assert wide.window == full.window
    np.testing.assert_allclose(sums(wide, values), sums(full, values)[keep], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(
    ("dtype", "nodata"),
    [
        ("float32", -1.0),
        ("float32", float("nan")),
        ("int16", -9999),
        ("uint8", 255),
        ("float32", None),
    ],
)
def test_band_reads_mask_nodata_like_masked_reads(tmp_path: Path, dtype: str, nodata) -> None:
    """The fast band read (values compared with nodata) equals GDAL's masked read."""
    from service.risk.rasters import read_band

    rng = np.random.default_rng(3)
    data = rng.integers(0, 200, size=(30, 40)).astype(dtype)
    if nodata is not None:
        data[rng.random(data.shape) < 0.2] = nodata
    if np.issubdtype(np.dtype(dtype), np.floating):
        data[0, :5] = np.inf
    path = tmp_path / "r.tif"
    profile = {"driver": "GTiff", "width": 40, "height": 30, "count": 1, "dtype": dtype}
    with rasterio.open(
        path,
        "w",
        **profile,
        crs="EPSG:4326",
        transform=Affine(0.1, 0, 0, 0, -0.1, 0),
        nodata=nodata,
    ) as ds:
        ds.write(data, 1)
    win = Window(2, 3, 25, 30)
    with rasterio.open(path) as ds:
        got = read_band(ds, win, 4, 10)
        ref = ds.read(1, window=((6, 16), (3, 33)), masked=True).astype(np.float64)
    want = np.ma.filled(ref, 0.0)
    want[~np.isfinite(want)] = 0.0
    np.testing.assert_array_equal(got, want)
    if nodata is not None:
        assert (want == 0).any()


def test_subset_without_window_keeps_all_cells_of_the_chosen_polygons() -> None:
    grid = Grid.from_affine(Affine(0.1, 0, 100.0, 0, -0.1, 0.0), 60, 50, "EPSG:4326")
    rng = np.random.default_rng(11)
    pts = shapely.points(rng.uniform(100.2, 105.8, 30), rng.uniform(-4.8, -0.2, 30))
    frame = shapely.box(100.05, -4.95, 105.95, -0.05)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
    full = coverage_weights(shapely.intersection(cells, frame), grid)
    values = rng.gamma(2.0, 5.0, size=(grid.height, grid.width))
    keep = np.array([2, 3, 17])
    own = full.subset(keep)
    assert own.window.height * own.window.width < full.window.height * full.window.width
    np.testing.assert_allclose(sums(own, values), sums(full, values)[keep], rtol=1e-12)
