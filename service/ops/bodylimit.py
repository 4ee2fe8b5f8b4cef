"""Request body limits enforced before and while the body is read (pure ASGI).

A request whose `Content-Length` is over the limit gets 413 before one byte of its body is
read; a body without a length (chunked) is counted while it streams and cut off with 413 the
moment it passes the limit. Nothing the application sends after that point reaches the client.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PROBLEM_MEDIA_TYPE


class BodyTooLarge(Exception):
    """Raised from `receive` when a streaming body passes its limit."""


def problem_413(limit: int, detail: str) -> bytes:
    body = {
        "type": "about:blank",
        "title": "Payload too large",
        "status": 413,
        "detail": detail,
        "limit_bytes": limit,
    }
    return json.dumps(body).encode()


class BodyLimitMiddleware:
    """Cap request bodies by path: `limit_for(path) -> (max bytes, the 413's detail)`."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], tuple[int, str]]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, hint = self.limit_for(scope["path"])
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared < 0:
                await _send(send, 400, _bad_length())
                return
            if declared > limit:
                await _send(send, 413, problem_413(limit, hint), close=True)
                return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the 413 below answers instead of whatever the app made of it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send(send, 413, problem_413(limit, hint), close=True)


def _bad_length() -> bytes:
    return json.dumps(
        {
            "type": "about:blank",
            "title": "Invalid request",
            "status": 400,
            "detail": "the Content-Length header is not a non-negative whole number",
        }
    ).encode()


async def _send(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        # The unread body stays on the connection: close it rather than read the rest.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
