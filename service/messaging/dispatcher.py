"""The dispatcher: claims due deliveries, sends them, records the outcome.

Any number of dispatchers on any number of machines share the outbox:

1. take rate tokens for a provider (PostgreSQL token bucket), then claim at most that many
   due rows with `FOR UPDATE SKIP LOCKED`, marking them `sending` with a fresh claim token and
   committing *before* any HTTP call;
2. send them through one HTTP engine (libcurl's multi interface by default, see engines.py)
   as a sliding window (window.py): each reply frees a slot for the next claimed row, so a
   slow answer never holds the others; a row marked `uncertain` (an earlier attempt may have
   reached the provider) is first looked up at the provider and only sent again if it is
   not there;
3. record outcomes as they arrive, a few per transaction, guarded by the claim token.

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.orm import Session, aliased, sessionmaker

from service.db import utcnow
from service.messaging.engines import HttpEngine, build_engine
from service.messaging.models import Delivery
from service.messaging.providers import build_providers, provider_for_channel
from service.messaging.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from service.messaging.providers.wire import (
    Reply,
    response_or_raise,
)
from service.messaging.ratelimit import TokenBucket
from service.messaging.status import add_events, enqueue_sms_fallback
from service.messaging.window import Window
from service.settings import AlertSettings

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Claimed:
    id: int
    idempotency_key: str
    channel: str
    phone: str
    body: str
    template: dict[str, Any] | None
    attempts: int
    uncertain: bool
    first_claimed_at: datetime
    claim_token: str
    provider: str


@dataclass
class Outcome:
    row: Claimed
    result: SendResult | None = None
    error: ProviderError | None = None
    via_lookup: bool = False


def send_result(provider: Provider, reply: Reply) -> SendResult:
    return provider.send_result(response_or_raise(provider.name, reply))


def lookup_result(
    provider: Provider, reply: Reply, message: OutboundMessage, since: datetime
) -> SendResult | None:
    return provider.lookup_result(response_or_raise(provider.name, reply), message, since=since)


@dataclass
class PassResult:
    processed: int = 0
    wait_s: float = 0.0  # > 0 when a provider had work but no rate tokens


def backoff_s(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + rng.uniform(0, delay / 2)


def _columns(items: list[dict[str, Any]], *names: str) -> dict[str, list[Any]]:
    return {n: [i[n] for i in items] for n in names}


# Outcomes are written with one statement per kind over arrays (unnest), whatever the batch size.
# `claim_token = t.tok` guards against a row another dispatcher reclaimed in the meantime.
_MARK_ACCEPTED = text(
    """
    UPDATE message_deliveries d
    SET status = t.st, provider_message_id = t.mid, claim_token = NULL, uncertain = false,
        accepted_at = :now, delivered_at = CASE WHEN t.st = 'delivered' THEN :now END,
        last_error_code = NULL, last_error_message = NULL, updated_at = :now
    FROM unnest(CAST(:id AS bigint[]), CAST(:tok AS text[]), CAST(:mid AS text[]),
                CAST(:st AS text[])) AS t(id, tok, mid, st)
    WHERE d.id = t.id AND d.claim_token = t.tok
    """
)
_MARK_RETRY = text(
    """
    UPDATE message_deliveries d
    SET status = 'pending', claim_token = NULL, next_attempt_at = t.next, uncertain = t.unc,
        last_error_code = t.code, last_error_message = t.msg, updated_at = :now
    FROM unnest(CAST(:id AS bigint[]), CAST(:tok AS text[]), CAST(:next AS timestamptz[]),
                CAST(:unc AS boolean[]), CAST(:code AS text[]), CAST(:msg AS text[]))
         AS t(id, tok, next, unc, code, msg)
    WHERE d.id = t.id AND d.claim_token = t.tok
    """
)
_MARK_FINAL = text(
    """
    UPDATE message_deliveries d
    SET status = t.st, claim_token = NULL, last_error_code = t.code, last_error_message = t.msg,
        updated_at = :now
    FROM unnest(CAST(:id AS bigint[]), CAST(:tok AS text[]), CAST(:st AS text[]),
                CAST(:code AS text[]), CAST(:msg AS text[])) AS t(id, tok, st, code, msg)
    WHERE d.id = t.id AND d.claim_token = t.tok
    """
)


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
        self.buckets = {
            name: TokenBucket(session_factory, name=name, rate=settings.rate_per_second)
            for name in providers
        }
        self._last_sweep = 0.0
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
        self.reap_stale(self.clock())
        return Window(self).run()

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

    # -- claims ---------------------------------------------------------------------------

    def has_due(self, channels: list[str], now: datetime) -> bool:
        with self.session_factory() as session:
            return bool(
                session.execute(
                    text(
                        "SELECT EXISTS (SELECT 1 FROM message_deliveries WHERE status = 'pending' "
                        "AND next_attempt_at <= :now AND channel = ANY(:ch))"
                    ),
                    {"now": now, "ch": channels},
                ).scalar()
            )

    def claim(
        self, provider: str, channels: list[str], limit: int, now: datetime
    ) -> list[Claimed | None]:
        """Claim up to `limit` due rows and commit; opted-out numbers are closed, not sent
        (returned as None so their rate tokens go back)."""
        token = str(uuid.uuid4())
        with self.session_factory() as session, session.begin():
            rows = session.execute(
                text(
                    """
                    WITH due AS (
                        SELECT id FROM message_deliveries
                        WHERE status = 'pending' AND next_attempt_at <= :now
                          AND channel = ANY(:channels)
                        ORDER BY next_attempt_at, id
                        LIMIT :limit
                        FOR UPDATE SKIP LOCKED
                    )
                    UPDATE message_deliveries d
                    SET status = 'sending', claim_token = :token, claimed_at = :now,
                        first_claimed_at = coalesce(d.first_claimed_at, :now),
                        attempts = d.attempts + 1, provider = :provider, updated_at = :now
                    FROM due WHERE d.id = due.id
                    RETURNING d.id, d.idempotency_key, d.channel, d.phone, d.body, d.template,
                              d.attempts, d.uncertain, d.first_claimed_at,
                              d.purpose <> 'opt_out_confirmation' AND
                              EXISTS (SELECT 1 FROM message_opt_outs o
                                      WHERE o.phone = d.phone AND o.active) AS opted_out
                    """
                ),
                {
                    "now": now,
                    "channels": channels,
                    "limit": limit,
                    "token": token,
                    "provider": provider,
                },
            ).all()
            out: list[Claimed | None] = []
            opted_out = [r.id for r in rows if r.opted_out]
            if opted_out:
                session.execute(
                    text(
                        "UPDATE message_deliveries SET status = 'opted_out', claim_token = NULL, "
                        "last_error_code = 'opted_out', last_error_message = :msg "
                        "WHERE id = ANY(:ids)"
                    ),
                    {"ids": opted_out, "msg": "the number replied STOP/BERHENTI; MULAI restarts"},
                )
                add_events(
                    session,
                    [
                        {
                            "dedupe_key": f"d{i}:opted_out",
                            "delivery_id": i,
                            "status": "opted_out",
                            "source": "dispatcher",
                            "occurred_at": now,
                        }
                        for i in opted_out
                    ],
                )
            for r in rows:
                if r.opted_out:
                    out.append(None)
                    continue
                out.append(
                    Claimed(
                        id=r.id,
                        idempotency_key=r.idempotency_key,
                        channel=r.channel,
                        phone=r.phone,
                        body=r.body,
                        template=r.template,
                        attempts=r.attempts,
                        uncertain=r.uncertain,
                        first_claimed_at=r.first_claimed_at,
                        claim_token=token,
                        provider=provider,
                    )
                )
        return out

    def reap_stale(self, now: datetime) -> int:
        """Rows left `sending` by a dead worker go back to `pending`, marked uncertain.

        Providers without a lookup (Meta) wait `meta_reconcile_wait_s` first: their status
        webhook, which carries our key, usually reconciles the row in the meantime.
        """
        lease = timedelta(seconds=self.settings.sending_lease_s)
        with self.session_factory() as session, session.begin():
            rows = session.execute(
                text(
                    """
                    WITH stale AS (
                        SELECT id FROM message_deliveries
                        WHERE status = 'sending' AND claimed_at < :cutoff
                        LIMIT 1000 FOR UPDATE SKIP LOCKED
                    )
                    UPDATE message_deliveries d
                    SET status = 'pending', uncertain = true, claim_token = NULL,
                        next_attempt_at = :now + CASE WHEN d.provider = 'meta'
                            THEN make_interval(secs => :meta_wait) ELSE interval '0' END,
                        updated_at = :now
                    FROM stale WHERE d.id = stale.id
                    RETURNING d.id, d.attempts
                    """
                ),
                {
                    "cutoff": now - lease,
                    "now": now,
                    "meta_wait": self.settings.meta_reconcile_wait_s,
                },
            ).all()
            add_events(
                session,
                [
                    {
                        "dedupe_key": f"d{r.id}:stale:{r.attempts}",
                        "delivery_id": r.id,
                        "status": "stale_claim",
                        "source": "dispatcher",
                        "occurred_at": now,
                        "error_message": "claim expired mid-send; will look up before resending",
                    }
                    for r in rows
                ],
            )
        if rows:
            log.warning("reclaimed %d deliveries left 'sending' by a stopped worker", len(rows))
        return len(rows)

    # -- sending --------------------------------------------------------------------------

    def window_open(self, phones: list[str], now: datetime) -> set[str]:
        """Numbers that wrote to us in the last 24 h (WhatsApp free-form text allowed)."""
        if not phones:
            return set()
        with self.session_factory() as session:
            rows = session.execute(
                text(
                    "SELECT DISTINCT phone FROM message_inbound "
                    "WHERE phone = ANY(:p) AND channel = 'whatsapp' AND received_at > :since"
                ),
                {"p": phones, "since": now - WINDOW},
            )
            return {r[0] for r in rows}

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

    def record(self, outcomes: list[Outcome]) -> None:
        now = self.clock()
        s = self.settings
        accepted: list[dict[str, Any]] = []
        retry: list[dict[str, Any]] = []
        final: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        fallbacks: list[tuple[int, str]] = []
        for o in outcomes:
            r = o.row
            if o.result is not None:
                accepted.append(
                    {
                        "id": r.id,
                        "tok": r.claim_token,
                        "mid": o.result.provider_message_id,
                        "st": "delivered" if o.result.status == "delivered" else "accepted",
                        "now": now,
                    }
                )
                events.append(
                    {
                        "dedupe_key": f"d{r.id}:accepted",
                        "delivery_id": r.id,
                        "status": "accepted",
                        "source": "dispatcher",
                        "occurred_at": now,
                        "provider_message_id": o.result.provider_message_id,
                        "error_message": "found at the provider after an uncertain send"
                        if o.via_lookup
                        else None,
                    }
                )
                continue
            err = o.error
            assert err is not None
            if err.kind == "transient" and r.attempts < s.max_attempts:
                delay = backoff_s(r.attempts, base=s.retry_base_s, cap=s.retry_max_s, rng=self.rng)
                if err.retry_after_s:
                    delay = max(delay, min(err.retry_after_s, s.retry_max_s))
                provider = self.providers[r.provider]
                uncertain = err.maybe_sent or (r.uncertain and not provider.supports_lookup)
                if err.maybe_sent and not provider.supports_lookup:
                    # No lookup (Meta): give the status webhook time to name the message.
                    delay = max(delay, s.meta_reconcile_wait_s)
                retry.append(
                    {
                        "id": r.id,
                        "tok": r.claim_token,
                        "next": now + timedelta(seconds=delay),
                        "unc": uncertain,
                        "code": err.code,
                        "msg": err.message[:1000],
                        "now": now,
                    }
                )
                status = "retry"
            else:
                status = "failed" if err.kind == "permanent" else "dead"
                final.append(
                    {
                        "id": r.id,
                        "tok": r.claim_token,
                        "st": status,
                        "code": err.code,
                        "msg": err.message[:1000],
                        "now": now,
                    }
                )
                if r.channel == "whatsapp" and (err.fallback or status == "dead"):
                    fallbacks.append((r.id, f"WhatsApp {status} with {err.code}"))
            events.append(
                {
                    "dedupe_key": f"d{r.id}:{status}:{r.attempts}",
                    "delivery_id": r.id,
                    "status": status,
                    "source": "dispatcher",
                    "occurred_at": now,
                    "error_code": err.code,
                    "error_message": err.message[:1000],
                }
            )
        with self.session_factory() as session, session.begin():
            if accepted:
                session.execute(
                    _MARK_ACCEPTED, {**_columns(accepted, "id", "tok", "mid", "st"), "now": now}
                )
            if retry:
                session.execute(
                    _MARK_RETRY,
                    {**_columns(retry, "id", "tok", "next", "unc", "code", "msg"), "now": now},
                )
            if final:
                session.execute(
                    _MARK_FINAL, {**_columns(final, "id", "tok", "st", "code", "msg"), "now": now}
                )
            add_events(session, events)
            for delivery_id, reason in fallbacks:
                delivery = session.get(Delivery, delivery_id)
                if delivery is not None:
                    enqueue_sms_fallback(session, delivery, now=now, reason=reason)

    # -- WhatsApp without a receipt -------------------------------------------------------

    def sweep_if_due(self) -> None:
        if time.monotonic() - self._last_sweep >= min(
            30.0, self.settings.whatsapp_receipt_timeout_s
        ):
            self._last_sweep = time.monotonic()
            self.sweep_unconfirmed_whatsapp()

    def sweep_unconfirmed_whatsapp(self) -> int:
        """WhatsApp accepted but with no delivery receipt in time: send it by SMS too."""
        now = self.clock()
        cutoff = now - timedelta(seconds=self.settings.whatsapp_receipt_timeout_s)
        child = aliased(Delivery)
        with self.session_factory() as session, session.begin():
            rows = (
                session.execute(
                    select(Delivery)
                    .where(
                        Delivery.channel == "whatsapp",
                        Delivery.status.in_(("accepted", "queued", "sent")),
                        Delivery.accepted_at < cutoff,
                        ~select(child.id).where(child.fallback_of == Delivery.id).exists(),
                    )
                    .limit(500)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            for d in rows:
                enqueue_sms_fallback(
                    session, d, now=now, reason="no WhatsApp delivery receipt in time"
                )
        return len(rows)
