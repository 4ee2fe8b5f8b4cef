"""The shaking estimate (IPE/GMPE, rupture, site term), grids and sampling; per-community MMI
from real ShakeMaps."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from service.feeds import groundmotion, intensity, rupture
from service.feeds.models import HazardEvent
from service.feeds.parsers import shakemap
from service.feeds.shaking import update_shaking
from service.settings import Settings

PADANG_ASC = "real/inasafe_palu_padang_shakemaps/shakemap_padang_20090930.asc"
PADANG_KELURAHAN = "real/admin_boundaries_kepmendagri2025/kota_padang_kelurahan.geojson"


def test_ipe_matches_a_hand_calculation() -> None:
    # M6.0 at 10 km: Rm = -0.209 + 2.042*e = 5.3417; ln(sqrt(100 + 28.534)) = 2.42823
    # MMI = 2.085 + 1.428*6 - 1.402*2.42823 = 7.2486
    assert float(intensity.allen2012_mmi(6.0, 10.0)) == pytest.approx(7.2486, abs=1e-3)
    # Beyond 50 km the far-field term c4*ln(R/50) joins: M7, R=100 km.
    rm = -0.209 + 2.042 * math.exp(2)
    expected = 2.085 + 1.428 * 7 - 1.402 * math.log(math.hypot(100, rm)) + 0.078 * math.log(2)
    assert float(intensity.allen2012_mmi(7.0, 100.0)) == pytest.approx(expected)


def test_ipe_falls_with_distance_and_rises_with_magnitude() -> None:
    r = np.array([0, 10, 30, 50, 51, 100, 300])
    mmi = intensity.allen2012_mmi(6.5, r)
    assert np.all(np.diff(mmi) < 0)
    assert np.all(intensity.allen2012_mmi(7.0, r) > mmi)


def test_rrup_ipe_matches_a_hand_calculation() -> None:
    # M7.0 at Rrup 20 km: (1 + 0.813 e^2)^2 = 49.102; ln(sqrt(400 + 49.102)) = 3.05363
    # MMI = 3.950 + 0.913*7 - 1.107*3.05363 = 6.9606
    assert float(intensity.allen2012_rrup_mmi(7.0, 20.0)) == pytest.approx(6.9606, abs=1e-3)


def test_gmice_round_trip_and_branches() -> None:
    # Worden et al. (2012): 100 cm/s^2 -> -1.60 + 3.70*2 = 5.8; 10 cm/s^2 -> 1.78 + 1.55 = 3.33
    assert groundmotion.mmi_from_pga([100.0, 10.0]).tolist() == pytest.approx([5.8, 3.33])
    mmi = np.array([3.0, 4.21, 5.0, 7.5, 9.0])
    assert groundmotion.mmi_from_pga(groundmotion.pga_from_mmi(mmi)) == pytest.approx(mmi)


def test_bchydro_intraslab_matches_a_hand_calculation() -> None:
    # M7.6, h 81 km, Rhypo 98 km, rock (Vs30 1000): C1 = 7.5, M > C1 so fmag = -0.0135*2.4^2;
    # distance (-1.35 - 0.40 - 0.02) ln(98 + 10 e^0.64) - 0.0012*98; + t10 3.12;
    # depth 0.013*21; site (0.98 - 1.186*1.18) ln(1000/865.1)
    expected = (
        4.2203 + 0.9 * -0.3 - 0.0135 * 2.4**2
        + (-1.35 - 0.40 + 0.1 * -0.2) * math.log(98 + 10 * math.exp(0.4 * 1.6)) - 0.0012 * 98
        + 3.12 + 0.013 * 21 + (0.98 - 1.186 * 1.18) * math.log(1000 / 865.1)
    )  # fmt: skip
    got = groundmotion.bchydro_ln_pga(7.6, np.array([98.0]), 81, True, 1000.0)
    assert float(got[0]) == pytest.approx(expected, abs=1e-9)
    assert 0.2 < math.exp(expected) < 0.3  # ~0.26 g on rock at Padang


def test_site_term_amplifies_soft_soil_less_under_strong_shaking() -> None:
    ref = np.array([5.0, 8.0])
    assert groundmotion.site_correction_mmi(ref, 760.0, 760.0) == pytest.approx(ref)
    soft = groundmotion.site_correction_mmi(ref, 250.0, 760.0) - ref
    # +0.6 at V; non-linear soil response: PGA on soft soil no longer grows at VIII
    assert soft[0] > 0.4 and -0.1 < soft[1] < soft[0]
    assert np.all(groundmotion.site_correction_mmi(ref, 1500.0, 760.0) < ref)


def test_rupture_dimensions_and_event_type() -> None:
    # Wells & Coppersmith (1994): M7: L = 10^(-2.44 + 4.13) = 49.0 km, W = 10^(-1.01 + 2.24)
    assert rupture.dimensions(7.0, "crustal") == pytest.approx((48.98, 16.98), abs=0.01)
    # Strasser et al. (2010) intraslab M7.6: L = 10^(-2.350 + 4.2712), W = 10^(-1.058 + 2.7056)
    assert rupture.dimensions(7.6, "intraslab") == pytest.approx((83.41, 44.42), abs=0.01)
    assert rupture.classify(81, None) == "intraslab"
    assert rupture.classify(30, 120.0) == "interface"
    assert rupture.classify(30, 400.0) == rupture.classify(30, None) == "crustal"
    assert rupture.classify(10, 50.0) == "crustal"


def test_worst_case_orientation_is_the_nearest_over_all_strikes() -> None:
    rng = np.random.default_rng(7)
    lon, lat = 100.0 + rng.uniform(-1, 1, 50), -1.0 + rng.uniform(-1, 1, 50)
    worst = rupture.rupture(7.0, 10, "crustal")
    disc = rupture.horizontal_km(worst, 100.0, -1.0, lon, lat)
    by_strike = np.min(
        [
            rupture.horizontal_km(rupture.rupture(7.0, 10, "crustal", s), 100.0, -1.0, lon, lat)
            for s in np.arange(0.0, 180.0, 0.25)
        ],
        axis=0,
    )
    assert disc == pytest.approx(by_strike, abs=0.05)
    assert np.all(disc <= by_strike + 1e-9)
    # Along a north-south rupture a site 30 km north is 30 - L/2 away, 30 km east is 30 km.
    ns = rupture.rupture(7.0, 10, "crustal", 0.0)
    d = rupture.horizontal_km(ns, 100.0, 0.0, [100.0, 100.0 + 30 / 111.195], [30 / 111.195, 0.0])
    assert d == pytest.approx([30 - 48.98 / 2, 30.0], abs=0.05)
    assert ns.top_km == pytest.approx(max(0.0, 10 - 16.98 / 2), abs=0.01)


def test_radius_and_grid_agree() -> None:
    radius = intensity.radius_for_mmi(magnitude=6.5, depth_km=10, mmi=6.0)
    src = intensity.Source(6.5, 10, 0.0, 0.0)
    at_radius = intensity.estimate_mmi(src, [radius / 111.19492664455873], [0.0])
    assert float(at_radius[0]) == pytest.approx(6.0, abs=1e-6)
    assert intensity.radius_for_mmi(magnitude=3.0, depth_km=10, mmi=6.0) == 0.0
    grid, transform = intensity.mmi_grid(
        magnitude=6.5, depth_km=10, lon=100.0, lat=-1.0, cell_deg=0.01
    )
    assert grid.dtype == np.float32 and transform.a == 0.01 and transform.e == -0.01
    assert transform.c / 0.01 == pytest.approx(round(transform.c / 0.01))  # on the 0.01 lattice
    # Strongest over the worst-case rupture: a disc of radius L/2 (12.5 km at M6.5) round the
    # epicentre.
    rows, cols = np.nonzero(grid == grid.max())
    lon, lat = transform.c + (cols + 0.5) * 0.01, transform.f - (rows + 0.5) * 0.01
    half = rupture.dimensions(6.5, "crustal")[0] / 2
    assert np.all(intensity.haversine_km(100.0, -1.0, lon, lat) <= half + 1.0)
    assert intensity.sample_raster(grid, transform, [100.0], [-1.0])[0] == grid.max()
    assert grid.min() < 4.5  # the grid reaches out to where shaking is weak


def test_sample_raster_on_a_known_grid() -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)  # rows north->south
    transform = Affine(1.0, 0.0, 10.0, 0.0, -1.0, 3.0)  # west 10, north 3
    values = intensity.sample_raster(
        array, transform, [10.5, 13.9, 12.2, 9.0], [2.5, 0.1, 1.5, 1.0]
    )
    assert values[:3].tolist() == [0.0, 11.0, 6.0] and math.isnan(values[3])


def test_padang_2009_usgs_shakemap_per_kelurahan(shared_data: Path) -> None:
    """Per-community MMI for the 104 Kota Padang kelurahan from the USGS 2009 grid."""
    kelurahan = gpd.read_file(shared_data / PADANG_KELURAHAN)
    points = kelurahan.geometry.make_valid().representative_point()
    with rasterio.open(shared_data / PADANG_ASC) as src:
        assert (src.width, src.height) == (250, 254)
        assert src.res[0] == pytest.approx(0.030741064)
        array, transform = src.read(1), src.transform
        by_rasterio = np.array([v[0] for v in src.sample(zip(points.x, points.y, strict=True))])
    mmi = intensity.sample_raster(array, transform, points.x.to_numpy(), points.y.to_numpy(), -9999)
    assert len(mmi) == 104 and not np.isnan(mmi).any()
    np.testing.assert_allclose(mmi, by_rasterio)  # same cells as GDAL picks
    # The 30 Sep 2009 M7.6 shook all of Padang at VII to VIII.
    assert mmi.min() >= 7.0 and mmi.max() < 8.0 and 7.2 < mmi.mean() < 7.6
    # The estimate from the event alone (USGS: M7.6, 81 km deep, 0.72 S 99.87 E: intraslab,
    # BC Hydro + GMICE, default Vs30) is within half an intensity unit at every kelurahan.
    est, dist = intensity.mmi_at_points(
        magnitude=7.6, depth_km=81, lon=99.867, lat=-0.720,
        points_lon=points.x.to_numpy(), points_lat=points.y.to_numpy(),
    )  # fmt: skip
    assert np.all((dist > 45) & (dist < 80)) and np.all(np.abs(est - mmi) < 0.5)
    assert est.min() > 7.0  # an "MMI >= VII" rule fires from the event alone
    # The old point-source hypocentral IPE said 6.0-6.5 where people felt VII-VIII.
    old = intensity.allen2012_mmi(7.6, np.hypot(dist, 81))
    assert np.all((old > 6.0) & (old < 6.6))


def test_shakemap_replaces_the_estimate(
    shared_data: Path,
    settings: Settings,
    session_factory: sessionmaker[Session],
    padang_communities: int,
) -> None:
    from geoalchemy2.shape import from_shape
    from shapely.geometry import Point

    grid = shakemap.parse(
        (shared_data / "real/bmkg_shakemaps/20190930000000_grid.xml").read_bytes()
    )
    with session_factory() as s, s.begin():
        event = HazardEvent(
            type="earthquake", status="active", title="Gempa M7.6 Padang", time=grid.time,
            magnitude=7.6, depth_km=81, primary_source="bmkg", primary_source_id="x", revision=1,
            properties={}, raw={}, epicentre=from_shape(Point(99.867, -0.72), srid=4326),
        )  # fmt: skip
        s.add(event)
        s.flush()
        event_id = event.id
    estimate = update_shaking(session_factory=session_factory, settings=settings, event_id=event_id)
    assert estimate.method == "gmpe:bchydro" and estimate.communities == padang_communities
    measured = update_shaking(
        session_factory=session_factory, settings=settings, event_id=event_id, grid=grid
    )
    assert measured.method == "shakemap" and measured.layer_id != estimate.layer_id
    again = update_shaking(session_factory=session_factory, settings=settings, event_id=event_id)
    assert again.skipped == "ShakeMap present" and again.layer_id is None
    with session_factory() as s:
        versions = s.execute(
            text(
                "SELECT version, properties->>'method' FROM hazard_layers"
                " WHERE event_id = :e ORDER BY version"
            ),
            {"e": event_id},
        ).all()
        methods = {
            r[0] for r in s.execute(text("SELECT DISTINCT method FROM hazard_event_intensities"))
        }
    assert [tuple(v) for v in versions] == [(1, "gmpe:bchydro"), (2, "shakemap")]
    assert methods == {"shakemap"}


def test_palu_koro_scenario_per_kelurahan(shared_data: Path) -> None:
    """Badan Geologi's Mw6.5 Palu-Koro scenario grid sampled at the 46 Kota Palu kelurahan."""
    desa = gpd.read_file(
        shared_data
        / "real/admin_boundaries_kepmendagri2025/palu_sigi_donggala_desa_kelurahan.geojson"
    )
    points = desa.geometry.make_valid().representative_point()
    path = shared_data / "real/inasafe_palu_padang_shakemaps/palu_koro_6.5_shakemap.asc"
    with rasterio.open(path) as src:
        assert (src.width, src.height, src.res) == (382, 436, (0.00833, 0.00833))
        array, transform, nodata = src.read(1), src.transform, src.nodata
    mmi = intensity.sample_raster(
        array, transform, points.x.to_numpy(), points.y.to_numpy(), nodata
    )
    palu = desa["kode"].str.startswith("72.71.").to_numpy()
    assert palu.sum() == 46 and not np.isnan(mmi[palu]).any()
    assert mmi[palu].min() > 5.5 and mmi[palu].max() < 7.5 and 6.2 < mmi[palu].mean() < 6.8
    assert np.isnan(mmi).sum() == 2  # two Donggala desa lie beyond the scenario grid


