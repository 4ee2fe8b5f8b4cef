"""Recompute against a real PostGIS: zones and rasters, failures, racing workers, history."""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.risk import jobs
from service.risk.models import RiskLayerState, RiskScore
from service.risk.readouts import get_risk_card, risk_features
from service.risk.service import recompute_layer
from service.settings import Settings
from tests.risk import builders

INASAFE = {"KRB III": 56_514, "KRB II": 68_568, "KRB I": 66_971}


def _class_totals(session: Session, layer_id: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in session.scalars(
        select(RiskScore).where(RiskScore.layer_id == layer_id, RiskScore.superseded_at.is_(None))
    ):
        for c in s.exposure["classes"]:
            out[c["class"]] = out.get(c["class"], 0.0) + c["population"]
    return out


def test_volcano_zones_centre_matches_inasafe(
    merapi: dict, session_factory, settings: Settings
) -> None:
    res = recompute_layer(
        session_factory=session_factory,
        layer_id=merapi["krb_id"],
        method="centre",
        settings=settings,
    )
    assert res["status"] == "succeeded", res
    with session_factory() as s:
        totals = _class_totals(s, merapi["krb_id"])
        for name, want in INASAFE.items():
            assert totals[name] == pytest.approx(want, rel=0.005)
        assert sum(totals.values()) == pytest.approx(192_055, rel=0.005)
        score = s.scalars(select(RiskScore).limit(1)).one()
        assert score.method == "centre" and score.hazard == "volcano"
        assert (
            "density_per_km2" in score.inputs["defaults"]
            or score.inputs["indicators"]["density_per_km2"]
        )
        assert (
            "share_elderly" in score.inputs["defaults"]
            and "share_poor" not in score.inputs["defaults"]
        )
        assert (
            score.inputs["layer_version"] == 1
            and score.inputs["population_layer_id"] == merapi["pop_id"]
        )


def test_volcano_zones_coverage_matches_exactextract(
    merapi: dict, session_factory, settings: Settings
) -> None:
    from exactextract import exact_extract

    res = recompute_layer(
        session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings
    )
    assert res["status"] == "succeeded" and res["method"] == "coverage"
    zones = merapi["zones"]
    ee = exact_extract(str(merapi["pop_path"]), zones, ["sum"], output="pandas")["sum"].to_numpy()
    by_krb = zones.assign(pop=ee).groupby("KRB")["pop"].sum()
    with session_factory() as s:
        totals = _class_totals(s, merapi["krb_id"])
    names = {
        "KRB III": "Kawasan Rawan Bencana III",
        "KRB II": "Kawasan Rawan Bencana II",
        "KRB I": "Kawasan Rawan Bencana I",
    }
    for short, long in names.items():
        # Scores store exposure rounded to 1e-3 people.
        assert totals[short] == pytest.approx(by_krb[long], rel=1e-6, abs=0.01)


def _reprojected(src: Path, dst: Path, crs: str) -> Path:
    with rasterio.open(src) as ds, warnings.catch_warnings():
        # rasterio's from_bounds still uses affine's deprecated `*` (third-party, harmless)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        transform, w, h = calculate_default_transform(
            ds.crs, crs, ds.width, ds.height, *ds.bounds, resolution=50
        )
        out = np.full((h, w), -9999.0, dtype="float32")
        reproject(
            rasterio.band(ds, 1),
            out,
            dst_transform=transform,
            dst_crs=crs,
            resampling=Resampling.bilinear,
            dst_nodata=-9999.0,
        )
    return builders.write_raster(dst, out, transform, crs=crs, nodata=-9999.0)


