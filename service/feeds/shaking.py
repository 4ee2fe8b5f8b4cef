"""An earthquake's shaking as a hazard layer and per-community intensity; the layer's commit
queues its risk recompute (a job of service.jobs: a worker runs it, nobody waits for it).

Without a ShakeMap, the estimate from the event alone (service.feeds.intensity: an approximate
rupture, an equation for the event type, a site term) is evaluated on a grid around the
epicentre at the default Vs30, and at each community's point with its own Vs30 (property
`vs30`) when it has one; BMKG felt reports raise the communities they name to at least the
reported MMI (method `felt_report`). A ShakeMap grid.xml, when it arrives, becomes a new
version of the same layer, supersedes both and is never replaced by a later estimate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from service.communities.models import Community
from service.feeds import faults, felt, intensity, rupture
from service.feeds.layers import MMI_CLASSIFICATION, raster_layer_version
from service.feeds.models import EventIntensity, HazardEvent
from service.feeds.parsers.shakemap import ShakeMapGrid
from service.hazards.models import HazardLayer
from service.jobs import RECOMPUTE_LAYER, enqueue
from service.settings import Settings
from service.wakeup import SIGNALS, notify

log = logging.getLogger(__name__)


@dataclass
class ShakingResult:
    event_id: int
    layer_id: int | None
    method: str | None
    communities: int
    recompute_job: int | None  # the queued risk recompute of the layer
    seconds: float  # to the committed layer and per-community MMI
    skipped: str | None = None


def layer_name(event_id: int) -> str:
    return f"gempa-event-{event_id}-mmi"


@dataclass
class Sites:
    """Communities' representative points, names and Vs30 (NaN: unknown), as arrays."""

    ids: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    vs30: np.ndarray
    regencies: list[str | None]
    districts: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)


def _communities_in(session: Session, bounds: tuple[float, float, float, float]) -> Sites:
    envelope = func.ST_MakeEnvelope(*bounds, 4326)
    point = func.ST_PointOnSurface(Community.geom)
    vs30 = Community.properties["vs30"].astext
    rows = session.execute(
        select(
            Community.id,
            func.ST_X(point),
            func.ST_Y(point),
            # a number between 100 and 3000 m/s, else unknown
            func.nullif(func.substring(vs30, r"^\s*([0-9]+(?:\.[0-9]+)?)\s*$"), "").label("vs"),
            Community.regency_name,
            Community.district_name,
        )
        # Bounding boxes only (the index answers it): a community whose box overlaps but
        # whose point falls outside the grid samples NaN and is left out.
        .where(Community.geom.op("&&")(envelope))
    ).all()
    vs = np.array([float(r[3]) if r[3] is not None else np.nan for r in rows], dtype=np.float64)
    vs[(vs < 100) | (vs > 3000)] = np.nan
    return Sites(
        ids=np.array([int(r[0]) for r in rows], dtype=np.int64),
        lons=np.array([float(r[1]) for r in rows], dtype=np.float64),
        lats=np.array([float(r[2]) for r in rows], dtype=np.float64),
        vs30=vs,
        regencies=[r[4] for r in rows],
        districts=[r[5] for r in rows],
    )


def _bounds(array: np.ndarray, transform: Affine) -> tuple[float, float, float, float]:
    h, w = array.shape
    west, north = transform.c, transform.f
    return (west, north + transform.e * h, west + transform.a * w, north)


def _latest_method(session: Session, event_id: int) -> str | None:
    layer = session.scalars(
        select(HazardLayer)
        .where(HazardLayer.event_id == event_id, HazardLayer.hazard == "earthquake")
        .order_by(HazardLayer.version.desc())
    ).first()
    return (layer.properties or {}).get("method") if layer is not None else None


def _skipped(event_id: int, t0: float, why: str) -> ShakingResult:
    return ShakingResult(event_id, None, None, 0, None, time.perf_counter() - t0, skipped=why)


_INSERT_INTENSITIES = text(
    "INSERT INTO hazard_event_intensities "
    "(event_id, community_id, mmi, method, layer_id, distance_km) "
    "SELECT :event, t.id, t.mmi, t.method, :layer, t.dist "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:mmi AS float8[]), CAST(:methods AS text[]), "
    "CAST(:dist AS float8[])) AS t(id, mmi, method, dist)"
)


