"""The dispatcher's sliding window: claim, send and record without waiting for a batch.

Up to `DISPATCH_CONCURRENCY` requests are in flight per dispatcher. As each reply arrives its
outcome joins the next write (at most `RECORD_EVERY_S` later, or once a batch has gathered)
and the next row is started in its slot; once half a window of slots (or a batch) is free,
that many rows are claimed (rate tokens first, as before) and started at once. A slow
provider answer therefore holds one slot until it returns or times out, never the rows
claimed with it.

The exactly-once rules are the batch's: every row is claimed and committed before any HTTP;
an uncertain row is looked up before it is sent; nothing starts later than 3/4 of the lease
minus one timeout after its claim; every write is guarded by the claim token.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from service.messaging import claims
from service.messaging.engines import NOT_STARTED
from service.messaging.outcomes import Claimed, Outcome
from service.messaging.providers.base import OutboundMessage, Provider, ProviderError, SendResult
from service.messaging.providers.wire import (
    Reply,
    TransportFailure,
    WireRequest,
    response_or_raise,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from service.messaging.dispatcher import Dispatcher, PassResult

log = logging.getLogger(__name__)

RECORD_EVERY_S = 0.1  # outcomes wait at most this long for the next write
CLAIM_FOR_S = 10.0  # one pass stops claiming after this, so the reaper and the loop get a turn
IDLE_RECLAIM_S = 0.25  # a provider with nothing due is asked again after this


def send_result(provider: Provider, reply: Reply) -> SendResult:
    return provider.send_result(response_or_raise(provider.name, reply))


def lookup_result(
    provider: Provider, reply: Reply, message: OutboundMessage, since: datetime
) -> SendResult | None:
    return provider.lookup_result(response_or_raise(provider.name, reply), message, since=since)


@dataclass
class _Item:
    row: Claimed
    message: OutboundMessage
    start_by: float  # time.monotonic(): not started after this
    lookup: bool  # the next request is a lookup (uncertain row, provider can look up)


class Window:
    """One pass of a dispatcher (`claim=True`), or the sending of rows already claimed."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        claim: bool = True,
        record: bool = True,
        conn: Connection | None = None,
    ) -> None:
        self.d = dispatcher
        self.conn = conn  # autocommit, held for the pass (None: one from the pool per step)
        self.engine = dispatcher.engine
        s = dispatcher.settings
        self.claiming = claim
        self.recording = record
        self.capacity = s.dispatch_concurrency
        # Claims come in chunks of at least half a window (or a batch), never one row at a time.
        self.chunk = max(1, min(s.dispatch_batch, self.capacity) // 2)
        self.queue: deque[_Item] = deque()
        self.flight: dict[Hashable, _Item] = {}
        # Tags are unique for the dispatcher's life: a pass that ended on an error (the
        # database went away) may leave requests in the engine, whose late replies must
        # never be taken for another pass's rows. Those rows stay `sending` and are reaped.
        self.tags = dispatcher.request_tags
        self.done: list[Outcome] = []
        self.first_done = 0.0
        self.kept: list[Outcome] = []  # when not recording: every outcome, for the caller
        self.claimed = 0
        self.wait_s = 0.0
        self.claim_until = time.monotonic() + CLAIM_FOR_S
        self.next_claim = {p: 0.0 for p in dispatcher.routes()}
        self.dry = {p: False for p in self.next_claim}

    # -- entry points ---------------------------------------------------------------------

    def run(self) -> PassResult:
        from service.messaging.dispatcher import PassResult

        self._loop()
        return PassResult(processed=self.claimed, wait_s=self.wait_s)

    def run_rows(self, rows: list[Claimed]) -> list[Outcome]:
        """Send rows claimed elsewhere; one outcome per row, in order."""
        self.claiming = False
        self._enqueue(rows)
        self._loop()
        order = {r.id: i for i, r in enumerate(rows)}
        return sorted(self.kept, key=lambda o: order[o.row.id])

    # -- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while True:
                if self.claiming:
                    self._refill()
                self._start_ready()
                self._collect()
                self._flush(force=not self.flight)
                if not self.queue and not self.flight:
                    if not self._may_claim_more():
                        return
                    wake = min(self.next_claim.values()) - time.monotonic()
                    time.sleep(min(max(wake, 0.0), 0.05))
        finally:
            self._flush(force=True)

    def _may_claim_more(self) -> bool:
        if not self.claiming or time.monotonic() >= self.claim_until:
            return False
        return not all(self.dry.values())

    def _refill(self) -> None:
        assert self.conn is not None, "a claiming pass holds a connection (Dispatcher.run_once)"
        now_mono = time.monotonic()
        if now_mono >= self.claim_until:
            return
        # Only as many as can start at once: a row is sent right after its rate token was
        # taken, so the provider never sees tokens saved up and spent in one burst.
        want = min(self.d.settings.dispatch_batch, self.engine.free() - len(self.queue))
        if want < self.chunk:
            return
        now = self.d.clock()
        for provider, channels in self.d.routes().items():
            if now_mono < self.next_claim[provider]:
                continue
            bucket = self.d.buckets[provider]
            got = claims.claim_with_tokens(
                self.conn, bucket, provider=provider, channels=channels, want=want, now=now
            )
            granted, rows = got.granted, got.rows
            if granted < want:  # out of tokens: let a chunk's worth build up, not one by one
                self.next_claim[provider] = now_mono + min(0.5, self.chunk / bucket.rate)
            if granted == 0:
                busy = bool(self.flight or self.queue)
                if not busy and self.d.has_due(channels, now, conn=self.conn):
                    self.wait_s = max(self.wait_s, got.wait_s)  # the caller sleeps, comes back
                self.dry[provider] = not busy
                continue
            sendable = [r for r in rows if r is not None]
            self.claimed += len(rows)
            if len(rows) < granted:  # nothing more is due now
                self._mark_dry(provider, now_mono)
            else:
                self.dry[provider] = False
            self._enqueue(sendable)

    def _mark_dry(self, provider: str, now_mono: float) -> None:
        self.dry[provider] = True
        self.next_claim[provider] = now_mono + IDLE_RECLAIM_S

    def _enqueue(self, rows: list[Claimed]) -> None:
        if not rows:
            return
        s = self.d.settings
        # Nothing starts so late that it could still be running when the claim's lease runs
        # out: another dispatcher would then reclaim rows this one is about to send.
        start_by = time.monotonic() + s.sending_lease_s * 0.75 - s.http_timeout_s
        for r in rows:
            message = self.d.message(r, outside_window=not r.window_open)
            lookup = r.uncertain and self.d.providers[r.provider].supports_lookup
            # Lookups first: an uncertain row found at the provider is not sent again.
            item = _Item(r, message, start_by, lookup)
            if lookup:
                self.queue.appendleft(item)
            else:
                self.queue.append(item)

    def _start_ready(self) -> None:
        while self.queue and self.engine.free() > 0:
            item = self.queue.popleft()
            if time.monotonic() >= item.start_by:
                self._on_reply(item, TransportFailure(False, False, NOT_STARTED))
                continue
            request = self._request(item)
            if request is None:
                continue
            tag = next(self.tags)
            try:
                self.engine.start(tag, request)
            except Exception as exc:
                log.exception("delivery %s: request not started", item.row.id)
                self._on_reply(item, TransportFailure(False, False, f"not started: {exc!r}"))
                continue
            self.flight[tag] = item

    def _request(self, item: _Item) -> WireRequest | None:
        """The next request of a row, or None when its outcome is already known."""
        r, provider = item.row, self.d.providers[item.row.provider]
        if item.lookup:
            request = provider.lookup_request(item.message)
            if request is not None:
                return request
            item.lookup = False
        try:
            request = provider.send_request(item.message)
        except ProviderError as exc:  # a message this provider cannot carry
            self._add(Outcome(r, error=exc))
            return None
        except Exception as exc:  # a bug must cost this row an attempt, not the batch
            log.exception("delivery %s: request not built", r.id)
            self._add(Outcome(r, error=ProviderError("transient", "internal", repr(exc)[:500])))
            return None
        if request is None:  # no HTTP (console): the provider sends it itself
            self._add(self.d.settle(r, partial(provider.send, item.message)))
        return request

    def _collect(self) -> None:
        if not self.flight and not self.engine.in_flight():
            return  # (requests a failed pass left behind are collected too, freeing slots)
        try:
            replies = self.engine.poll(0.05)
        except Exception as exc:  # the engine broke: any request in flight may have arrived
            log.exception("HTTP engine failed with %d requests in flight", len(self.flight))
            failure = TransportFailure(True, False, f"engine failed: {exc!r}"[:500])
            replies = [(tag, failure) for tag in list(self.flight)]
        for tag, reply in replies:
            item = self.flight.pop(tag, None)
            if item is not None:  # else a request left behind by an earlier, failed pass
                self._on_reply(item, reply)

    def _on_reply(self, item: _Item, reply: Reply) -> None:
        r, provider = item.row, self.d.providers[item.row.provider]
        if not item.lookup:
            self._add(self.d.settle(r, partial(send_result, provider, reply)))
            return
        read = partial(lookup_result, provider, reply, item.message, r.first_claimed_at)
        outcome = self.d.settle(r, read, via_lookup=True)
        if outcome is None:  # not at the provider: it was never created, send it now
            item.lookup = False
            self.queue.appendleft(item)
        else:
            self._add(outcome)

    # -- recording ------------------------------------------------------------------------

    def _add(self, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        if not self.recording:
            self.kept.append(outcome)
            return
        if not self.done:
            self.first_done = time.monotonic()
        self.done.append(outcome)

    def _flush(self, *, force: bool) -> None:
        if not self.done:
            return
        due = time.monotonic() - self.first_done >= RECORD_EVERY_S
        if force or due or len(self.done) >= self.d.settings.dispatch_batch:
            done, self.done = self.done, []
            self.d.record(done)  # on the pass's connection (Dispatcher.pass_conn)
