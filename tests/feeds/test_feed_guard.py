"""Feeds cannot be turned against the operator's network (issue 11, SSRF).

http(s) only; hosts resolving to private, loopback, link-local or metadata addresses are refused
unless SIAGA_FEEDS_ALLOWED_HOSTS lists them; every redirect hop is checked; the name is resolved
once and the socket opened to the checked address; public views show a classified reason and
masked credentials, never response bytes; refusals read the same whatever the port."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import httpcore
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from service.cli import app as cli_app
from service.feeds import guard
from service.feeds.fetching import build_client
from service.feeds.models import Feed
from service.feeds.polling import poll_feed
from service.feeds.service import error_reason, mask_url
from service.main import create_app
from service.settings import FeedSettings, Settings
from tests.fakes.feed_server import FeedServer, Route

BMKG = b'{"Infogempa": {"gempa": {}}}'


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # AWS/GCP/Azure metadata
        ("100.100.100.200", True),  # Alibaba metadata (shared address space)
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fd00:ec2::254", True),  # AWS metadata over IPv6
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("2002:7f00:1::", True),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 wrapping 169.254.169.254
        ("64:ff9b::808:808", False),  # NAT64 wrapping 8.8.8.8
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_blocked_addresses(address: str, refused: bool) -> None:
    assert guard.blocked(ipaddress.ip_address(address)) is refused


def test_allow_list_by_host_or_host_and_port() -> None:
    allowed = guard.parse_allowed([" Feeds.Internal ", "127.0.0.1:8081", "[::1]:9000", ""])
    assert guard.is_allowed("feeds.internal", 443, allowed)
    assert guard.is_allowed("127.0.0.1", 8081, allowed)
    assert not guard.is_allowed("127.0.0.1", 8082, allowed)
    assert guard.is_allowed("::1", 9000, allowed) and not guard.is_allowed("::1", 80, allowed)


def test_literal_check_without_network() -> None:
    none: frozenset[str] = frozenset()
    assert "SIAGA_FEEDS_ALLOWED_HOSTS" in (guard.literal_refused("http://10.0.0.5/x", none) or "")
    assert guard.literal_refused("http://localhost:8000/", none) is not None
    assert guard.literal_refused("http://[::1]/", none) is not None
    assert "http or https" in (guard.literal_refused("ftp://example.org/", none) or "")
    assert guard.literal_refused("https://data.bmkg.go.id/x.json", none) is None
    assert guard.literal_refused("http://10.0.0.5/x", frozenset({"10.0.0.5"})) is None


def test_name_is_resolved_once_and_the_checked_address_is_dialled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No DNS-rebinding window: the backend dials the address it checked, not the name."""
    lookups: list[str] = []
    dialled: list[str] = []

    def fake_getaddrinfo(host: str, port: int, *a: Any, **k: Any) -> list[Any]:
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]

    def fake_connect(self: Any, host: str, port: int, **kwargs: Any) -> Any:
        dialled.append(host)
        raise httpcore.ConnectError("not really connecting")

    monkeypatch.setattr(guard.socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", fake_connect)
    with pytest.raises(httpcore.ConnectError):
        guard.GuardedBackend(frozenset()).connect_tcp("feeds.example.org", 443)
    assert lookups == ["feeds.example.org"] and dialled == ["8.8.8.8"]


def test_a_name_with_any_internal_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_getaddrinfo(host: str, port: int, *a: Any, **k: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(guard.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(guard.AddressRefused):
        guard.resolve_checked("rebind.example.org", 80, frozenset())


def _settings(settings: Settings, allowed: list[str]) -> Settings:
    feeds = FeedSettings(connect_timeout_s=1, read_timeout_s=1, retries=0, allowed_hosts=allowed)
    return settings.model_copy(update={"feeds": feeds})


def _poll(factory: sessionmaker[Session], settings: Settings, feed_id: int) -> Any:
    with build_client(settings.feeds) as client:
        return poll_feed(
            session_factory=factory, settings=settings, client=client, feed_id=feed_id, force=True
        )


def test_loopback_feed_is_refused_unless_allowed_and_never_contacted(
    settings: Settings,
    session_factory: sessionmaker[Session],
    add_feed: Callable[..., int],
) -> None:
    with FeedServer() as server:
        feed_id = add_feed("local", "bmkg", server.set("/a.json", Route(BMKG)))
        refused = _poll(session_factory, _settings(settings, []), feed_id)
        assert refused.status == "error" and refused.reason == "refused_address"
        assert server.requests == []  # refused before any connection
        other_port = _poll(session_factory, _settings(settings, ["127.0.0.1:1"]), feed_id)
        assert other_port.reason == "refused_address" and server.requests == []
        ok = _poll(session_factory, _settings(settings, [f"127.0.0.1:{server.port}"]), feed_id)
        assert ok.status in ("ok", "no_events") or ok.reason == "parse_error"
        assert server.count("/a.json") == 1


def test_refusals_do_not_differ_by_port(
    settings: Settings, session_factory: sessionmaker[Session], add_feed: Callable[..., int]
) -> None:
    """An open port and a closed one answer the same: no port probing through feeds."""
    with FeedServer() as server:
        open_id = add_feed("open", "bmkg", server.set("/a.json", Route(BMKG)))
        closed_id = add_feed("closed", "bmkg", "http://127.0.0.1:9/a.json")
        strict = _settings(settings, [])
        a, b = _poll(session_factory, strict, open_id), _poll(session_factory, strict, closed_id)
    assert (a.reason, a.error) == (b.reason, b.error)
    with session_factory() as s:
        stored = {f.id: f.last_error for f in s.query(Feed)}
    assert stored[open_id] == stored[closed_id]
    assert str(server.port) not in (stored[open_id] or "")


def test_redirects_are_checked_hop_by_hop(
    settings: Settings, session_factory: sessionmaker[Session], add_feed: Callable[..., int]
) -> None:
    with FeedServer() as public, FeedServer() as internal:
        target = internal.set("/secret", Route(b'{"secret": 1}'))
        start = public.set("/feed.json", Route(status=302, headers={"Location": target}))
        to_file = public.set("/file", Route(status=302, headers={"Location": "file:///etc/passwd"}))
        only_public = _settings(settings, [f"127.0.0.1:{public.port}"])
        hop = _poll(session_factory, only_public, add_feed("redirect", "bmkg", start))
        assert hop.reason == "refused_address" and internal.requests == []
        assert public.count("/feed.json") == 1
        scheme = _poll(session_factory, only_public, add_feed("to-file", "bmkg", to_file))
        assert scheme.reason == "refused_address"


@pytest.fixture
def strict_client(settings: Settings, clean_db: Engine) -> Any:
    """The API with no allowed hosts: nothing internal may be polled."""
    with TestClient(create_app(_settings(settings, []), engine=clean_db)) as c:
        yield c


def test_api_refuses_internal_literals_at_once(
    strict_client: TestClient, auth_headers: Callable[[str], dict[str, str]]
) -> None:
    coordinator = auth_headers("coordinator")
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.7:8080/x"):
        r = strict_client.post(
            "/api/v1/feeds", json={"name": url, "kind": "bmkg", "url": url}, headers=coordinator
        )
        assert r.status_code == 400, r.text
        assert "SIAGA_FEEDS_ALLOWED_HOSTS" in r.json()["detail"]
        assert "8080" not in r.json()["detail"]
    made = strict_client.post(
        "/api/v1/feeds",
        json={"name": "ok", "kind": "bmkg", "url": "https://data.bmkg.go.id/x.json"},
        headers=coordinator,
    ).json()
    patched = strict_client.patch(
        f"/api/v1/feeds/{made['id']}", json={"url": "http://127.0.0.1/"}, headers=coordinator
    )
    assert patched.status_code == 400


def test_public_views_hide_response_bytes_and_credentials(
    client: TestClient,
    auth_headers: Callable[[str], dict[str, str]],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret_page = b"<html>internal admin panel: db password hunter2</html>"
    coordinator, admin = auth_headers("coordinator"), auth_headers("admin")
    with FeedServer() as server:
        url = server.set("/page", Route(secret_page, content_type="text/html"))
        url = url.replace("http://", "http://bpbd:s3cret@")
        feed = client.post(
            "/api/v1/feeds", json={"name": "f", "kind": "bmkg", "url": url}, headers=coordinator
        ).json()
        assert "s3cret" not in feed["url"] and feed["url"].startswith("http://***:***@127.0.0.1")
        polled = client.post(f"/api/v1/feeds/{feed['id']}/poll", headers=coordinator).json()
    assert polled["error"] == "html_page" and "hunter2" not in str(polled)
    for view in (
        client.get(f"/api/v1/feeds/{feed['id']}").json(),
        client.get("/api/v1/feeds").json()[0],
    ):
        assert view["health"]["last_error"] == "html_page"
        assert view["health"]["last_error_detail"] is None
        assert "s3cret" not in str(view) and "127.0.0.1:" in view["url"]
    as_admin = client.get(f"/api/v1/feeds/{feed['id']}", headers=admin).json()
    assert "HTML page" in as_admin["health"]["last_error_detail"]
    assert "s3cret" in as_admin["url"]
    monkeypatch.setenv("DATABASE_URL", database_url)
    listed = CliRunner().invoke(cli_app, ["feeds", "list", "--json"])
    assert listed.exit_code == 0 and "s3cret" not in listed.output and "html_page" in listed.output
    assert "HTML page" not in listed.output


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, None),
        ("timeout: http://x timed out", "timeout"),
        ("http_503: http://x answered HTTP 503", "http_503"),
        ("old free text from before: with bytes", "error"),
    ],
)
def test_error_reason(text: str | None, reason: str | None) -> None:
    assert error_reason(text) == reason


def test_mask_url() -> None:
    assert mask_url("https://u:p@h.example:8443/a?b=1") == "https://***:***@h.example:8443/a?b=1"
    assert mask_url("https://h.example/a") == "https://h.example/a"