def site_mmi(
    sites: Sites,
    array: np.ndarray,
    transform: Affine,
    source: intensity.Source | None,
    method: str,
    felt_reports: list[felt.Felt],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask of the communities inside the grid, their MMI, their method), vectorised.

    A ShakeMap (source None) is sampled; so is an estimate (drawn at the default Vs30) except
    at communities with a Vs30 of their own, where it is evaluated at their point; then felt
    reports raise the communities they name."""
    on_grid = intensity.sample_raster(array, transform, sites.lons, sites.lats)
    inside = np.isfinite(on_grid)
    methods = np.full(len(sites), method, dtype=object)
    if source is None:
        return inside, on_grid, methods
    mmi = on_grid.copy()
    own = np.isfinite(sites.vs30) & inside  # the grid is drawn at the default Vs30
    if own.any():
        mmi[own] = intensity.estimate_mmi(source, sites.lons[own], sites.lats[own], sites.vs30[own])
    if felt_reports:
        floor = felt.floors(felt_reports, sites.regencies, sites.districts)
        raised = floor > mmi  # NaN compares False
        mmi = np.where(raised, floor, mmi)
        methods[raised] = felt.METHOD
        inside |= raised
    return inside, mmi, methods


def _store_intensities(
    session: Session,
    event_id: int,
    layer_id: int,
    epicentre: Point,
    sites: Sites,
    computed: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """MMI at each community's representative point (replacing an earlier estimate)."""
    session.execute(delete(EventIntensity).where(EventIntensity.event_id == event_id))
    if not len(sites):
        return
    inside, mmi, methods = computed
    if not inside.any():
        return
    dist = intensity.haversine_km(epicentre.x, epicentre.y, sites.lons, sites.lats)
    # One statement over arrays: 84,000 rows in a fraction of a second (an executemany of
    # dicts takes seconds, and the alert waits for this commit).
    session.execute(
        _INSERT_INTENSITIES,
        {
            "event": event_id,
            "layer": layer_id,
            "ids": sites.ids[inside].astype(np.int64).tolist(),
            "mmi": np.round(mmi[inside].astype(np.float64), 2).tolist(),
            "methods": [str(k) for k in methods[inside]],
            "dist": np.round(dist[inside], 2).tolist(),
        },
    )


def _felt_of(event: HazardEvent) -> list[felt.Felt]:
    out = []
    places = (event.properties or {}).get("felt_places")
    for f in places if isinstance(places, list) else []:
        try:
            out.append(felt.Felt(str(f["place"]), int(f["mmi_min"]), int(f["mmi_max"])))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed stored entry is ignored, never an error
    return out


def _rupture_properties(src: intensity.Source) -> dict[str, float]:
    r = rupture.rupture(src.magnitude, src.depth_km, src.event_kind, src.strike_deg)
    return {
        "rupture_length_km": round(r.length_km, 1),
        "rupture_width_km": round(r.width_km, 1),
        "rupture_top_km": round(r.top_km, 1),
    }


def _source(event: HazardEvent, epicentre: Point, settings: Settings) -> intensity.Source:
    """The estimate's source: event type and strike from the fault map when one is set."""
    fault_map = faults.load(settings.feeds.faults_path) if settings.feeds.faults_path else None
    kind, strike, _ = faults.source_geometry(fault_map, epicentre.x, epicentre.y, event.depth_km)
    return intensity.Source(
        float(event.magnitude or 0.0), event.depth_km, epicentre.x, epicentre.y, kind, strike
    )


@dataclass
class Shaking:
    """An earthquake's MMI grid and where it came from (`src` None: a ShakeMap)."""

    array: np.ndarray
    transform: Affine
    method: str
    source: str
    src: intensity.Source | None = None

    def layer_properties(self, event: HazardEvent) -> dict[str, Any]:
        props: dict[str, Any] = {"method": self.method, "event_revision": event.revision}
        if self.src is not None:
            props |= {
                "event_kind": self.src.kind,
                "strike_deg": self.src.strike_deg,
                "vs30_default": intensity.DEFAULT_VS30,
                **_rupture_properties(self.src),
            }
        return props


