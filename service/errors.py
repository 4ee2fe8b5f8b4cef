"""One exception tree, one status map, one registration function.

Domain code raises these with a message a user can act on; the API turns them into
RFC 9457 problem documents (`application/problem+json`). Only 5xx are logged as errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class SiagaError(Exception):
    """Base of every error a user can be told about."""

    title = "Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(SiagaError):
    title = "Invalid input"


class InvalidFile(InvalidInput):
    title = "Invalid file"


class PayloadTooLarge(InvalidInput):
    title = "Payload too large"


class NotFound(SiagaError):
    title = "Not found"


class Conflict(SiagaError):
    title = "Conflict"


class Unauthorized(SiagaError):
    title = "Unauthorized"


class Forbidden(SiagaError):
    title = "Forbidden"


class RateLimited(SiagaError):
    title = "Too many requests"


class UpstreamError(SiagaError):
    """A feed or provider failed; never caused by the client."""

    title = "Upstream error"


class ServiceUnavailable(SiagaError):
    """A dependency of the service (the database) is down; the client may retry."""

    title = "Service unavailable"


# Database failures that are not the request's fault: the server is down or restarting, the
# connection broke, the pool is exhausted, a statement was cancelled. They answer 503 with
# Retry-After on every route; the driver's text (host, port, user) is logged, never sent.
DATABASE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
RETRY_AFTER_S = 5


def database_unavailable() -> JSONResponse:
    return problem(
        503,
        ServiceUnavailable.title,
        f"the database is unavailable; try again in {RETRY_AFTER_S} seconds",
    )


STATUS_MAP: dict[type[SiagaError], int] = {
    InvalidInput: 400,
    InvalidFile: 400,
    PayloadTooLarge: 413,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
    UpstreamError: 502,
    ServiceUnavailable: 503,
}


def status_for(exc: SiagaError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_MAP:
            return STATUS_MAP[cls]
    return 500


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = []
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
        msg = str(err.get("msg", "invalid"))
        errors.append({"location": loc, "message": msg})
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request", errors


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SiagaError)
    async def _siaga(_: Request, exc: SiagaError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("%s: %s", type(exc).__name__, exc.detail)
        return problem(status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        in_body = any(e["location"][:1] == ["body"] for e in errors)
        return problem(422 if in_body else 400, "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 406: "Not acceptable"}.get(
            exc.status_code, "Error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = problem(exc.status_code, title, detail)
        # Keep the router's headers, e.g. `Allow` on a 405.
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        # SQLSTATE class 22 (out-of-range numbers, malformed values) comes from request values
        # that passed validation but not the column type: the client's to fix, not a crash.
        log.warning("data error from request values: %s", str(exc.orig)[:200])
        return problem(400, "Invalid input", "a value in the request is out of range or malformed")

    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", str(exc).splitlines()[0][:300] if str(exc) else "")
        return database_unavailable()

    for cls in DATABASE_DOWN:
        app.add_exception_handler(cls, _database_down)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal server error", "an unexpected error occurred; it was logged")
