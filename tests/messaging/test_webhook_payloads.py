"""Signed webhook payloads that do not fit the models: acknowledged (200) and logged, never 500.

Providers retry a non-2xx for days, so a validly signed but malformed payload is taken, logged
and ignored; good items next to a bad one in a Meta batch are still handled."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.messaging.payloads import storable_sender
from service.settings import AlertSettings, Settings
from tests.fakes.twilio import sign
from tests.messaging.conftest import rows

TOKEN = "twilio-webhook-token"
SECRET = "test_app_secret_123"
PUBLIC = "https://siaga.example.org"


@pytest.fixture
def client(with_alerts: Callable[[AlertSettings], Settings], clean_db: Any) -> Any:
    alerts = AlertSettings(
        twilio_auth_token=TOKEN, twilio_public_base_url=PUBLIC, meta_app_secret=SECRET
    )
    with TestClient(create_app(with_alerts(alerts), engine=clean_db)) as c:
        yield c


@pytest.fixture
def samples(shared_data: Path) -> dict[str, Any]:
    wa = shared_data / "providers/whatsapp"
    return {
        "status": json.loads((wa / "meta_cloudapi_webhook_statuses_samples_pywa.json").read_text()),
        "message": json.loads(
            (wa / "meta_cloudapi_webhook_messages_samples_pywa.json").read_text()
        ),
    }


def meta_post(client: TestClient, body: bytes) -> Any:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
    )


def twilio_post(client: TestClient, path: str, params: dict[str, str]) -> Any:
    return client.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(PUBLIC + path, params, TOKEN),
        },
    )


def _set(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of payload with the dotted path set (`-` deletes the key)."""
    out = copy.deepcopy(payload)
    *head, last = path.split(".")
    node: Any = out
    for key in head:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value == "-":
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


V = "entry.0.changes.0.value"
# The 17 kinds of wrong field types and missing fields (on a status or a message sample).
WRONG: list[tuple[str, str, str, Any]] = [
    ("entry a string", "status", "entry", "abc"),
    ("entry an object", "status", "entry", {"id": "1"}),
    ("entry item a number", "status", "entry.0", 7),
    ("changes a string", "status", "entry.0.changes", "x"),
    ("changes item a list", "status", "entry.0.changes.0", [1]),
    ("value a list", "status", f"{V}", []),
    ("statuses an object", "status", f"{V}.statuses", {"id": "wamid.x"}),
    ("status item a string", "status", f"{V}.statuses.0", "delivered"),
    ("status id a number", "status", f"{V}.statuses.0.id", 12345),
    ("status missing id", "status", f"{V}.statuses.0.id", "-"),
    ("status a list", "status", f"{V}.statuses.0.status", ["read"]),
    ("errors a string", "status", f"{V}.statuses.0.errors", "boom"),
    ("error code an object", "status", f"{V}.statuses.0.errors.0.code", {"a": 1}),
    ("messages an object", "message", f"{V}.messages", {"from": "1"}),
    ("message from a number", "message", f"{V}.messages.0.from", 972987654321),
    ("message text a string", "message", f"{V}.messages.0.text", "hello"),
    ("message id too long", "message", f"{V}.messages.0.id", "w" * 500),
]


@pytest.mark.parametrize(("case", "sample", "path", "value"), WRONG, ids=[w[0] for w in WRONG])
def test_signed_meta_payload_of_wrong_shape_is_acknowledged(
    client: TestClient,
    samples: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    case: str,
    sample: str,
    path: str,
    value: Any,
) -> None:
    base = samples[sample]["failed" if sample == "status" else "text"]
    body = json.dumps(_set(base, path, value)).encode()
    with caplog.at_level(logging.WARNING, logger="service.messaging.webhooks"):
        r = meta_post(client, body)
    assert r.status_code == 200, (case, r.text)
    assert r.json()["received"].get("invalid", 0) >= 1
    assert "does not fit" in caplog.text
    assert "972987654321" not in caplog.text  # values (phones) are not logged
    app: Any = client.app
    assert rows(app.state.session_factory, "SELECT id FROM message_inbound") == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b"null",
        b'"text"',
        b"[" * 100_000 + b"]" * 100_000,  # nested past Python's recursion limit
        b'{"entry": [{"changes": [{"value": {"statuses": [{"id": "w", "status": "read", '
        b'"timestamp": 1e400}]}}]}]}',
    ],
    ids=["not-json", "array", "null", "string", "deep", "timestamp-inf"],
)
def test_signed_meta_bodies_that_are_no_webhook_are_acknowledged(
    client: TestClient, body: bytes
) -> None:
    r = meta_post(client, body)
    assert r.status_code == 200, r.text


