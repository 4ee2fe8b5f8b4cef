"""No phone number or member name leaves the service without a key.

Seeds people's data wherever the schema holds it (members and their phones, ground reports,
API key names, the audit log), then calls every public GET route in the route table with
real path values and follows the links in the JSON answers (OGC collections → items →
features), and searches every body, JSON, XML, HTML or binary tiles, for phone numbers in
E.164 or local 08… form and for the seeded names. A public route with a path parameter this
test cannot fill fails the test, so new endpoints must be added to the walk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from service.auth.service import ROLE_RANK
from service.ops import audit
from service.ops.audit import Actor
from tests.routes import api_routes, public_get_routes, required_role
from tests.seed import SEEDED_NAMES, SEEDED_PHONES, seed_everything

# slow: walks every public and role-scoped endpoint (the fast loop is `-m "not slow"`).
pytestmark = pytest.mark.slow

E164 = re.compile(rb"\+[1-9]\d{7,14}(?!\d)")
LOCAL_MOBILE = re.compile(rb"(?<![\d.])08\d{7,12}(?!\d)")
MAX_PAGES = 400


def _phone_leaks(body: bytes, *, code: bool = False) -> list[str]:
    """Phone-number patterns in data; in JavaScript/CSS (where '+16777216' is a constant) only
    the seeded numbers themselves count."""
    found: list[str] = []
    if not code:
        found += [m.decode() for m in E164.findall(body)]
        found += [m.decode() for m in LOCAL_MOBILE.findall(body)]
    for phone in SEEDED_PHONES:
        for form in (phone, phone.lstrip("+"), "0" + phone[3:]):
            if form.encode() in body:
                found.append(form)
    return found


def _links(payload: Any) -> Iterable[str]:
    """Every href in a JSON document (OGC links, next pages, feature links)."""
    if isinstance(payload, dict):
        href = payload.get("href")
        if isinstance(href, str):
            yield href
        for value in payload.values():
            yield from _links(value)
    elif isinstance(payload, list):
        for value in payload:
            yield from _links(value)


def _walk(
    client: TestClient,
    routes: Iterable[Any],
    values: dict[str, list[Any]],
    headers: dict[str, str],
    free_text_prefixes: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, int]]:
    """GET every route with every filled path, follow JSON links; return leaks and statuses.

    Under `free_text_prefixes` only phone numbers count: what people wrote may name someone,
    which no masking can find (phone numbers in it are masked by the service).
    """
    queue: list[str] = []
    unfillable: list[str] = []
    for route in routes:
        params = route.param_convertors.keys() if route.param_convertors else []
        combos: list[dict[str, str]] = [{}]
        for name in params:
            options = values.get(f"{route.path}:{name}") or values.get(name)
            if not options:
                unfillable.append(f"{route.path} ({name})")
                combos = []
                break
            combos = [{**c, name: str(v)} for c in combos for v in options]
        queue += [route.path_format.format(**c) for c in combos]
    assert not unfillable, f"routes whose path values the walk cannot fill: {unfillable}"

    seen: set[str] = set()
    leaks: list[str] = []
    statuses: dict[str, int] = {}
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url, headers=headers)
        statuses[url] = r.status_code
        body = r.content
        content_type = r.headers.get("content-type", "")
        is_code = content_type.startswith(("text/javascript", "text/css"))
        for phone in _phone_leaks(body, code=is_code):
            leaks.append(f"{url}: phone {phone}")
        for name in SEEDED_NAMES:
            if name.encode() in body and not url.startswith(free_text_prefixes):
                leaks.append(f"{url}: name {name}")
        if "json" in content_type:
            for href in _links(r.json()):
                parts = urlsplit(href)
                if parts.netloc in ("", "testserver"):
                    queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return leaks, statuses


def _seed(session_factory: sessionmaker[Session]) -> dict[str, list[Any]]:
    values = seed_everything(session_factory)
    with session_factory() as s, s.begin():
        audit.record(
            session=s,
            actor=Actor.cli(),
            action="members.create",
            target="member:1",
            details={"phone": SEEDED_PHONES[0], "name": SEEDED_NAMES[0]},
        )
        values["delivery_id"] = list(s.scalars(text("SELECT id FROM message_deliveries")))[:3]
    return values


def test_public_endpoints_leak_no_phone_numbers_or_names(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    values = _seed(session_factory)
    leaks, statuses = _walk(client, public_get_routes(client.app), values, {})  # type: ignore[arg-type]
    print(f"walked {len(statuses)} pages:", sorted(statuses.items()))
    assert not leaks, "\n".join(leaks)
    assert statuses, "nothing was walked"
    # The walk reached real content, not only errors.
    assert sum(1 for s in statuses.values() if s == 200) >= len(statuses) // 2, statuses


def _role_walk(
    client: TestClient,
    session_factory: sessionmaker[Session],
    auth_headers: Callable[[str], dict[str, str]],
    role: str,
) -> list[str]:
    values = _seed(session_factory)
    routes = [
        r
        for r in api_routes(client.app)  # type: ignore[arg-type]
        if "GET" in (r.methods or set())
        and ROLE_RANK[required_role(r.dependant) or "viewer"] <= ROLE_RANK[role]
    ]
    # Keys see ground reports' text (phones masked); a report may name a neighbour.
    leaks, statuses = _walk(
        client, routes, values, auth_headers(role), free_text_prefixes=("/ogc/collections/reports",)
    )
    assert sum(1 for s in statuses.values() if s == 200) >= len(statuses) // 2, statuses
    return leaks


def test_viewer_keys_see_no_phone_numbers_or_names(
    client: TestClient,
    session_factory: sessionmaker[Session],
    auth_headers: Callable[[str], dict[str, str]],
) -> None:
    leaks = _role_walk(client, session_factory, auth_headers, "viewer")
    assert not leaks, "\n".join(leaks)


def test_coordinator_keys_see_no_phone_numbers_or_names(
    client: TestClient,
    session_factory: sessionmaker[Session],
    auth_headers: Callable[[str], dict[str, str]],
) -> None:
    """Names and numbers are for responder and admin only, coordinators included out."""
    leaks = _role_walk(client, session_factory, auth_headers, "coordinator")
    assert not leaks, "\n".join(leaks)