def test_fault_map_gives_event_type_and_strike(shared_data: Path, tmp_path: Path) -> None:
    from service.feeds import faults

    fault_map = faults.load(str(shared_data / "real/bmkg_catalog/fault_indo_world.geojson"))
    assert fault_map is not None and len(fault_map.trenches) > 20
    # Palu 2018 (BMKG/USGS epicentre 0.18 S 119.84 E, 10 km): on the Palu-Koro fault, NNW-SSE.
    kind, strike, why = faults.source_geometry(fault_map, 119.84, -0.18, 10)
    assert kind == "crustal" and strike is not None and 160 < strike < 180, why
    # Aceh 2004 (3.30 N 95.98 E, 30 km): interface, along the Sunda trench (NW-SE).
    kind, strike, _ = faults.source_geometry(fault_map, 95.98, 3.30, 30)
    assert kind == "interface" and strike is not None and 120 < strike < 160
    # Padang 2009 (81 km): intraslab, no strike needed; far from any fault: worst case.
    assert faults.source_geometry(fault_map, 99.867, -0.72, 81)[:2] == ("intraslab", None)
    assert faults.source_geometry(fault_map, 106.8, -7.5, 30)[:2] == ("crustal", None)
    # No map, or one that cannot be read: event type from depth, worst-case orientation.
    assert faults.source_geometry(None, 95.98, 3.30, 30)[:2] == ("crustal", None)
    (tmp_path / "broken.geojson").write_text("{not json")
    assert faults.load(str(tmp_path / "broken.geojson")) is None


