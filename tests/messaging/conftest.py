"""Fixtures for messaging: fake Twilio and Meta servers on loopback, settings pointing at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from service.settings import AlertSettings, Settings
from tests.fakes.gateway import FakeServer, Faults, Gateway
from tests.fakes.meta import FakeMeta
from tests.fakes.twilio import FakeTwilio

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-test-token"
META_TOKEN = "meta-test-token"
META_SECRET = "meta-app-secret"
META_VERIFY = "my-verify-token"
META_PNID = "1122334455667"


class Fakes:
    """Running fake gateways and the settings that point at them."""

    def __init__(self) -> None:
        self.twilio = FakeTwilio(Gateway(), account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
        self.meta = FakeMeta(
            Gateway(), access_token=META_TOKEN, app_secret=META_SECRET, phone_number_id=META_PNID
        )
        self.twilio_server = FakeServer(self.twilio)
        self.meta_server = FakeServer(self.meta)
        self.reset()

    def reset(self) -> None:
        """Fresh state per test; the servers keep running for the whole session."""
        # Like real Twilio, the Twilio fake does not deduplicate: lookups must prevent repeats.
        self.twilio_gateway = self.twilio.gateway = Gateway(dedupe=False)
        self.meta_gateway = self.meta.gateway = Gateway()
        self.twilio.callbacks = False
        self.meta.webhook_url = None

    def alert_settings(self, **overrides: Any) -> AlertSettings:
        values: dict[str, Any] = {
            "sms_provider": "twilio",
            "whatsapp_provider": "twilio",
            "twilio_base_url": self.twilio_server.url,
            "twilio_account_sid": TWILIO_SID,
            "twilio_auth_token": TWILIO_TOKEN,
            "twilio_sms_from": "+15005550006",
            "twilio_whatsapp_from": "+14155238886",
            "meta_base_url": self.meta_server.url,
            "meta_api_version": "v21.0",
            "meta_phone_number_id": META_PNID,
            "meta_access_token": META_TOKEN,
            "meta_app_secret": META_SECRET,
            "meta_verify_token": META_VERIFY,
            "http_timeout_s": 0.5,
            "retry_base_s": 0.05,
            "retry_max_s": 0.4,
            "max_attempts": 10,
            "rate_per_second": 5000.0,
            "sending_lease_s": 3.0,
            "meta_reconcile_wait_s": 0.5,
            "dispatch_batch": 50,
            "dispatch_concurrency": 8,
            "dispatch_interval_s": 0.1,
        }
        values.update(overrides)
        return AlertSettings(**values)

    def faults(self, gateway: Gateway, **kw: Any) -> None:
        gateway.faults = Faults(**kw)
        gateway.rng.seed(gateway.faults.seed)


@pytest.fixture(scope="session")
def _fake_servers() -> Iterator[Fakes]:
    f = Fakes()
    with f.twilio_server, f.meta_server:
        yield f


@pytest.fixture
def fakes(_fake_servers: Fakes) -> Iterator[Fakes]:
    _fake_servers.reset()
    yield _fake_servers
    _fake_servers.twilio_gateway.wait_callbacks(timeout=5)
    _fake_servers.meta_gateway.wait_callbacks(timeout=5)


@pytest.fixture
def with_alerts(settings: Settings) -> Callable[[AlertSettings], Settings]:
    def make(alerts: AlertSettings) -> Settings:
        return settings.model_copy(update={"alerts": alerts})

    return make


def phones(n: int, start: int = 0) -> list[str]:
    return [f"+62812{start + i:07d}" for i in range(n)]


def enqueue_fanout(
    session_factory: Any,
    numbers: list[str],
    *,
    channel: str = "sms",
    alert_id: int = 1,
    **extra: Any,
) -> list[int]:
    """What alerts does when a rule fires: one delivery per recipient, one transaction."""
    from service.messaging.outbox import NewDelivery, enqueue_many

    with session_factory() as s, s.begin():
        return enqueue_many(
            session=s,
            items=[
                NewDelivery(
                    idempotency_key=f"alert:{alert_id}:member:{i}:{channel}",
                    phone=p,
                    channel=channel,
                    body=f"PERINGATAN Desa Sukamaju: banjir TINGGI. Balas YA. -BPBD ({i})",
                    alert_id=alert_id,
                    member_id=i,
                    **extra,
                )
                for i, p in enumerate(numbers)
            ],
        )


def open_count(session_factory: Any) -> int:
    from sqlalchemy import text

    with session_factory() as s:
        return int(
            s.execute(
                text(
                    "SELECT count(*) FROM message_deliveries WHERE status IN ('pending','sending')"
                )
            ).scalar_one()
        )


def drain_all(session_factory: Any, dispatchers: list[Any], timeout: float = 60.0) -> None:
    """Run dispatchers (each in its own thread) until no delivery is pending or sending."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    errors: list[BaseException] = []

    def loop(d: Any) -> None:
        try:
            while time.monotonic() < deadline:
                if d.drain(max_seconds=5) == 0:
                    if open_count(session_factory) == 0:
                        return
                    time.sleep(0.05)
        except BaseException as exc:  # surfaced in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    if open_count(session_factory):
        still = rows(
            session_factory,
            "SELECT id, channel, status, attempts, next_attempt_at, claimed_at, uncertain, "
            "last_error_code FROM message_deliveries WHERE status IN ('pending','sending')",
        )
        raise AssertionError(f"deliveries still open after the timeout: {still}")


def rows(session_factory: Any, sql: str, **params: Any) -> list[Any]:
    from sqlalchemy import text

    with session_factory() as s:
        return list(s.execute(text(sql), params).all())


class LiveApp:
    def __init__(self, url: str, alerts: AlertSettings) -> None:
        self.url = url
        self.alerts = alerts


@pytest.fixture
def live_app(
    fakes: Fakes, with_alerts: Callable[[AlertSettings], Settings], clean_db: Any
) -> Iterator[LiveApp]:
    """Siaga's API on loopback, receiving the fakes' signed status callbacks and webhooks."""
    from service.main import create_app
    from tests.conftest import LiveServer

    app = create_app(with_alerts(fakes.alert_settings()), engine=clean_db)
    with LiveServer(app) as server:
        alerts = fakes.alert_settings(twilio_public_base_url=server.url)
        app.state.settings = with_alerts(alerts)
        fakes.twilio.callbacks = True
        fakes.meta.webhook_url = f"{server.url}/webhooks/whatsapp"
        yield LiveApp(server.url, alerts)
        fakes.twilio_gateway.wait_callbacks(timeout=10)
        fakes.meta_gateway.wait_callbacks(timeout=10)
