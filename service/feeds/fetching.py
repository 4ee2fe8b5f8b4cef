"""Fetching a feed robustly: bounded, conditional, guarded, retried.

* httpx client injected; explicit connect/read timeouts and a User-Agent naming Siaga.
* Conditional GET with the stored ETag / Last-Modified; 304 = nothing new.
* The body is streamed and abandoned past `max_body_mb` or `max_poll_seconds` (a body
  that never ends); 5xx, 429, timeouts and dropped connections are retried with
  exponential backoff and jitter (tenacity); other 4xx are not.
* Every connection goes through the address guard (service.feeds.guard): http(s) only, no
  private/loopback/link-local/metadata address unless SIAGA_FEEDS_ALLOWED_HOSTS lists it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from service.feeds.guard import AddressRefused, check_request, guarded_transport, parse_allowed
from service.settings import FeedSettings

RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    def __init__(self, message: str, *, transient: bool, reason: str = "fetch_error") -> None:
        super().__init__(message)
        self.transient = transient
        self.reason = reason


@dataclass
class FetchResult:
    status_code: int
    body: bytes
    content_type: str
    etag: str | None = None
    last_modified: str | None = None
    attempts: int = 1

    @property
    def not_modified(self) -> bool:
        return self.status_code == 304

    @property
    def no_content(self) -> bool:
        return self.status_code in (204, 404)


def build_client(feeds: FeedSettings, **kwargs: Any) -> httpx.Client:
    """The client feeds are polled with (callers own and close it).

    Its connections go through the address guard; redirects are followed hop by hop, each hop
    opening a guarded connection. Proxy variables are ignored (a proxy would connect for us,
    past the guard)."""
    timeout = httpx.Timeout(feeds.read_timeout_s, connect=feeds.connect_timeout_s)
    allowed = parse_allowed(feeds.allowed_hosts)
    kwargs.setdefault("transport", guarded_transport(allowed))
    return httpx.Client(
        timeout=timeout,
        headers={"User-Agent": feeds.user_agent},
        follow_redirects=True,
        trust_env=False,
        event_hooks={"request": [check_request(allowed)]},
        **kwargs,
    )


def _read_bounded(resp: httpx.Response, *, max_bytes: int, deadline: float, url: str) -> bytes:
    declared = resp.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(
            f"{url} declares {int(declared)} bytes, over the {max_bytes} byte limit",
            transient=False,
            reason="too_large",
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_bytes():
        total += len(chunk)
        if total > max_bytes:
            raise FetchError(
                f"{url} sent more than {max_bytes} bytes; download abandoned",
                transient=False,
                reason="too_large",
            )
        if time.monotonic() > deadline:
            raise FetchError(
                f"{url} was still sending after the download deadline; abandoned",
                transient=False,
                reason="too_slow",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def fetch(
    client: httpx.Client,
    url: str,
    *,
    settings: FeedSettings,
    etag: str | None = None,
    last_modified: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """GET with conditional headers, bounded size and time, retries for transient errors."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    max_bytes = int(settings.max_body_mb * 1024 * 1024)
    attempts = settings.retries + 1

    def once(attempt: int) -> FetchResult:
        deadline = time.monotonic() + settings.max_poll_seconds
        try:
            with client.stream("GET", url, headers=headers) as resp:
                status = resp.status_code
                if status == 304:
                    return FetchResult(304, b"", "", etag, last_modified, attempt)
                if status in RETRY_STATUSES:
                    raise FetchError(
                        f"{url} answered HTTP {status}", transient=True, reason=f"http_{status}"
                    )
                if status in (204, 404):
                    return FetchResult(
                        status, b"", resp.headers.get("content-type", ""), attempts=attempt
                    )
                if status >= 400:
                    raise FetchError(
                        f"{url} answered HTTP {status}", transient=False, reason=f"http_{status}"
                    )
                body = _read_bounded(resp, max_bytes=max_bytes, deadline=deadline, url=url)
                return FetchResult(
                    status,
                    body,
                    resp.headers.get("content-type", ""),
                    resp.headers.get("etag"),
                    resp.headers.get("last-modified"),
                    attempt,
                )
        except (AddressRefused, httpx.UnsupportedProtocol) as exc:
            raise FetchError(str(exc), transient=False, reason="refused_address") from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"{url}: {exc}", transient=False, reason="too_many_redirects") from exc
        except httpx.TimeoutException as exc:
            raise FetchError(
                f"{url} timed out ({type(exc).__name__})", transient=True, reason="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"{url} failed: {type(exc).__name__}: {exc}", transient=True, reason="connect_error"
            ) from exc

    try:
        for attempt in _retrying(settings, sleep):
            with attempt:
                return once(attempt.retry_state.attempt_number)
    except FetchError as exc:
        if attempts > 1 and exc.transient:
            raise FetchError(
                f"{exc} (after {attempts} attempts)", transient=True, reason=exc.reason
            ) from exc
        raise
    raise AssertionError("unreachable: tenacity returns the last attempt's outcome")


def _retrying(settings: FeedSettings, sleep: Callable[[float], None]) -> Retrying:
    """Transient failures (FetchError.transient) are retried `settings.retries` times, waiting
    `retry_backoff_s`, then twice that, ..., each plus up to a quarter of `retry_backoff_s` of
    jitter; anything else, and the last failure, is raised as it is."""
    backoff = settings.retry_backoff_s
    return Retrying(
        stop=stop_after_attempt(settings.retries + 1),
        wait=wait_exponential(multiplier=backoff, exp_base=2) + wait_random(0, backoff / 4),
        retry=retry_if_exception(lambda exc: isinstance(exc, FetchError) and exc.transient),
        sleep=sleep,
        reraise=True,
    )


def looks_like_html(body: bytes, content_type: str) -> bool:
    head = body.lstrip()[:200].lower()
    return "text/html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))