def test_a_crustal_estimate_takes_the_strike_of_the_nearest_fault(
    shared_data: Path,
    settings: Settings,
    session_factory: sessionmaker[Session],
    banda_aceh_communities: int,
) -> None:
    from geoalchemy2.shape import from_shape
    from shapely.geometry import Point

    settings.feeds.faults_path = str(shared_data / "real/bmkg_catalog/fault_indo_world.geojson")
    with session_factory() as s, s.begin():
        event = HazardEvent(
            type="earthquake", status="active", title="Gempa M6.5 Aceh Besar",
            time=datetime(2026, 1, 1, tzinfo=UTC), magnitude=6.5, depth_km=10,
            primary_source="bmkg", primary_source_id="y", revision=1, properties={}, raw={},
            epicentre=from_shape(Point(95.4, 5.4), srid=4326),
        )  # fmt: skip
        s.add(event)
        s.flush()
        event_id = event.id
    result = update_shaking(
        session_factory=session_factory, settings=settings, event_id=event_id, recompute=False
    )
    assert result.method == "ipe:aww2012" and result.communities == banda_aceh_communities
    with session_factory() as s:
        props = s.execute(
            text("SELECT properties, source FROM hazard_layers WHERE event_id = :e"),
            {"e": event_id},
        ).one()
    assert props[0]["event_kind"] == "crustal" and 125 < props[0]["strike_deg"] < 135
    assert props[0]["vs30_default"] == 350.0 and "strike 130" in props[1]
    # Wells & Coppersmith M6.5: L = 10^(-2.44 + 3.835) = 24.8 km, W = 10^(-1.01 + 2.08) = 11.7
    assert (props[0]["rupture_length_km"], props[0]["rupture_width_km"]) == (24.8, 11.7)
    assert props[0]["rupture_top_km"] == 4.1  # 10 - 11.7/2
