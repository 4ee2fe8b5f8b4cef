"""Messaging in the worker: the dispatcher runs in its own thread and drains the outbox.

It sends until nothing is due, then waits for its `wake` event (set by the worker's
LISTEN/NOTIFY listener when new outbox rows are committed) or `dispatch_interval_s`,
whichever comes first. Several workers simply compete for rows with SKIP LOCKED.
`siaga messaging dispatch` runs the same loop alone, for dedicated dispatcher processes.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from service.messaging.dispatcher import Dispatcher

if TYPE_CHECKING:
    from service.runtime import Runtime


def start(rt: Runtime, stop: threading.Event) -> tuple[Dispatcher, threading.Thread]:
    """Start the dispatcher thread; the caller sets `stop` (and `dispatcher.wake`) to end
    it, joins the thread and closes the dispatcher."""
    dispatcher = Dispatcher.from_settings(
        session_factory=rt.session_factory, settings=rt.settings.alerts
    )
    thread = threading.Thread(
        target=dispatcher.run_forever, args=(stop,), name="siaga-dispatcher", daemon=True
    )
    thread.start()
    return dispatcher, thread
