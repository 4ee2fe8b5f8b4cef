"""One contract, every provider: the same sends and failures over real HTTP against the fakes,
through the provider's own httpx client and through the dispatcher's libcurl engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from service.messaging.engines import CurlEngine
from service.messaging.providers import (
    ConsoleProvider,
    MetaWhatsAppProvider,
    OutboundMessage,
    Provider,
    ProviderError,
    TwilioProvider,
)
from service.messaging.providers.base import SendResult
from service.messaging.providers.wire import response_or_raise
from tests.fakes.gateway import Faults, Gateway
from tests.messaging.conftest import Fakes

PHONE = "+6281234567001"


@dataclass
class Case:
    provider: Provider
    channel: str
    gateway: Gateway | None  # None: the console provider has no server
    engine: CurlEngine | None  # None: the provider's injected httpx client does the HTTP

    def send(self, message: OutboundMessage) -> SendResult:
        request = self.provider.send_request(message)
        if self.engine is None or request is None:
            return self.provider.send(message)
        [reply] = self.engine.exchange_all([request])
        return self.provider.send_result(response_or_raise(self.provider.name, reply))

    def lookup(self, message: OutboundMessage, *, since: datetime) -> SendResult | None:
        request = self.provider.lookup_request(message)
        if self.engine is None or request is None:
            return self.provider.lookup(message, since=since)
        [reply] = self.engine.exchange_all([request])
        return self.provider.lookup_result(
            response_or_raise(self.provider.name, reply), message, since=since
        )


@pytest.fixture(params=["httpx", "curl"])
def http_engine(request: pytest.FixtureRequest) -> Iterator[CurlEngine | None]:
    if request.param == "httpx":
        yield None
        return
    curl = CurlEngine(concurrency=2, timeout_s=0.5)
    yield curl
    curl.close()


@pytest.fixture(params=["twilio-sms", "twilio-whatsapp", "meta-whatsapp", "console"])
def case(
    request: pytest.FixtureRequest, fakes: Fakes, http_engine: CurlEngine | None
) -> Iterator[Case]:
    client = httpx.Client(timeout=httpx.Timeout(0.5))
    s = fakes.alert_settings()
    name = request.param
    provider: Provider
    if name.startswith("twilio"):
        provider = TwilioProvider(
            client=client,
            base_url=s.twilio_base_url,
            account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token,
            sms_from=s.twilio_sms_from,
            whatsapp_from=s.twilio_whatsapp_from,
        )
        gateway: Gateway | None = fakes.twilio_gateway
    elif name == "meta-whatsapp":
        provider = MetaWhatsAppProvider(
            client=client,
            base_url=s.meta_base_url,
            api_version=s.meta_api_version,
            phone_number_id=s.meta_phone_number_id,
            access_token=s.meta_access_token,
        )
        gateway = fakes.meta_gateway
    else:
        provider, gateway = ConsoleProvider(), None
    channel = name.split("-")[-1] if name != "console" else "sms"
    yield Case(provider, channel, gateway, http_engine)
    client.close()


def message(case: Case, key: str = "k-1", phone: str = PHONE) -> OutboundMessage:
    return OutboundMessage(
        delivery_id=1,
        idempotency_key=key,
        channel=case.channel,
        phone=phone,
        body="PERINGATAN Desa Sukamaju: risiko banjir TINGGI. Balas YA jika aman. -BPBD",
    )


def test_send_returns_provider_id_and_reaches_the_gateway(case: Case) -> None:
    result = case.send(message(case))
    assert result.provider_message_id
    assert result.status in ("queued", "accepted", "delivered")
    if case.gateway is not None:
        [accepted] = case.gateway.accepted
        assert accepted.to == PHONE and accepted.channel == case.channel
        assert accepted.id == result.provider_message_id


def test_same_key_twice_is_idempotent_or_reconcilable(case: Case) -> None:
    """A resend after an uncertain first try either dedupes at the provider or is found by
    lookup, so the second call never creates a second message when the dispatcher is used."""
    first = case.send(message(case))
    if case.provider.supports_lookup and case.gateway is not None:
        found = case.lookup(message(case), since=datetime.now(UTC))
        assert found is not None and found.provider_message_id == first.provider_message_id
        assert len(case.gateway.accepted) == 1
        # A gateway that honours the Idempotency-Key header answers a resend with the original.
        case.gateway.dedupe = True
        again = case.send(message(case))
        assert again.provider_message_id == first.provider_message_id
        assert len(case.gateway.accepted) == 1
    else:
        again = case.send(message(case))
        assert again.provider_message_id == first.provider_message_id
        if case.gateway is not None:
            assert len(case.gateway.accepted) == 1


def test_lookup_finds_nothing_for_a_new_recipient(case: Case) -> None:
    assert case.lookup(message(case, phone="+6281299999999"), since=datetime.now(UTC)) is None


@pytest.mark.parametrize("fault", ["transient_5xx", "throttle_429"])
def test_server_errors_and_throttling_are_transient(case: Case, fakes: Fakes, fault: str) -> None:
    if case.gateway is None:
        return  # console cannot fail; its success path is covered above
    fakes.faults(case.gateway, **{fault: 1.0})
    with pytest.raises(ProviderError) as info:
        case.send(message(case))
    assert info.value.kind == "transient"
    assert not info.value.maybe_sent
    assert case.gateway.accepted == []


@pytest.mark.slow  # waits out a read timeout per provider and engine
def test_timeout_is_transient_and_maybe_sent(case: Case, fakes: Fakes) -> None:
    if case.gateway is None:
        return
    fakes.faults(case.gateway, timeout=1.0, timeout_delay_s=1.0)
    with pytest.raises(ProviderError) as info:
        case.send(message(case))
    assert info.value.kind == "transient" and info.value.code == "timeout"
    assert info.value.maybe_sent
    assert len(case.gateway.accepted) == 1  # the provider did take it: never resend blindly


@pytest.mark.parametrize(
    "code", [{"twilio": 21211, "meta": 131026}, {"twilio": 21614, "meta": 131026}]
)
def test_permanent_errors_carry_the_provider_code(
    case: Case, fakes: Fakes, code: dict[str, int]
) -> None:
    if case.gateway is None:
        return
    expected = code[case.provider.name]
    fakes.faults(case.gateway, permanent={PHONE: expected})
    with pytest.raises(ProviderError) as info:
        case.send(message(case))
    assert info.value.kind == "permanent"
    assert info.value.code == str(expected)
    assert case.gateway.accepted == []


def test_unreachable_provider_is_transient_and_not_sent(case: Case) -> None:
    if case.gateway is None:
        return
    if isinstance(case.provider, TwilioProvider):
        case.provider.base_url = "http://127.0.0.1:9"
    elif isinstance(case.provider, MetaWhatsAppProvider):
        case.provider.url = "http://127.0.0.1:9/v21.0/1/messages"
    with pytest.raises(ProviderError) as info:
        case.send(message(case))
    assert info.value.kind == "transient" and not info.value.maybe_sent


def test_wrong_credentials_are_permanent(case: Case) -> None:
    if case.gateway is None:
        return
    if isinstance(case.provider, TwilioProvider):
        case.provider.headers = (("Authorization", "Basic d3Jvbmc6d3Jvbmc="),)
    elif isinstance(case.provider, MetaWhatsAppProvider):
        case.provider.headers = (("Authorization", "Bearer wrong"),)
    with pytest.raises(ProviderError) as info:
        case.send(message(case))
    assert info.value.kind == "permanent"
    assert info.value.code in ("20003", "190")


def test_fault_injection_is_deterministic_for_a_seed() -> None:
    a, b = Gateway(Faults(transient_5xx=0.3, seed=7)), Gateway(Faults(transient_5xx=0.3, seed=7))
    assert [a.draw() for _ in range(50)] == [b.draw() for _ in range(50)]
