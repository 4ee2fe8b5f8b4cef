"""Feed-fetch retries (tenacity) with an injected sleep: which failures, how often, how long."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from service.feeds.fetching import FetchError, fetch
from service.settings import FeedSettings

URL = "http://feeds.test/a.json"
Step = Callable[[httpx.Request], httpx.Response]


def _run(steps: list[Step], *, retries: int = 2, backoff: float = 1.0):
    calls: list[httpx.Request] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return steps[min(len(calls), len(steps)) - 1](request)

    settings = FeedSettings(retries=retries, retry_backoff_s=backoff)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        try:
            return fetch(client, URL, settings=settings, sleep=waits.append), calls, waits
        except FetchError as exc:
            return exc, calls, waits


def status(code: int) -> Step:
    return lambda request: httpx.Response(code, content=b'{"ok": true}')


def fail(exc: type[httpx.TransportError]) -> Step:
    def raise_(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    return raise_


@pytest.mark.parametrize("transient", [503, 429, 500])
def test_transient_statuses_are_retried_with_doubling_jittered_waits(transient: int) -> None:
    got, calls, waits = _run([status(transient), status(transient), status(200)])
    assert not isinstance(got, FetchError)
    assert (got.status_code, got.body, got.attempts, len(calls)) == (200, b'{"ok": true}', 3, 3)
    assert len(waits) == 2
    assert 1.0 <= waits[0] <= 1.25 and 2.0 <= waits[1] <= 2.25, waits


def test_timeouts_and_dropped_connections_are_retried_then_reported() -> None:
    got, calls, waits = _run([fail(httpx.ReadTimeout), fail(httpx.ConnectError)], backoff=0.5)
    assert isinstance(got, FetchError) and got.transient
    assert str(got).startswith(f"{URL} failed: ConnectError") and "(after 3 attempts)" in str(got)
    assert len(calls) == 3 and len(waits) == 2 and 0.5 <= waits[0] <= 0.625


def test_timeout_then_not_modified_counts_attempts() -> None:
    got, calls, waits = _run([fail(httpx.ReadTimeout), status(304)])
    assert not isinstance(got, FetchError)
    assert (got.status_code, got.attempts, len(calls), len(waits)) == (304, 2, 2, 1)


@pytest.mark.parametrize("code", [400, 403, 410])
def test_other_client_errors_are_not_retried(code: int) -> None:
    got, calls, waits = _run([status(code)])
    assert isinstance(got, FetchError) and not got.transient
    assert str(got) == f"{URL} answered HTTP {code}"
    assert (len(calls), waits) == (1, [])


def test_no_retries_means_one_attempt_and_the_plain_error() -> None:
    got, calls, waits = _run([status(503)], retries=0)
    assert isinstance(got, FetchError) and str(got) == f"{URL} answered HTTP 503"
    assert (len(calls), waits) == (1, [])


def test_an_unexpected_error_is_not_retried() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug, not the network")

    with pytest.raises(RuntimeError):
        _run([broken])
