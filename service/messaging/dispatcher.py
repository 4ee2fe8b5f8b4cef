"""The dispatcher: claims due deliveries, sends them, records the outcome.

Any number of dispatchers on any number of machines share the outbox:

1. take rate tokens for a provider (PostgreSQL token bucket) and claim at most that many
   due rows with `FOR UPDATE SKIP LOCKED`, marking them `sending` with a fresh claim token and
   committing *before* any HTTP call (claims.py: one statement);
2. send them through one HTTP engine (libcurl's multi interface by default, see engines.py)
   as a sliding window (window.py): each reply frees a slot for the next claimed row, so a
   slow answer never holds the others; a row marked `uncertain` (an earlier attempt may have
   reached the provider) is first looked up at the provider and only sent again if it is
   not there;
3. record outcomes as they arrive, a batch per statement, guarded by the claim token
   (outcomes.py plans the writes, recording.py makes them; fallback.py: WhatsApp → SMS).

A worker that dies between 1 and 3 leaves rows `sending`; after `sending_lease_s` any
dispatcher turns them back to `pending` + `uncertain`, so they are reconciled, never blindly
resent. See docs/messaging.md for the whole argument.
"""

from __future__ import annotations

import itertools
import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from service.db import utcnow
from service.messaging import claims, fallback
from service.messaging.engines import HttpEngine, build_engine
from service.messaging.outcomes import Claimed, Outcome, RetryPolicy, plan_writes
from service.messaging.providers import build_providers, provider_for_channel
from service.messaging.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from service.messaging.recording import write_plan, write_with_fallbacks
from service.messaging.token_bucket import TokenBucket
from service.messaging.window import Window
from service.settings import AlertSettings

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    processed: int = 0
    wait_s: float = 0.0  # > 0 when a provider had work but no rate tokens


