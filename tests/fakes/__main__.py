"""Run a fake gateway standalone: `python -m tests.fakes twilio --port 8901 [--workers 1]`.

Used by bench/fanout.py so the fake does not share a process (and a GIL) with the timer.
GET /_fake/stats reports what it accepted.
"""

from __future__ import annotations

import argparse

import uvicorn

from tests.fakes.gateway import Faults, Gateway
from tests.fakes.meta import FakeMeta
from tests.fakes.twilio import FakeTwilio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("provider", choices=["twilio", "meta"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--account-sid", default="AC" + "a" * 32)
    parser.add_argument("--auth-token", default="fake-twilio-token")
    parser.add_argument("--access-token", default="fake-meta-token")
    parser.add_argument("--transient", type=float, default=0.0)
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="fraction accepted, then answered late"
    )
    parser.add_argument("--timeout-delay", type=float, default=1.0, help="how late, in seconds")
    args = parser.parse_args()
    faults = Faults(
        transient_5xx=args.transient, timeout=args.timeout, timeout_delay_s=args.timeout_delay
    )
    gateway = Gateway(faults, dedupe=False)
    app = (
        FakeTwilio(gateway, account_sid=args.account_sid, auth_token=args.auth_token)
        if args.provider == "twilio"
        else FakeMeta(gateway, access_token=args.access_token)
    )
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off"
    )


if __name__ == "__main__":
    main()
