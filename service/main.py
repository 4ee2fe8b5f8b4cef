"""The app factory: `create_app(settings)`; its lifespan owns the engine and the HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import Engine

from service import __version__
from service.api import cap, tiles, web
from service.api.ogc import routes as ogc
from service.api.routes import (
    alerts,
    communities,
    feeds,
    hazards,
    health,
    keys,
    ops,
    risk,
    webhooks,
)
from service.db import make_engine, make_session_factory
from service.errors import register_error_handlers
from service.logging import configure_logging
from service.ops.metrics import Metrics
from service.ops.middleware import RateLimitMiddleware, RequestContextMiddleware
from service.settings import Settings, load_settings

ROUTERS = [
    health.router,
    communities.router,
    hazards.router,
    risk.router,
    feeds.router,
    alerts.router,
    webhooks.router,
    keys.router,
    ops.router,
    ogc.router,
    tiles.router,
    cap.router,
    web.router,
]


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or make_engine(settings.database)
        app.state.session_factory = make_session_factory(app.state.engine, settings)
        timeout = httpx.Timeout(
            settings.feeds.read_timeout_s, connect=settings.feeds.connect_timeout_s
        )
        async with httpx.AsyncClient(timeout=timeout) as client:
            app.state.http = client
            yield
        if own_engine:
            app.state.engine.dispose()

    app = FastAPI(
        title="Siaga",
        version=__version__,
        description="Early warning and risk mapping for community groups in Indonesia.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = None  # set by the lifespan
    app.state.metrics = Metrics(lambda: app.state.engine)
    # Added innermost first: CORS wraps everything so that 429s and 500s carry its headers.
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
