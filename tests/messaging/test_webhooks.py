"""Provider webhooks: signatures (shared vectors), forged requests, dedupe, monotonic status."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.main import create_app
from service.messaging import webhooks as hooks
from service.settings import AlertSettings, Settings
from tests.fakes.twilio import sign
from tests.messaging.conftest import enqueue_fanout, phones, rows

TOKEN = "twilio-webhook-token"
SECRET = "test_app_secret_123"  # the shared X-Hub-Signature-256 vector's secret
PUBLIC = "https://siaga.example.org"


@pytest.fixture
def vectors(shared_data: Path) -> dict[str, Any]:
    return json.loads(
        (shared_data / "providers/twilio/x_twilio_signature_test_vectors.json").read_text()
    )


@pytest.fixture
def meta_vector(shared_data: Path) -> dict[str, Any]:
    return json.loads(
        (shared_data / "providers/whatsapp/x_hub_signature_256_test_vector.json").read_text()
    )


@pytest.fixture
def hook_client(with_alerts: Callable[[AlertSettings], Settings], clean_db: Any) -> Any:
    alerts = AlertSettings(
        twilio_auth_token=TOKEN,
        twilio_public_base_url=PUBLIC,
        meta_app_secret=SECRET,
        meta_verify_token="my-verify-token",
    )
    with TestClient(create_app(with_alerts(alerts), engine=clean_db)) as client:
        yield client


def twilio_post(
    client: TestClient, path: str, params: dict[str, str], *, signature: str | None = "sign"
) -> Any:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        signature = sign(PUBLIC + path, params, TOKEN)
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return client.post(path, content=urlencode(params), headers=headers)


def meta_post(client: TestClient, payload: dict[str, Any] | bytes, secret: str = SECRET) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
    )


# -- signature algorithms against the shared vectors --------------------------------------------


def test_twilio_signature_matches_the_shared_vectors(vectors: dict[str, Any]) -> None:
    token, url, params = vectors["auth_token"], vectors["url"], list(vectors["params"].items())
    assert hooks.twilio_signature(url, params, token) == vectors["expected_signature"]
    assert hooks.twilio_valid(url, params, token, vectors["expected_signature"])
    with_port = url.replace("mycompany.com", "mycompany.com:443")
    assert (
        hooks.twilio_signature(with_port, params, token)
        == vectors["expected_signature_if_url_has_explicit_port_443"]
    )
    # The official validator accepts the URL with or without the default port.
    assert hooks.twilio_valid(
        url, params, token, vectors["expected_signature_if_url_has_explicit_port_443"]
    )
    assert hooks.twilio_valid(with_port, params, token, vectors["expected_signature"])
    http_url = url.replace("https://", "http://")
    assert hooks.twilio_valid(
        http_url, params, token, vectors["expected_signature_http_url_with_port_80"]
    )
    port_1234 = url.replace("mycompany.com", "mycompany.com:1234").replace("https://", "http://")
    assert (
        hooks.twilio_signature(port_1234, params, token)
        == vectors["expected_signature_http_url_with_port_1234"]
    )
    assert not hooks.twilio_valid(
        url, params, token, vectors["expected_signature_http_url_with_port_1234"]
    )


def test_twilio_signature_with_repeated_params(vectors: dict[str, Any]) -> None:
    case = vectors["duplicate_params_case"]
    pairs = [tuple(p) for p in case["params_ordered_pairs"]]
    assert (
        hooks.twilio_signature(vectors["url"], pairs, vectors["auth_token"])
        == case["expected_signature"]
    )


def test_twilio_signature_json_body_case(vectors: dict[str, Any]) -> None:
    case = vectors["json_body_case"]
    assert hashlib.sha256(case["body"].encode()).hexdigest() == case["bodySHA256_query_param"]
    assert (
        hooks.twilio_signature(case["url"], [], vectors["auth_token"])
        == case["expected_signature_over_url_only"]
    )


def test_meta_signature_matches_the_shared_vector(meta_vector: dict[str, Any]) -> None:
    body = meta_vector["raw_body_utf8"].encode()
    assert hooks.meta_valid(body, meta_vector["app_secret"], meta_vector["x_hub_signature_256"])
    assert not hooks.meta_valid(
        body + b" ", meta_vector["app_secret"], meta_vector["x_hub_signature_256"]
    )
    assert not hooks.meta_valid(body, "other", meta_vector["x_hub_signature_256"])
    assert not hooks.meta_valid(body, meta_vector["app_secret"], None)


# -- forged or missing signatures ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/webhooks/twilio/status", "/webhooks/twilio/inbound"])
@pytest.mark.parametrize("signature", [None, "", "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "forged"])
def test_twilio_forged_or_missing_signature_is_403(
    hook_client: TestClient, path: str, signature: str | None
) -> None:
    params = {
        "MessageSid": "SM1",
        "MessageStatus": "delivered",
        "From": "+6281200000000",
        "Body": "STOP",
    }
    r = twilio_post(hook_client, path, params, signature=signature)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "X-Twilio-Signature" in r.json()["detail"]
    assert rows(hook_client.app.state.session_factory, "SELECT id FROM message_inbound") == []  # type: ignore[attr-defined]


def test_twilio_signature_over_tampered_params_is_403(hook_client: TestClient) -> None:
    params = {"MessageSid": "SM1", "From": "+6281200000000", "Body": "YA"}
    signature = sign(PUBLIC + "/webhooks/twilio/inbound", params, TOKEN)
    r = twilio_post(
        hook_client, "/webhooks/twilio/inbound", {**params, "Body": "STOP"}, signature=signature
    )
    assert r.status_code == 403


def test_twilio_url_is_rebuilt_from_the_public_base(hook_client: TestClient) -> None:
    """Signed for the public https URL; the request reached us as http://testserver."""
    params = {"MessageSid": "SMx", "From": "+6281200000001", "Body": "halo"}
    assert twilio_post(hook_client, "/webhooks/twilio/inbound", params).status_code == 200
    wrong = sign("http://testserver/webhooks/twilio/inbound", params, TOKEN)
    assert (
        twilio_post(hook_client, "/webhooks/twilio/inbound", params, signature=wrong).status_code
        == 403
    )


