"""Wake-ups across worker processes: PostgreSQL LISTEN/NOTIFY.

A transaction that stores something another process should act on at once calls
`notify(session, CHANNEL, payload)`; PostgreSQL delivers the notification to every listening
connection when (and only if) that transaction commits. A `Listener` thread in each worker
holds one connection that LISTENs and hands every payload to a callback.

Notifications are a wake-up, never the record: one sent while no worker listens (a restart)
is lost, and the interval jobs that read the tables themselves are the safety net. After a
reconnect the listener calls `on_connect` so its owner can catch up at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# What a payload names: "event:<id>" (a hazard event stored, revised, or its per-community
# shaking stored) or "layer:<id>" (risk scores of a hazard layer stored).
SIGNALS = "siaga_signals"
# A new delivery in the outbox (payload empty): dispatchers stop waiting for their next tick.
OUTBOX = "siaga_outbox"
# (A new queued job notifies service.jobs.JOBS_CHANNEL, "siaga_jobs", payload its kind.)


def notify(session: Session, channel: str, payload: str = "") -> None:
    """Queue a notification on the session's transaction (delivered at commit, dropped on
    rollback; identical ones in one transaction are delivered once)."""
    session.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


def libpq_url(sqlalchemy_url: str) -> str:
    """A SQLAlchemy URL (postgresql+psycopg://…) as a libpq connection string."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


class Listener(threading.Thread):
    """A daemon thread that LISTENs on `channels` and calls `handler(channel, payload)`.

    It reconnects with a growing pause when the database goes away and calls `on_connect()`
    after every (re)connection, once it listens: whatever was notified while it was away
    was missed, so the owner should look at the tables once.
    """

    def __init__(
        self,
        database_url: str,
        channels: Iterable[str],
        handler: Callable[[str, str], None],
        *,
        on_connect: Callable[[], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(name="siaga-listener", daemon=True)
        self.conninfo = libpq_url(database_url)
        self.channels = list(channels)
        self.handler = handler
        self.on_connect = on_connect
        self.stop_event = stop or threading.Event()
        self.listening = threading.Event()  # set while a connection listens (tests wait on it)

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        pause = 0.5
        while not self.stop_event.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    for channel in self.channels:
                        conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    pause = 0.5
                    if self.on_connect is not None:
                        self.on_connect()
                    while not self.stop_event.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._handle(note.channel, note.payload)
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("listener: %s; reconnecting in %.1f s", exc, pause)
                self.stop_event.wait(pause)
                pause = min(pause * 2, 30.0)
        self.listening.clear()

    def _handle(self, channel: str, payload: str) -> None:
        try:
            self.handler(channel, payload)
        except Exception:  # a handler's bug must not stop the wake-ups
            log.exception("listener: handler failed for %s %r", channel, payload)
