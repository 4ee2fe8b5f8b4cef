"""A first-come-first-served limit on the read requests one API process handles at once.

With 16 clients on a 2-core machine every request used to run at once: each got a sixteenth
of the interpreter and waited for a pool connection in no particular order, so a few waited
for many others (p99 three to four times the median). Taking reads in arrival order, a few
at a time, gives each the same wait. The slot is held until the response starts: a slow
client reading a long body does not hold it. Writes, uploads and webhooks are not limited
here (an upload may stream for minutes).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_READS = frozenset({"GET", "HEAD"})


class InFlightLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.limit <= 0 or scope["type"] != "http" or scope["method"] not in _READS:
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
        await slots.acquire()
        held = True

        async def send_and_release(message: Message) -> Any:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                slots.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if held:
                slots.release()