def test_meta_forged_or_missing_signature_is_403(
    hook_client: TestClient, meta_vector: dict[str, Any]
) -> None:
    body = meta_vector["raw_body_utf8"].encode()
    assert meta_post(hook_client, body, secret="not-the-secret").status_code == 403
    r = hook_client.post(
        "/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    # Re-serialised JSON is not the signed body.
    resigned = json.dumps(json.loads(body), indent=1).encode()
    r = hook_client.post(
        "/webhooks/whatsapp",
        content=resigned,
        headers={"X-Hub-Signature-256": meta_vector["x_hub_signature_256"]},
    )
    assert r.status_code == 403


def test_meta_vector_body_is_accepted_and_stored_once(
    hook_client: TestClient, meta_vector: dict[str, Any]
) -> None:
    body = meta_vector["raw_body_utf8"].encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_vector["x_hub_signature_256"],
    }
    first = hook_client.post("/webhooks/whatsapp", content=body, headers=headers)
    again = hook_client.post("/webhooks/whatsapp", content=body, headers=headers)  # Meta retries
    assert first.status_code == 200 and again.status_code == 200
    assert again.json()["received"] == {"duplicate": 1}
    app = hook_client.app
    assert isinstance(app, FastAPI)
    stored = rows(
        app.state.session_factory, "SELECT phone, body, channel, handled_as FROM message_inbound"
    )
    [(phone, text, channel, handled_as)] = [tuple(r) for r in stored]
    assert (phone, text, channel) == ("+972987654321", "Body Text", "whatsapp")
    # 'pending' until alerts handles replies; then an unknown number is 'unknown_sender'.
    assert handled_as in ("pending", "unknown_sender")


def test_meta_verification_handshake(hook_client: TestClient, meta_vector: dict[str, Any]) -> None:
    ok = hook_client.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "my-verify-token",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    bad = hook_client.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    )
    assert bad.status_code == 403 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_meta_webhook_that_is_not_json_is_acknowledged(hook_client: TestClient) -> None:
    # Signed, so it is Meta's: a 4xx would make Meta retry it for days (issue 11).
    r = meta_post(hook_client, b"not json")
    assert r.status_code == 200 and r.json() == {"received": {"invalid": 1}}


# -- status handling --------------------------------------------------------------------------


def test_twilio_status_is_monotonic_and_deduplicated(
    hook_client: TestClient, session_factory: Any
) -> None:
    [delivery_id] = enqueue_fanout(session_factory, phones(1))
    with session_factory() as s, s.begin():
        s.execute(
            text(
                "UPDATE message_deliveries SET status='accepted', provider='twilio', "
                "provider_message_id='SMabc'"
            )
        )
    path = f"/webhooks/twilio/status?d={delivery_id}"
    for status in ("delivered", "sent", "delivered", "queued"):  # late and repeated
        params = {"MessageSid": "SMabc", "MessageStatus": status, "SmsStatus": status}
        assert twilio_post(hook_client, path, params).status_code == 204
    [row] = rows(session_factory, "SELECT status, delivered_at FROM message_deliveries")
    assert row.status == "delivered" and row.delivered_at is not None
    events = rows(session_factory, "SELECT status FROM message_delivery_events ORDER BY id")
    assert [e.status for e in events] == ["delivered", "sent", "queued"]  # each once


def test_meta_status_samples_update_the_delivery(
    hook_client: TestClient, session_factory: Any, shared_data: Path
) -> None:
    samples = json.loads(
        (
            shared_data / "providers/whatsapp/meta_cloudapi_webhook_statuses_samples_pywa.json"
        ).read_text()
    )
    enqueue_fanout(session_factory, ["+972987654321"], channel="whatsapp")
    with session_factory() as s, s.begin():
        s.execute(
            text(
                "UPDATE message_deliveries SET status='accepted', provider='meta', "
                "provider_message_id='wamid.xyzxyz'"
            )
        )
    for name in ("read", "sent", "delivered"):  # out of order
        assert meta_post(hook_client, samples[name]).status_code == 200
    [row] = rows(session_factory, "SELECT status FROM message_deliveries")
    assert row.status == "read"
