"""What alerts plugs into the layers below it when a process starts.

Messaging receives replies but sits below alerts, so it cannot import alerts: every process
that may receive one (the app factory's lifespan for `siaga serve`, the worker) calls
`install()` once, and messaging hands each reply to the handler registered here.
"""

from __future__ import annotations

from service.alerts import replies
from service.messaging import inbound


def install() -> None:
    inbound.set_reply_handler(replies)