class Dispatcher:
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        settings: AlertSettings,
        providers: dict[str, Provider],
        engine: HttpEngine,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.providers = providers
        self.engine = engine
        self.clock = clock
        self.rng = rng or random.Random()
        # Claims, rate tokens and outcomes are single statements in autocommit (claims.py).
        self.db = claims.autocommit(session_factory)
        self.buckets = {
            name: TokenBucket(name=name, rate=settings.rate_per_second) for name in providers
        }
        self.retry_policy = RetryPolicy(
            max_attempts=settings.max_attempts,
            retry_base_s=settings.retry_base_s,
            retry_max_s=settings.retry_max_s,
            meta_reconcile_wait_s=settings.meta_reconcile_wait_s,
        )
        self._last_sweep = 0.0
        self.pass_conn: Connection | None = None  # autocommit, held during run_once
        self.request_tags = itertools.count()  # see window.Window
        # Set when new outbox rows are committed (LISTEN/NOTIFY, service.wakeup): the idle
        # wait in run_forever ends at once instead of at the next tick.
        self.wake = threading.Event()

    @classmethod
    def from_settings(
        cls, *, session_factory: sessionmaker[Session], settings: AlertSettings, **kwargs: Any
    ) -> Dispatcher:
        limits = httpx.Limits(
            max_connections=settings.dispatch_concurrency * 2,
            max_keepalive_connections=settings.dispatch_concurrency * 2,
        )
        # TCP_NODELAY: httpx writes headers and body separately; without it Nagle holds the
        # body back until the headers are acknowledged.
        transport = httpx.HTTPTransport(
            limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        client = httpx.Client(timeout=httpx.Timeout(settings.http_timeout_s), transport=transport)
        # One INFO line per provider request would cost more than the request itself.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
        dispatcher = cls(
            session_factory=session_factory,
            settings=settings,
            providers=build_providers(settings, client),
            engine=kwargs.pop("engine", None) or build_engine(settings, client),
            **kwargs,
        )
        dispatcher._client = client
        return dispatcher

    _client: httpx.Client | None = None

    def close(self) -> None:
        self.engine.close()
        if self._client is not None:
            self._client.close()

    # -- one pass -------------------------------------------------------------------------

    def routes(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for channel in ("sms", "whatsapp"):
            out.setdefault(provider_for_channel(self.settings, channel), []).append(channel)
        return out

    def run_once(self) -> PassResult:
        """Reap stale claims, then claim, send and record until nothing is due (or for at
        most window.CLAIM_FOR_S), through the sliding window (window.py)."""
        # One connection for the whole pass: no pool check-out (and pre-ping) per statement.
        with self.db.connect() as conn, claims.dispatch_planning(conn):
            self.pass_conn = conn
            try:
                self.reap_stale(self.clock(), conn=conn)
                return Window(self, conn=conn).run()
            finally:
                self.pass_conn = None

    def drain(self, *, max_seconds: float = 30.0, stop: threading.Event | None = None) -> int:
        """Send until nothing is due (or time is up); returns how many rows were handled."""
        deadline = time.monotonic() + max_seconds
        total = 0
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            result = self.run_once()
            total += result.processed
            if result.processed == 0:
                if result.wait_s <= 0:
                    break
                time.sleep(min(result.wait_s, 0.5))
        self.sweep_if_due()
        return total

    def run_forever(self, stop: threading.Event) -> None:
        log.info("dispatcher running with providers %s", sorted(self.providers))
        while not stop.is_set():
            # Cleared before the pass: rows committed during it set it again, so the wait
            # below cannot sleep through them.
            self.wake.clear()
            try:
                handled = self.drain(max_seconds=30.0, stop=stop)
            except Exception:  # keep the loop alive; the database or a provider may be down
                log.exception("dispatch pass failed")
                handled = 0
            if handled == 0 and not stop.is_set():
                self.wake.wait(self.settings.dispatch_interval_s)

    # -- claims (claims.py) ----------------------------------------------------------------

    # `conn`: the pass's autocommit connection; without one, a connection from the pool.

    def has_due(
        self, channels: list[str], now: datetime, *, conn: Connection | None = None
    ) -> bool:
        if conn is None:
            with self.db.connect() as own:
                return claims.has_due(own, channels, now)
        return claims.has_due(conn, channels, now)

    def claim(
        self,
        provider: str,
        channels: list[str],
        limit: int,
        now: datetime,
        *,
        conn: Connection | None = None,
    ) -> list[Claimed | None]:
        """Claim up to `limit` due rows, committed at once (None for opted-out rows, closed)."""
        if conn is None:
            with self.db.connect() as own:
                return self.claim(provider, channels, limit, now, conn=own)
        return claims.claim_due(conn, provider=provider, channels=channels, limit=limit, now=now)

    def reap_stale(self, now: datetime, *, conn: Connection | None = None) -> int:
        if conn is None:
            with self.db.connect() as own:
                return self.reap_stale(now, conn=own)
        s = self.settings
        reaped = claims.reap_stale(
            conn, now=now, lease_s=s.sending_lease_s, meta_wait_s=s.meta_reconcile_wait_s
        )
        if reaped:
            log.warning("reclaimed %d deliveries left 'sending' by a stopped worker", reaped)
        return reaped

    # -- sending --------------------------------------------------------------------------

    def process(self, rows: list[Claimed]) -> None:
        """Send rows already claimed and record their outcomes."""
        if rows:
            self.record(self.send(rows))

    def send(self, rows: list[Claimed]) -> list[Outcome]:
        """Send claimed rows (looking up uncertain ones first) without recording; one
        outcome per row, in order."""
        return Window(self, claim=False, record=False).run_rows(rows)

    def message(self, row: Claimed, *, outside_window: bool) -> OutboundMessage:
        return OutboundMessage(
            delivery_id=row.id,
            idempotency_key=row.idempotency_key,
            channel=row.channel,
            phone=row.phone,
            body=row.body,
            template=row.template,
            use_template=bool(row.template) and row.channel == "whatsapp" and outside_window,
        )

    @staticmethod
    def settle(
        row: Claimed, read: Callable[[], SendResult | None], *, via_lookup: bool = False
    ) -> Outcome | None:
        """The outcome of reading a reply (or of a send without HTTP); None when a lookup
        found nothing, so the row is sent now."""
        try:
            result = read()
        except ProviderError as exc:
            if via_lookup:  # still unknown whether it was sent: keep the row uncertain
                exc.maybe_sent = True
            return Outcome(row, error=exc)
        except Exception as exc:  # an unexpected body or a bug: it may exist, so look it up
            log.exception("delivery %s: unreadable provider reply", row.id)
            return Outcome(
                row,
                error=ProviderError("transient", "internal", repr(exc)[:500], maybe_sent=True),
            )
        return None if result is None else Outcome(row, result=result, via_lookup=via_lookup)

    # -- recording (outcomes.py plans, recording.py writes) ----------------------------------

    def record(self, outcomes: list[Outcome]) -> None:
        """Write outcomes: on the pass's connection during a pass, unless it was lost (the
        outcomes of a pass that failed on the database then go through a new one)."""
        conn = self.pass_conn
        if conn is not None and conn.invalidated:
            conn = None
        now = self.clock()
        plan = plan_writes(
            outcomes,
            now=now,
            policy=self.retry_policy,
            supports_lookup=lambda name: self.providers[name].supports_lookup,
            rng=self.rng,
        )
        if plan.fallbacks:  # rare: the fallback rows commit with the outcomes
            with self.session_factory() as session, session.begin():
                write_with_fallbacks(session, plan, now=now)
        elif conn is None:
            with self.db.connect() as own:
                write_plan(own, plan, now=now)
        else:
            write_plan(conn, plan, now=now)

    # -- WhatsApp without a receipt (fallback.py) -------------------------------------------

    def sweep_if_due(self) -> None:
        if time.monotonic() - self._last_sweep >= min(
            30.0, self.settings.whatsapp_receipt_timeout_s
        ):
            self._last_sweep = time.monotonic()
            self.sweep_unconfirmed_whatsapp()

    def sweep_unconfirmed_whatsapp(self) -> int:
        """WhatsApp accepted but with no delivery receipt in time: send it by SMS too."""
        with self.session_factory() as session, session.begin():
            return fallback.sweep_unconfirmed_whatsapp(
                session,
                now=self.clock(),
                receipt_timeout_s=self.settings.whatsapp_receipt_timeout_s,
            )
