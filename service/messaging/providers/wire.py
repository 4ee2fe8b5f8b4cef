"""A provider request and its reply as plain data, so the same provider code can be run by
any HTTP engine: the injected httpx client for single calls and tests, libcurl for fan-outs.

Providers build `WireRequest`s and read `WireResponse`s; they do no I/O of their own on the
dispatcher's path (see service/messaging/engines.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from service.messaging.providers.base import ProviderError


@dataclass(frozen=True, slots=True)
class WireRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    reason: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or {} when it is not one (HTML error pages, empty)."""
        try:
            parsed = self.json()
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def retry_after_s(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value else None
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No HTTP response. `reached` is False only when the request certainly never left
    (connection refused, DNS): otherwise the provider may have created the message."""

    reached: bool
    timed_out: bool
    detail: str


Reply = WireResponse | TransportFailure


def transport_error(provider: str, failure: TransportFailure) -> ProviderError:
    """A failure as the dispatcher acts on it: transient, and looked up before any resend
    when the request may have arrived."""
    return ProviderError(
        "transient",
        "timeout" if failure.timed_out else "network",
        f"{provider}: {failure.detail}",
        maybe_sent=failure.reached,
    )


def response_or_raise(provider: str, reply: Reply) -> WireResponse:
    if isinstance(reply, TransportFailure):
        raise transport_error(provider, reply)
    return reply


def exchange(client: httpx.Client, request: WireRequest) -> Reply:
    """Run one request through an httpx client."""
    try:
        response = client.request(
            request.method, request.url, content=request.body or None, headers=request.headers
        )
    except (UnicodeError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return TransportFailure(
            reached=False, timed_out=False, detail=f"request not built: {exc!r}"
        )
    except httpx.TransportError as exc:
        never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        return TransportFailure(
            reached=not never_sent,
            timed_out=isinstance(exc, httpx.TimeoutException),
            detail=f"{type(exc).__name__} {exc}",
        )
    return WireResponse(
        status=response.status_code,
        body=response.content,
        headers={k.lower(): v for k, v in response.headers.items()},
        reason=response.reason_phrase,
    )
