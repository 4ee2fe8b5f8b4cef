"""The app factory: `create_app(settings)`; its lifespan owns the engine."""

from __future__ import annotations

import gc
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from service import __version__
from service.alerts import hooks as alerts_hooks
from service.api import docs, tiles, web
from service.api.metrics import DB_GAUGES
from service.api.ogc import routes as ogc
from service.api.ogc.catalog import build_catalog
from service.api.ogc.readcache import ItemsCache
from service.api.preauth import AuthBeforeBodyMiddleware
from service.api.readcache import VersionedCache
from service.api.routes import (
    alerts,
    cap,
    communities,
    feeds,
    groups,
    hazards,
    health,
    jobs,
    keys,
    messaging,
    ops,
    risk,
    shelters,
    webhooks,
)
from service.api.uploads import clean_stale_uploads, upload_root
from service.db import make_engine, make_read_session_factory, make_session_factory
from service.errors import register_error_handlers
from service.logs import configure_logging
from service.ops.bodylimit import BodyLimitMiddleware
from service.ops.inflight import InFlightLimitMiddleware
from service.ops.metrics import Metrics
from service.ops.middleware import RateLimitMiddleware, RequestContextMiddleware, is_webhook_path
from service.settings import Settings, load_settings

# Order is matching order, and FastAPI tries every route of each router in turn (about 5 us
# per route on this machine): the hot read paths (OGC items, tiles) come first, which cut
# matching a tile request from about 550 to 110 us. Their prefixes (/ogc, /tiles) are
# their own, so the order changes no route's meaning; it does list the tiles first in /docs.
ROUTERS = [
    ogc.router,
    tiles.router,
    health.router,
    communities.router,
    shelters.router,
    hazards.router,
    risk.router,
    jobs.router,
    feeds.router,
    groups.router,
    alerts.router,
    webhooks.router,
    messaging.router,
    keys.router,
    ops.router,
    cap.router,
    web.router,
    docs.router,
]


# Routes that take file uploads: their bodies may reach SIAGA_API_MAX_UPLOAD_MB.
UPLOAD_PATHS = re.compile(
    r"^/api/v1/(communities/import|hazard-layers|groups/[^/]+/members/import)/?$"
)
MB = 1024 * 1024


def body_limits(settings: Settings) -> Callable[[str], tuple[int, str]]:
    """Path -> (max body bytes, what to do instead), for `BodyLimitMiddleware`."""
    api = settings.api
    webhook = (
        int(api.max_webhook_mb * MB),
        f"the webhook body is larger than the limit of {api.max_webhook_mb:g} MB "
        "(SIAGA_API_MAX_WEBHOOK_MB)",
    )
    upload = (
        int(api.max_upload_mb * MB) + MB,  # the files plus the multipart framing and fields
        f"the upload is larger than the upload limit of {api.max_upload_mb:g} MB "
        "(SIAGA_API_MAX_UPLOAD_MB); import it with the `siaga` CLI on the server, or compress "
        "it (zip a Shapefile)",
    )
    other = (
        int(api.max_body_mb * MB),
        f"the request body is larger than the limit of {api.max_body_mb:g} MB "
        "(SIAGA_API_MAX_BODY_MB); send a smaller request",
    )

    def limit_for(path: str) -> tuple[int, str]:
        if is_webhook_path(path):
            return webhook
        if UPLOAD_PATHS.match(path):
            return upload
        return other

    return limit_for


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        # Staging folders of processes that died mid-upload (SIGKILL, power cut).
        clean_stale_uploads(upload_root(settings.storage.upload_dir))
        app.state.engine = engine or make_engine(settings.database)
        app.state.session_factory = make_session_factory(app.state.engine, settings)
        app.state.read_session_factory = make_read_session_factory(app.state.engine, settings)
        app.state.read_engine = app.state.engine.execution_options(isolation_level="AUTOCOMMIT")
        alerts_hooks.install()  # replies arriving at the webhooks go to alerts
        # The OGC collections are described by the domains and checked here, once per app.
        app.state.ogc_catalog = build_catalog()
        # Items pages, counts and tiles remembered while their tables are unchanged.
        app.state.read_cache = VersionedCache(int(settings.api.read_cache_mb * MB))
        app.state.ogc_items_cache = ItemsCache(app.state.read_cache)
        # Everything made so far (modules, routes, models, SQL templates: a few hundred
        # thousand objects) lives as long as the process: move it out of the collector's
        # reach, so that full collections under load scan only per-request garbage instead
        # of pausing every in-flight request for the whole heap.
        gc.collect()
        gc.freeze()
        yield
        if own_engine:
            app.state.engine.dispose()

    app = FastAPI(
        title="Siaga",
        version=__version__,
        description="Early warning and risk mapping for community groups in Indonesia.",
        lifespan=lifespan,
        # Served by service/api/docs.py from installed files, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = None  # set by the lifespan
    app.state.metrics = Metrics(lambda: app.state.engine, DB_GAUGES)
    # Added innermost first: CORS wraps everything so that 429s and 500s carry its headers.
    # Order, outermost first: CORS, RequestContext, RateLimit (before any key lookup, so keys
    # cannot be guessed unthrottled), AuthBeforeBody (401/403 before a body is read),
    # BodyLimit (413 on Content-Length at once, or while streaming), InFlightLimit (reads in
    # arrival order, a few at a time), the app.
    app.add_middleware(InFlightLimitMiddleware, limit=settings.api.reads_in_flight)
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limits(settings))
    app.add_middleware(AuthBeforeBodyMiddleware)
    app.add_middleware(RateLimitMiddleware, limit_per_minute=settings.api.write_rate_per_minute)
    app.add_middleware(RequestContextMiddleware)
    if settings.api.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Link", "Content-Crs"],
            max_age=600,
        )
    register_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