def test_raster_in_another_crs_gives_the_same_totals(
    jakarta: dict,
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    res = recompute_layer(
        session_factory=session_factory, layer_id=jakarta["flood_id"], settings=settings
    )
    assert res["status"] == "succeeded", res
    assert res["communities"] == 255  # 6 southern kelurahan lie outside the raster
    utm = _reprojected(jakarta["depth_path"], tmp_path / "depth_utm.tif", "EPSG:32748")
    with session_factory() as s, s.begin():
        other = builders.add_raster_layer(
            s, data_dir, utm, name="flood_depth_utm", hazard="flood", scheme=builders.FLOOD_SCHEME
        )
        other_id = other.id
    res2 = recompute_layer(session_factory=session_factory, layer_id=other_id, settings=settings)
    assert res2["status"] == "succeeded", res2
    assert res2["timing"]["weights_source"] == "memory"  # same communities, same population grid
    with session_factory() as s:
        a = _class_totals(s, jakarta["flood_id"])
        b = _class_totals(s, other_id)
    assert sum(a.values()) > 1e6
    assert sum(b.values()) == pytest.approx(sum(a.values()), rel=0.005)
    for name in a:
        assert b[name] == pytest.approx(a[name], rel=0.02)


def test_failing_layer_keeps_previous_scores(
    jakarta: dict, session_factory: sessionmaker[Session], settings: Settings, data_dir: Path
) -> None:
    first = recompute_layer(
        session_factory=session_factory, layer_id=jakarta["flood_id"], settings=settings
    )
    assert first["status"] == "succeeded"
    with session_factory() as s:
        before = sorted(s.scalars(select(RiskScore.id).where(RiskScore.superseded_at.is_(None))))

    # 1) fails mid-run: after the exposure is computed, while scores are being written
    def explode(fraction: float, message: str) -> None:
        if message == "scores":
            raise RuntimeError("disk full while writing scores")

    res = recompute_layer(
        session_factory=session_factory,
        layer_id=jakarta["flood_id"],
        settings=settings,
        progress=explode,
    )
    assert res["status"] == "failed" and "disk full" in res["error"]
    # 2) the raster file is damaged
    with session_factory() as s:
        rel = s.execute(select(func.min(RiskScore.inputs["layer_name"].astext))).scalar()
    assert rel == "flood_depth_jkt"
    for f in (data_dir / "rasters").glob("flood_depth_jkt*"):
        f.write_bytes(b"not a tiff")
    res = recompute_layer(
        session_factory=session_factory, layer_id=jakarta["flood_id"], settings=settings
    )
    assert res["status"] == "failed" and "flood_depth_jkt" in res["error"]
    with session_factory() as s:
        after = sorted(s.scalars(select(RiskScore.id).where(RiskScore.superseded_at.is_(None))))
        assert after == before
        assert s.scalar(select(func.count()).select_from(RiskScore)) == len(before)
        state = s.get(RiskLayerState, jakarta["flood_id"])
        assert (
            state is not None
            and state.status == "failed"
            and "flood_depth_jkt" in (state.error or "")
        )
        assert state.computed_at is not None  # the last success is still recorded


def test_two_workers_started_together_run_one_recompute(
    merapi: dict, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    barrier = threading.Barrier(2)
    results: list[dict] = []

    def slow(fraction: float, message: str) -> None:
        time.sleep(0.3)  # hold the lock long enough for the other worker to arrive

    def worker() -> None:
        barrier.wait()
        results.append(
            recompute_layer(
                session_factory=session_factory,
                layer_id=merapi["krb_id"],
                settings=settings,
                progress=slow,
                only_if_stale=True,
            )
        )

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    by_status = {r["status"]: r for r in results}
    assert sorted(by_status) == ["skipped", "succeeded"]
    assert by_status["skipped"]["reason"] == "another worker is recomputing this layer"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RiskScore)) == 9
    # Nothing changed since: the scheduled sweep has nothing to do.
    again = jobs.recompute_stale(session_factory, settings)
    assert again["layers"][0] == {
        "layer_id": merapi["krb_id"],
        "status": "skipped",
        "reason": "up to date",
    }


def test_lock_held_elsewhere_skips(
    merapi: dict, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    from service.db import try_advisory_xact_lock

    with session_factory() as other, other.begin():
        assert try_advisory_xact_lock(other, "risk.recompute", merapi["krb_id"])
        res = recompute_layer(
            session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings
        )
    assert res["status"] == "skipped"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RiskScore)) == 0


