"""`siaga worker` with a slowed recompute: each progress report of a recompute job waits
SLOW_PROGRESS_S seconds, so a test can SIGKILL the process while a real recompute runs.

    python -m tests.faults.slow_worker
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from service.risk import jobs
from service.scheduler import run_worker


def main() -> None:
    pause = float(os.environ.get("SLOW_PROGRESS_S", "1"))
    real = jobs.recompute_handler

    def slowed(factory: Any, settings: Any, job: Any, progress: Callable[[float, str], None]):  # type: ignore[no-untyped-def]
        def report(fraction: float, message: str) -> None:
            progress(fraction, message)
            time.sleep(pause)

        return real(factory, settings, job, report)

    jobs.recompute_handler = slowed  # type: ignore[assignment]  # what the worker registers
    run_worker()


if __name__ == "__main__":
    main()
