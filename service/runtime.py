"""What a CLI command or worker process needs: settings, engine and a session factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db import make_engine, make_session_factory
from service.logs import configure_logging
from service.settings import Settings, load_settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]


@contextmanager
def open_runtime(settings: Settings | None = None) -> Iterator[Runtime]:
    settings = settings or load_settings()
    configure_logging(settings)
    engine = make_engine(settings.database)
    try:
        yield Runtime(settings, engine, make_session_factory(engine, settings))
    finally:
        engine.dispose()