def test_history_and_as_of(
    merapi: dict, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    recompute_layer(session_factory=session_factory, layer_id=merapi["krb_id"], settings=settings)
    with session_factory() as s:
        first = s.scalars(select(RiskScore).order_by(RiskScore.score.desc()).limit(1)).one()
        community = s.get(Community, first.community_id)
        assert community is not None
        code = community.code
        t_between = first.computed_at
    time.sleep(0.05)
    with session_factory() as s, s.begin():
        s.execute(
            update(Community)
            .where(Community.code == code)
            .values(
                has_early_warning=True,
                has_task_force=True,
                has_evacuation_site=True,
                drills_per_year=3,
            )
        )
    res = jobs.recompute_stale(session_factory, settings)
    assert res["layers"][0]["status"] == "succeeded"
    with session_factory() as s:
        now_card = get_risk_card(session=s, code=code)
        then_card = get_risk_card(session=s, code=code, at=t_between)
        hz_now, hz_then = now_card["hazards"][0], then_card["hazards"][0]
        assert hz_now["C"] == pytest.approx(1.0) and hz_then["C"] == pytest.approx(0.0)
        assert hz_now["score"] < hz_then["score"]
        assert len(hz_now["history"]) == 2 and hz_now["history"][1]["superseded_at"] is not None
        feats, total = risk_features(session=s, hazard="volcano", at=t_between, limit=100)
        assert total == 9 and all(
            f["properties"]["computed_at"] == t_between.isoformat() for f in feats
        )


def test_earthquake_event_raster_on_a_coarse_grid(
    merapi: dict,
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    """What the feeds work does: an MMI raster (ShakeMap-like coarse grid) with an event id."""
    from affine import Affine

    with rasterio.open(merapi["pop_path"]) as ds:
        b = ds.bounds
    cx, cy = (b.left + b.right) / 2, (b.top + b.bottom) / 2
    res = 0.05
    x0, y0 = b.left - 0.1, b.top + 0.1
    n = int((b.right - b.left + 0.2) / res) + 1
    m = int((b.top - b.bottom + 0.2) / res) + 1
    xs = x0 + (np.arange(n) + 0.5) * res
    ys = y0 - (np.arange(m) + 0.5) * res
    dist = np.hypot(xs[None, :] - cx, ys[:, None] - cy)
    mmi = (8.5 - 12 * dist).astype("float32")
    path = builders.write_raster(tmp_path / "mmi.tif", mmi, Affine(res, 0, x0, 0, -res, y0))
    with session_factory() as s, s.begin():
        layer = builders.add_raster_layer(
            s,
            data_dir,
            path,
            name="shakemap_ev1",
            hazard="earthquake",
            scheme=builders.MMI_SCHEME,
            event_id=None,
        )
        lid = layer.id
    out = recompute_layer(session_factory=session_factory, layer_id=lid, settings=settings)
    assert out["status"] == "succeeded" and out["communities"] == 9
    with session_factory() as s:
        scores = s.scalars(select(RiskScore).where(RiskScore.layer_id == lid)).all()
        centre = max(scores, key=lambda r: r.exposure["max_intensity"] or 0)
        assert centre.exposure["max_intensity"] == pytest.approx(8.5, abs=0.5)
        assert centre.exposure["classes"][2]["class"] == "VIII+"
        assert all(
            r.exposure["population_exposed"] <= r.exposure["population"] + 1e-6 for r in scores
        )
        assert sum(r.exposure["population"] for r in scores) == pytest.approx(
            1_635_226.75, rel=1e-6
        )


def test_worker_poll_scores_a_new_layer(
    merapi: dict, session_factory: sessionmaker[Session], settings: Settings
) -> None:
    """A layer that was just imported gets scored by the worker's poll, once."""
    assert _never(session_factory) == [merapi["krb_id"]]
    jobs.poll(session_factory, settings)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RiskScore)) == 9
    jobs.poll(session_factory, settings)  # nothing new: nothing recomputed
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RiskScore)) == 9
    assert _never(session_factory) == []


def _never(session_factory: sessionmaker[Session]) -> list[int]:
    with session_factory() as s:
        return jobs.never_computed_layers(s)


