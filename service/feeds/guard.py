"""Where a feed may be fetched from: the guard against server-side request forgery.

A coordinator registers feed URLs; the worker fetches them from inside the operator's network.
So only `http`/`https`, and a host that resolves to a private, loopback, link-local, shared
(CGNAT), multicast, reserved or cloud-metadata address is refused unless the operator lists
it in SIAGA_FEEDS_ALLOWED_HOSTS (`host` or `host:port`).

The check sits in the connection itself (an httpcore network backend): the name is resolved
once, every address is checked, and the socket is opened to the checked address, so a DNS
answer that changes between check and connect (rebinding) gains nothing, and every redirect
hop is checked the same way because each hop opens its own connection. The refusal text names
the host but never the port, so the same answer comes back whatever port is asked for.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

SCHEMES = frozenset({"http", "https"})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix: the IPv4 address inside


class AddressRefused(Exception):
    """The URL's scheme or host is not one feeds may be fetched from."""

    reason = "refused_address"


def mask_url(url: str) -> str:
    """The URL with any user:password replaced by `***:***` (what non-admins see)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***:***@{host}"))


def parse_allowed(entries: Iterable[str]) -> frozenset[str]:
    """`host` or `host:port` entries, lower-cased; IPv6 as `[::1]` or `[::1]:8080`."""
    return frozenset(e.strip().lower() for e in entries if e.strip())


def _host_key(host: str) -> str:
    host = host.lower().rstrip(".")
    return f"[{host}]" if ":" in host else host


def is_allowed(host: str, port: int | None, allowed: frozenset[str]) -> bool:
    key = _host_key(host)
    return key in allowed or (port is not None and f"{key}:{port}" in allowed)


def blocked(ip: IPAddress) -> bool:
    """Anything that is not a public unicast address (metadata addresses are link-local,
    private or shared: 169.254.169.254, fd00:ec2::254, 100.100.100.200)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return blocked(embedded)
    return not ip.is_global or ip.is_multicast


def _refused(host: str) -> AddressRefused:
    return AddressRefused(
        f"feed host {host!r} is refused: it is not a public address (private, loopback, "
        "link-local, metadata or reserved); an operator may list it in SIAGA_FEEDS_ALLOWED_HOSTS"
    )


def literal_refused(url: str, allowed: frozenset[str]) -> str | None:
    """Without any network: why a URL is refused (bad scheme, or an IP literal / localhost
    host that is not allowed), or None. Names are checked at connect time."""
    parts = httpx.URL(url)
    if parts.scheme not in SCHEMES:
        return f"feed URLs must be http or https, not {parts.scheme!r}"
    host = parts.host
    if not host or is_allowed(host, parts.port or _default_port(parts.scheme), allowed):
        return None
    if host.lower().rstrip(".") == "localhost" or host.lower().endswith(".localhost"):
        return str(_refused(host))
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return str(_refused(host)) if blocked(ip) else None


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def resolve_checked(host: str, port: int, allowed: frozenset[str]) -> list[str]:
    """The addresses to connect to: all of them public, or the host allowed by the operator."""
    if is_allowed(host, port, allowed):
        return [host]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"{host!r} does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    # One refused address refuses the host: a name must not mix public and internal answers.
    if not addresses or any(blocked(ipaddress.ip_address(a.split("%")[0])) for a in addresses):
        raise _refused(host)
    return addresses


class GuardedBackend(httpcore.SyncBackend):
    """Resolves, checks, then connects to the checked address (TLS still checks the name)."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in resolve_checked(host, port, self.allowed):
            try:
                return super().connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


def check_request(allowed: frozenset[str]) -> Any:
    """An httpx request hook: every hop (redirects included) must be http(s)."""

    def hook(request: httpx.Request) -> None:
        if request.url.scheme not in SCHEMES:
            raise AddressRefused(
                f"feed URLs (and their redirects) must be http or https, not {request.url.scheme!r}"
            )

    return hook


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The CA bundle, loaded once per process: every poll builds a client, and loading it
    each time cost a worker polling every second a sixth of its CPU."""
    return httpx.create_ssl_context()


def guarded_transport(allowed: frozenset[str], **kwargs: Any) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through the guard."""
    kwargs.setdefault("verify", tls_context())
    transport = httpx.HTTPTransport(**kwargs)
    pool = transport._pool  # httpx builds the pool without a way to pass a network backend
    assert hasattr(pool, "_network_backend"), "httpcore changed: the feed guard needs updating"
    pool._network_backend = GuardedBackend(allowed)
    return transport
