"""Request middleware (pure ASGI): request ids, access logs, latency, rate limits, audit.

Order, outermost first: CORS, RequestContext (id, log, metrics, fallback audit, 500s and
503s), RateLimit, AuthBeforeBody (service.api.preauth), BodyLimit (service.ops.bodylimit).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import anyio
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import DATABASE_DOWN, PROBLEM_MEDIA_TYPE, RETRY_AFTER_S
from service.logs import redact, request_id_var
from service.ops import request_limits
from service.ops.audit import ACTOR_STATE, Actor
from service.ops.models import AuditEntry

log = logging.getLogger("service.access")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Provider webhooks authenticate by signature and arrive in bursts from one provider address:
# they are not rate limited per IP and not part of the key/role model.
WEBHOOK_PREFIXES = ("/webhooks/", "/api/v1/webhooks/")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def is_webhook_path(path: str) -> bool:
    return path.startswith(WEBHOOK_PREFIXES)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    url_path: str = scope.get("path", "")
    if url_path.startswith("/static/"):
        return "/static/{path}"
    return "unmatched"


def _problem_body(status: int, title: str, detail: str, **extra: Any) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return json.dumps(body).encode()


async def _send_problem(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_database_down(send: Send, request_id: str) -> None:
    body = _problem_body(
        503,
        "Service unavailable",
        f"the database is unavailable; try again in {RETRY_AFTER_S} seconds",
    )
    headers = [
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    await _send_problem(send, 503, body, headers)


async def _send_internal_error(send: Send, request_id: str) -> None:
    body = _problem_body(
        500,
        "Internal server error",
        "an unexpected error occurred; it was logged with this request id",
        request_id=request_id,
    )
    await _send_problem(send, 500, body, [(b"x-request-id", request_id.encode())])


class _ResponseWatch:
    """Wraps `send`: stamps X-Request-ID on the response and remembers its status."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send, self.request_id = send, request_id
        self.status = 500
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            MutableHeaders(scope=message)["X-Request-ID"] = self.request_id
        await self._send(message)


class RequestContextMiddleware:
    """X-Request-ID in and out, one access log line, latency histogram, unaudited writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        response = _ResponseWatch(send, request_id)
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, response.send)
        except DATABASE_DOWN as exc:
            # Raised outside a route (another middleware's query): still a 503, no driver text.
            log.error("database unavailable in %s %s: %s", scope["method"], scope["path"], exc)
            response.status = 503
            if not response.started:
                await _send_database_down(send, request_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            response.status = 500
            if not response.started:
                await _send_internal_error(send, request_id)
        finally:
            seconds = time.perf_counter() - t0
            await self._account(scope, state, response.status, seconds, request_id)
            request_id_var.reset(token)

    async def _account(
        self, scope: Scope, state: dict[str, Any], status: int, seconds: float, request_id: str
    ) -> None:
        """The finished request's latency metric, access log line and fallback audit entry."""
        route = route_template(scope)
        method = scope["method"]
        app_state = scope["app"].state if "app" in scope else None
        metrics = getattr(app_state, "metrics", None)
        if metrics is not None:
            metrics.observe(method=method, route=route, status=status, seconds=seconds)
        actor: Actor | None = state.get(ACTOR_STATE)
        log.info(
            "%s %s %s %.1fms",
            method,
            scope["path"],
            status,
            seconds * 1000,
            extra={
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
                "client": (scope.get("client") or (None,))[0],
                "key_id": actor.key_id if actor else None,
            },
        )
        if (
            method in WRITE_METHODS
            and status < 400
            and actor is not None
            and not state.get("audited")
            and app_state is not None
        ):
            await self._audit_fallback(app_state, scope, actor, route, status, request_id)

    @staticmethod
    async def _audit_fallback(
        app_state: Any, scope: Scope, actor: Actor, route: str, status: int, request_id: str
    ) -> None:
        engine = getattr(app_state, "engine", None)
        if engine is None:
            return
        entry = {
            "key_id": actor.key_id,
            "key_name": actor.key_name,
            "role": actor.role,
            "action": f"http.{scope['method']}",
            "target": scope["path"],
            "details": {
                "route": route,
                "status": status,
                "query": redact(scope.get("query_string", b"").decode("latin-1"))[:500],
            },
            "request_id": request_id,
            "client_ip": (scope.get("client") or (None,))[0],
        }

        def write() -> None:
            with engine.begin() as conn:
                conn.execute(insert(AuditEntry).values(**entry))

        try:
            await anyio.to_thread.run_sync(write)
        except SQLAlchemyError:
            log.exception(
                "could not write the audit entry for %s %s", scope["method"], scope["path"]
            )


class RateLimitMiddleware:
    """Per-key and per-address limits on writes, shared by every process via PostgreSQL."""

    def __init__(self, app: ASGIApp, *, limit_per_minute: int) -> None:
        self.app = app
        self.limit = limit_per_minute

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in WRITE_METHODS
            or is_webhook_path(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        engine = getattr(scope["app"].state, "engine", None) if "app" in scope else None
        if engine is None:
            await self.app(scope, receive, send)
            return
        buckets = [request_limits.ip_bucket((scope.get("client") or ("unknown",))[0] or "unknown")]
        scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            buckets.insert(0, request_limits.key_bucket(token.strip()))
        try:
            verdict = await anyio.to_thread.run_sync(
                lambda: request_limits.hit(engine, buckets=buckets, limit=self.limit)
            )
        except SQLAlchemyError:
            # The database is down: the write itself will fail with a clear error; do not
            # turn an outage into a misleading 429.
            log.exception("rate limit check failed")
            await self.app(scope, receive, send)
            return
        if verdict.allowed:
            await self.app(scope, receive, send)
            return
        who = "API key" if verdict.bucket and verdict.bucket.startswith("key:") else "address"
        body = _problem_body(
            429,
            "Too many requests",
            f"this {who} made more than {self.limit} writes in a minute; "
            f"retry after {verdict.retry_after_s} s",
            retry_after=verdict.retry_after_s,
            limit=self.limit,
        )
        await _send_problem(
            send, 429, body, [(b"retry-after", str(verdict.retry_after_s).encode())]
        )