def test_no_population_raster_is_a_clear_failure(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    import geopandas as gpd
    import shapely

    with session_factory() as s, s.begin():
        builders.add_communities(
            s, gpd.GeoDataFrame({"kode": ["1"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
        )
        zones = gpd.GeoDataFrame({"kelas": ["3"]}, geometry=[shapely.box(0, 0, 0.5, 0.5)], crs=4326)
        layer = builders.add_zone_layer(s, zones, "kelas", name="tsunami_x", hazard="tsunami")
        lid = layer.id
    res = recompute_layer(session_factory=session_factory, layer_id=lid, settings=settings)
    assert res["status"] == "failed"
    assert "no population raster" in res["error"] and "--role exposure" in res["error"]
    with session_factory() as s:
        state = s.get(RiskLayerState, lid)
        assert state is not None and state.status == "failed"
        assert s.scalar(select(func.count()).select_from(RiskScore)) == 0


def test_layers_from_the_import_service(
    shared_data: Path, session_factory: sessionmaker[Session], settings: Settings, data_dir: Path
) -> None:
    """Population raster and KRB zones imported the production way (COG, scheme class names)."""
    import geopandas as gpd
    import shapely

    from service.hazards.schemas import HazardLayerCreate
    from service.hazards.service import import_hazard_layer

    d = shared_data / "real" / "inasafe_merapi"
    with rasterio.open(d / "pop_merapi_clip.tif") as ds:
        b = ds.bounds
    with session_factory() as s, s.begin():
        builders.add_communities(
            s, gpd.GeoDataFrame({"kode": ["34.04"]}, geometry=[shapely.box(*b)], crs=4326)
        )
    import_hazard_layer(
        session_factory=session_factory,
        data_dir=data_dir,
        paths=[d / "pop_merapi_clip.tif"],
        spec=HazardLayerCreate(name="pop", role="exposure", kind="raster"),
    )
    rep = import_hazard_layer(
        session_factory=session_factory,
        data_dir=data_dir,
        paths=[d / f"donut.{ext}" for ext in ("shp", "shx", "dbf", "prj")],
        spec=HazardLayerCreate(name="krb", hazard="volcano", kind="zones", class_field="KRB"),
    )
    with session_factory() as s:
        assert jobs.never_computed_layers(s) == [rep.layer.id]
    jobs.poll(session_factory, settings)  # what the worker does every two seconds
    with session_factory() as s:
        score = s.scalars(select(RiskScore)).one()
    by_class = {c["class"]: c["population"] for c in score.exposure["classes"]}
    assert score.method == "coverage" and score.inputs["scheme"] == "volcano_krb"
    assert score.inputs["unmapped_classes"] == []
    from exactextract import exact_extract

    ee = exact_extract(
        str(d / "pop_merapi_clip.tif"), gpd.read_file(d / "donut.shp"), ["sum"], output="pandas"
    )["sum"].sum()
    assert sum(by_class.values()) == pytest.approx(ee, rel=1e-6)  # 177,991 (centre: 192,055)
    # 178 k of 1.6 M people exposed in one big box: a low share, so a low level.
    assert 0 < score.hazard_index < 0.33 and score.level == "rendah"


def test_worker_scheduler_registers_the_risk_jobs(session_factory, settings: Settings) -> None:
    from service.runtime import Runtime
    from service.scheduler import build_scheduler

    rt = Runtime(settings, session_factory.kw["bind"], session_factory)
    scheduler = build_scheduler(rt)
    jobs_by_id = {j.id: j for j in scheduler.get_jobs()}
    assert {"jobs.poll", "risk.stale", "risk.warm_weights"} <= set(jobs_by_id)
    assert jobs_by_id["risk.stale"].trigger.interval.total_seconds() == 60 * 60
    assert jobs_by_id["jobs.poll"].trigger.interval.total_seconds() == 2


def test_event_layers_on_new_grids_reuse_the_population_grid_weights(
    merapi: dict,
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    """Two events' MMI rasters on different lattices and windows: the second reuses the
    weights of every community on the population grid; editing a community rebuilds them."""
    from affine import Affine

    with rasterio.open(merapi["pop_path"]) as ds:
        b = ds.bounds
    ids = []
    for k, (res, dx) in enumerate([(0.05, 0.0), (0.037, 0.013)]):
        x0, y0 = b.left - 0.1 + dx, b.top + 0.1 - dx
        n = int((b.right - b.left) / 2 / res) + 1  # the west half only
        m = int((b.top - b.bottom + 0.2) / res) + 1
        mmi = np.full((m, n), 7.2 + 0.5 * k, dtype="float32")
        path = builders.write_raster(tmp_path / f"mmi{k}.tif", mmi, Affine(res, 0, x0, 0, -res, y0))
        with session_factory() as s, s.begin():
            ids.append(
                builders.add_raster_layer(
                    s,
                    data_dir,
                    path,
                    name=f"gempa-{k}",
                    hazard="earthquake",
                    scheme=builders.MMI_SCHEME,
                    event_id=None,
                ).id
            )
    first = recompute_layer(session_factory=session_factory, layer_id=ids[0], settings=settings)
    second = recompute_layer(session_factory=session_factory, layer_id=ids[1], settings=settings)
    assert first["status"] == second["status"] == "succeeded"
    assert first["timing"]["weights_source"] == "built"
    assert second["timing"]["weights_source"] == "memory"
    # Only the hazard's window of the population grid was read, not the whole grid.
    with rasterio.open(merapi["pop_path"]) as ds:
        assert second["timing"]["window"][3] < ds.width
    with session_factory() as s:
        scored = s.scalars(select(RiskScore).where(RiskScore.layer_id == ids[1])).all()
        assert 0 < len(scored) < 9  # the communities in the west half's extent
        assert all(r.exposure["max_intensity"] == pytest.approx(7.7) for r in scored)
        one = s.scalars(select(Community).order_by(Community.id)).first()
        assert one is not None
        s.execute(
            update(Community)
            .where(Community.id == one.id)
            .values(geom=func.ST_Multi(func.ST_Buffer(Community.geom, 0.001)))
        )
        s.commit()
    third = recompute_layer(session_factory=session_factory, layer_id=ids[1], settings=settings)
    assert third["timing"]["weights_source"] == "built"


def test_warmed_weights_spare_the_first_event_the_build(
    merapi: dict,
    session_factory: sessionmaker[Session],
    settings: Settings,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    """The worker's start-up warm-up builds the weights of every community on the population
    raster, so the first event's recompute reads them from memory; two threads asking for
    the same weights at once build them once."""
    from affine import Affine

    from service.risk import cache

    cache.clear_memory()
    built: list[int] = []
    real_build = cache._load_or_build

    def counting(key, build, directory):  # type: ignore[no-untyped-def]
        def counted():  # type: ignore[no-untyped-def]
            built.append(1)
            time.sleep(0.2)  # long enough for the second thread to arrive while building
            return build()

        return real_build(key, counted, directory)

    cache._load_or_build = counting  # type: ignore[assignment]
    try:
        threads = [
            threading.Thread(target=jobs.warm_weights, args=(session_factory, settings))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        cache._load_or_build = real_build  # type: ignore[assignment]
    assert len(built) == 1
    assert jobs.warm_weights(session_factory, settings) == {"pop_merapi": "memory"}

    with rasterio.open(merapi["pop_path"]) as ds:
        b = ds.bounds
    mmi = np.full((20, 20), 7.0, dtype="float32")
    path = builders.write_raster(
        tmp_path / "mmi.tif", mmi, Affine(0.05, 0, b.left - 0.1, 0, -0.05, b.top + 0.1)
    )
    with session_factory() as s, s.begin():
        layer_id = builders.add_raster_layer(
            s, data_dir, path, name="gempa", hazard="earthquake", scheme=builders.MMI_SCHEME
        ).id
    res = recompute_layer(session_factory=session_factory, layer_id=layer_id, settings=settings)
    assert res["status"] == "succeeded", res
    assert res["timing"]["weights_source"] == "memory"