def test_one_bad_item_does_not_drop_its_neighbours(
    client: TestClient, samples: dict[str, Any]
) -> None:
    payload = copy.deepcopy(samples["message"]["text"])
    good = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    bad = {**good, "id": 99, "from": {"x": 1}}
    nul = {**good, "id": "wamid.nul", "text": {"body": "banjir\x00 di RT 3"}}
    payload["entry"][0]["changes"][0]["value"]["messages"] = [bad, good, nul]
    r = meta_post(client, json.dumps(payload).encode())
    assert r.status_code == 200
    counts = r.json()["received"]
    assert counts.pop("invalid") == 1 and sum(counts.values()) == 2
    app: Any = client.app
    stored = rows(app.state.session_factory, "SELECT body FROM message_inbound ORDER BY id")
    assert [s.body for s in stored] == ["Body Text", "banjir di RT 3"]  # NUL dropped


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "S" * 300, "MessageStatus": "delivered"},
        {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": "3" * 100},
        {"MessageSid": "SM1", "MessageStatus": "x" * 100},
    ],
    ids=["sid-too-long", "error-code-too-long", "status-too-long"],
)
def test_signed_twilio_status_that_does_not_fit_is_200(
    client: TestClient, params: dict[str, str]
) -> None:
    assert twilio_post(client, "/webhooks/twilio/status?d=1", params).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM2", "From": "+" + "6" * 30, "Body": "BERHENTI"},
        {"MessageSid": "SM4", "From": "whatsapp:" + "+" * 40, "Body": "BERHENTI"},
        {"MessageSid": "SM3", "Body": "BERHENTI"},
        {"From": "+6281234567890", "Body": "BERHENTI"},
    ],
    ids=["too-many-digits", "too-many-pluses", "no-from", "no-sid"],
)
def test_signed_twilio_inbound_that_does_not_fit_stores_nothing(
    client: TestClient, params: dict[str, str]
) -> None:
    r = twilio_post(client, "/webhooks/twilio/inbound", params)
    assert r.status_code == 200 and "<Response>" in r.text
    app: Any = client.app
    assert rows(app.state.session_factory, "SELECT phone FROM message_inbound") == []
    assert rows(app.state.session_factory, "SELECT phone FROM message_opt_outs") == []


def test_twilio_inbound_with_nul_is_stored_without_it(client: TestClient) -> None:
    params = {"MessageSid": "SM9", "From": "whatsapp:+6281234567890", "Body": "air\x00 naik"}
    assert twilio_post(client, "/webhooks/twilio/inbound", params).status_code == 200
    app: Any = client.app
    [row] = rows(app.state.session_factory, "SELECT phone, body, channel FROM message_inbound")
    assert (row.phone, row.body, row.channel) == ("+6281234567890", "air naik", "whatsapp")


@pytest.mark.parametrize(
    ("sender", "ok"),
    [
        ("+6281234567890", True),
        ("whatsapp:+62 812-3456-7890", True),
        ("972987654321", True),
        ("not-a-phone", True),  # normalises to '+': stored, judged by inbound (invalid_sender)
        ("+" + "1" * 19, True),
        ("+" + "1" * 20, False),
        ("1" * 20, False),
    ],
)
def test_storable_sender(sender: str, ok: bool) -> None:
    assert storable_sender(sender) is ok