def shaking_of(
    session: Session,
    event: HazardEvent,
    epicentre: Point,
    settings: Settings,
    grid: ShakeMapGrid | None,
) -> Shaking | str:
    """The ShakeMap's grid, or the estimate from the event alone; a string says why none."""
    if grid is not None:
        source = f"ShakeMap {grid.originator or ''} {grid.event_id} v{grid.version}"
        return Shaking(grid.mmi, grid.transform, "shakemap", source)
    f = settings.feeds
    if event.magnitude is None or event.magnitude < f.intensity_min_magnitude:
        return "below magnitude"
    if _latest_method(session, event.id) == "shakemap":
        return "ShakeMap present"
    src = _source(event, epicentre, settings)
    array, transform = intensity.mmi_grid(
        magnitude=event.magnitude,
        depth_km=event.depth_km,
        lon=epicentre.x,
        lat=epicentre.y,
        cell_deg=f.intensity_cell_deg,
        min_mmi=f.intensity_min_mmi,
        max_radius_km=f.intensity_max_radius_km,
        kind=src.kind,
        strike_deg=src.strike_deg,
    )
    return Shaking(array, transform, intensity.method_of(src), intensity.describe(src), src)


def _store(
    session: Session,
    settings: Settings,
    event: HazardEvent,
    epicentre: Point,
    shaking: Shaking,
    communities: Sites,
    recompute: bool,
) -> tuple[int, int | None]:
    """The layer, the per-community MMI and (with `recompute`) the layer's risk recompute
    job, committed together; the commit wakes the rules and the workers. Returns the layer
    and job ids."""
    kind = "perkiraan" if shaking.src is not None else "ShakeMap"
    with raster_layer_version(
        session=session,
        data_dir=Path(settings.storage.data_dir),
        name=layer_name(event.id),
        hazard="earthquake",
        array=shaking.array,
        transform=shaking.transform,
        classification=MMI_CLASSIFICATION,
        title=f"Guncangan {event.title or 'gempa'} ({kind})",
        source=shaking.source,
        event_id=event.id,
        valid_from=event.time,
        unit="MMI",
        properties=shaking.layer_properties(event),
    ) as layer:
        felt_reports = [] if shaking.src is None else _felt_of(event)
        computed = site_mmi(
            communities, shaking.array, shaking.transform, shaking.src, shaking.method, felt_reports
        )
        _store_intensities(session, event.id, layer.id, epicentre, communities, computed)
        event.properties = {
            **(event.properties or {}),
            "shaking_layer_id": layer.id,
            "shaking_method": shaking.method,
        }
        layer_id = layer.id
        notify(session, SIGNALS, f"event:{event.id}")  # the rules hear it at commit
        # Queued after the signal: a worker hears both at this commit, the signal first.
        job_id = (
            enqueue(
                session=session, kind=RECOMPUTE_LAYER, params={"layer_id": layer_id, "method": None}
            )
            if recompute
            else None
        )
        session.commit()
    return layer_id, job_id


def update_shaking(
    *,
    session_factory: sessionmaker[Session],
    settings: Settings,
    event_id: int,
    grid: ShakeMapGrid | None = None,
    recompute: bool = True,
) -> ShakingResult:
    """Estimate (or take the ShakeMap of) an earthquake's MMI and store it as a layer with
    each community's MMI; with `recompute`, queue the layer's risk recompute with it."""
    t0 = time.perf_counter()
    with session_factory() as session:
        session.begin()  # committed inside the raster file's guard (_store)
        event = session.get(HazardEvent, event_id, with_for_update=True)
        if event is None or event.type != "earthquake" or event.epicentre is None:
            return _skipped(event_id, t0, "not a located earthquake")
        epicentre = to_shape(event.epicentre)
        shaking = shaking_of(session, event, epicentre, settings, grid)
        if isinstance(shaking, str):
            return _skipped(event_id, t0, shaking)
        communities = _communities_in(session, _bounds(shaking.array, shaking.transform))
        if not communities and grid is None:
            return _skipped(event_id, t0, "no community within the shaking area")
        layer_id, job_id = _store(
            session, settings, event, epicentre, shaking, communities, recompute
        )
    seconds = time.perf_counter() - t0
    log.info(
        "event %s: %s layer %s for %d communities in %.2f s; risk recompute job %s",
        event_id,
        shaking.method,
        layer_id,
        len(communities),
        seconds,
        job_id,
    )
    return ShakingResult(event_id, layer_id, shaking.method, len(communities), job_id, seconds)
