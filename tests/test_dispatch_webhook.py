"""Webhook channel: Standard Webhooks signatures (checked with the reference `standardwebhooks`
package), the payload, and how endpoints that misbehave are treated."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.chain.blocks import TxMessage
from core.dispatch.http import HttpClient
from core.dispatch.payload import notification_payload
from core.dispatch.signing import (
    MAX_RETIRED_SECRETS,
    new_webhook_secret,
    retired_secrets,
    rotate_secret,
    sign,
    webhook_headers,
)
from core.dispatch.webhook import WebhookChannel, parse_retry_after
from core.support.timeutil import utcnow
from tests.fakes.records import COSMOS, T0, FakeClock, make_notification, webhook_destination
from tests.fakes.webhook_receiver import Received, Reply, WebhookReceiver

SCHEMA = Path(__file__).resolve().parent.parent / "docs" / "webhook-payload.schema.json"


def _client(**kwargs: float) -> HttpClient:
    return HttpClient(allow_private_networks=True, **kwargs)  # type: ignore[arg-type]


def _verify(secret: str, got: Received) -> dict:
    return Webhook(secret).verify(got.body, got.headers)


@pytest.fixture
async def receiver():
    async with WebhookReceiver() as r:
        yield r


async def _deliver(channel: WebhookChannel, destination, notification=None):
    notification = notification or make_notification("acc_a", (destination.id,))
    return await channel.deliver(notification, destination, COSMOS)


async def test_delivery_verifies_with_the_reference_library(receiver: WebhookReceiver) -> None:
    clock = FakeClock(utcnow())
    destination = webhook_destination("dst_1", "acc_a", receiver.url("/hooks/in?x=1"))
    channel = WebhookChannel(_client(), clock=clock)
    notification = make_notification("acc_a", ("dst_1",))
    result = await _deliver(channel, destination, notification)
    assert result.ok and result.status == 200 and result.latency_ms is not None
    got = receiver.received[0]
    assert got.path == "/hooks/in?x=1"
    assert got.headers["webhook-id"] == notification.id
    assert got.headers["content-type"] == "application/json"
    payload = _verify(destination.secret, got)
    assert payload["type"] == "event.matched"
    data = payload["data"]
    assert data["notification_id"] == notification.id
    assert data["summary"] == "💸 1.5 ATOM from cosmos1qypq…v7xu to cosmos1xv9t…xxe5"
    assert data["log"] is None and data["messages"] == []  # a successful tx
    assert data["events"][1] == {
        "type": "transfer",
        "attributes": [
            {"key": "recipient", "value": notification.events[1].attributes[0].value},
            {"key": "sender", "value": notification.events[1].attributes[1].value},
            {"key": "amount", "value": "1500000uatom"},
        ],
    }
    # A wrong secret does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(new_webhook_secret()).verify(got.body, got.headers)
    await channel.client.close()


async def test_rotation_signs_with_both_secrets_for_24_hours(receiver: WebhookReceiver) -> None:
    clock = FakeClock(utcnow())
    old = webhook_destination("dst_1", "acc_a", receiver.url())
    rotated = rotate_secret(old, clock.now)
    assert rotated.secret != old.secret and rotated.previous_secret == old.secret
    assert rotated.previous_secret_expires_at == clock.now + timedelta(hours=24)
    channel = WebhookChannel(_client(), clock=clock)
    await _deliver(channel, rotated)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    _verify(rotated.secret, got)  # receivers already on the new secret
    _verify(old.secret, got)  # receivers still on the old one
    # After 24 hours only the new secret signs.
    later = rotated.previous_secret_expires_at + timedelta(seconds=1)
    headers = webhook_headers(rotated, "msg_1", b"{}", later)
    assert len(headers["webhook-signature"].split(" ")) == 1
    await channel.client.close()


async def test_rotating_twice_keeps_the_original_secret_signing_until_its_own_24_hours_end(
    receiver: WebhookReceiver,
) -> None:
    # The clock starts 23 h in the past so the delivery below carries a timestamp the reference
    # verifier accepts (it checks it against the real time).
    clock = FakeClock(utcnow() - timedelta(hours=23))
    original = webhook_destination("dst_1", "acc_a", receiver.url())
    first = rotate_secret(original, clock.now)
    first_rotation = clock.now
    clock.advance(11 * 3600)
    second = rotate_secret(first, clock.now)
    clock.advance(12 * 3600)  # 23 h after the first rotation, 12 h after the second
    channel = WebhookChannel(_client(), clock=clock)
    await _deliver(channel, second)
    got = receiver.received[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 3
    for secret in (second.secret, first.secret, original.secret):
        _verify(secret, got)  # a receiver on any of the three still verifies
    await channel.client.close()
    # Once the original's 24 h are over it stops signing; the first rotation's secret goes on.
    after = first_rotation + timedelta(hours=24, seconds=1)
    signatures = webhook_headers(second, "msg_1", b"{}", after)["webhook-signature"].split(" ")
    ts = int(after.timestamp())
    assert signatures == [sign(second.secret, "msg_1", ts, b"{}"), sign(first.secret, "msg_1", ts, b"{}")]
    # ... and a third rotation then no longer carries it at all.
    third = rotate_secret(second, after)
    assert [r.secret for r in retired_secrets(third)] == [second.secret, first.secret]


def test_rotation_keeps_a_bounded_number_of_secrets() -> None:
    clock = FakeClock(utcnow())
    dest = webhook_destination("dst_1", "acc_a", "http://127.0.0.1:9/")
    secrets_seen = [dest.secret]
    for _ in range(MAX_RETIRED_SECRETS + 3):
        clock.advance(60)
        dest = rotate_secret(dest, clock.now)
        secrets_seen.append(dest.secret)
    header = webhook_headers(dest, "msg_1", b"{}", clock.now)["webhook-signature"]
    assert len(header.split(" ")) == 1 + MAX_RETIRED_SECRETS
    # The newest replaced secrets are the ones kept; the oldest went first.
    assert [r.secret for r in retired_secrets(dest)] == secrets_seen[-2 : -2 - MAX_RETIRED_SECRETS : -1]


def test_secrets_are_whsec_and_24_random_bytes() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert new_webhook_secret() != secret


def _check_schema(schema: dict, value: object, path: str = "$") -> None:
    """A structural check of `value` against the subset of JSON Schema the payload schema uses
    (jsonschema is not a dependency of this project)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _check_schema(SCHEMA_DOC["$defs"][name], value, path)
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                _check_schema(option, value, path)
                return None
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{path}: matches no option: {errors}")
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        py = {"object": dict, "array": list, "string": str, "integer": int, "null": type(None), "boolean": bool}
        assert any(isinstance(value, py[t]) and not (t == "integer" and isinstance(value, bool)) for t in types), (
            f"{path}: {value!r} is not {types}"
        )
    if "const" in schema:
        assert value == schema["const"], f"{path}: {value!r} != {schema['const']!r}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict):
        for required in schema.get("required", []):
            assert required in value, f"{path}: missing {required}"
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(properties), f"{path}: unexpected {set(value) - set(properties)}"
        for name, sub in properties.items():
            if name in value:
                _check_schema(sub, value[name], f"{path}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _check_schema(schema["items"], item, f"{path}[{i}]")
    return None


SCHEMA_DOC = json.loads(SCHEMA.read_text()) if SCHEMA.exists() else {}


def test_payload_matches_the_published_schema() -> None:
    assert SCHEMA_DOC, "docs/webhook-payload.schema.json is missing"
    notification = make_notification("acc_a", ("dst_1",))
    payload = json.loads(notification_payload(notification, "1.5 ATOM received"))
    try:
        import jsonschema  # type: ignore[import-not-found]
    except ImportError:
        _check_schema(SCHEMA_DOC, payload)
    else:
        jsonschema.validate(payload, SCHEMA_DOC)
    # Block-level notifications have a null tx_hash and tx_code.
    block = msgspec.structs.replace(notification, tx_hash=None, tx_code=None, tx_index=None)
    _check_schema(SCHEMA_DOC, json.loads(notification_payload(block, "block")))
    # And a broken payload is caught by the check.
    payload["data"].pop("height")
    with pytest.raises(AssertionError):
        _check_schema(SCHEMA_DOC, payload)


async def test_a_failed_tx_carries_its_log_and_messages(receiver: WebhookReceiver) -> None:
    """The events of a failed tx were reverted: without `log` and `messages` a consumer could not
    tell what was attempted or why it failed, only read our English summary."""
    log = "spendable balance 12uatom is smaller than 9000000000uatom: insufficient funds"
    recipient = "cosmos1wlfzcw5j8unqy0x0ra5y7zps7rwrwkqcsmd4cx"
    sent = TxMessage(type_url="/cosmos.bank.v1beta1.MsgSend", recipient=recipient, amount="9000000000uatom")
    notification = msgspec.structs.replace(
        make_notification("acc_a", ("dst_1",)), tx_code=5, tx_codespace="sdk", tx_log=log, tx_messages=(sent,)
    )
    destination = webhook_destination("dst_1", "acc_a", receiver.url("/hooks/in"))
    assert (await _deliver(WebhookChannel(_client()), destination, notification)).ok
    payload = _verify(destination.secret, receiver.received[0])
    _check_schema(SCHEMA_DOC, payload)
    data = payload["data"]
    assert data["tx_code"] == 5 and data["log"] == log
    assert data["messages"] == [
        {"type_url": "/cosmos.bank.v1beta1.MsgSend", "recipient": recipient, "amount": "9000000000uatom"}
    ]


def test_same_notification_gives_the_same_bytes() -> None:
    notification = make_notification("acc_a", ("dst_1",))
    assert notification_payload(notification, "s") == notification_payload(msgspec.structs.replace(notification), "s")


@pytest.mark.parametrize(
    ("reply", "expect_error"),
    [
        (Reply(status=301, headers={"Location": "http://127.0.0.1:1/elsewhere"}), "HTTP 301: redirect to"),
        (Reply(status=404, body=b"no such hook"), "HTTP 404: no such hook"),
        (Reply(status=500, body=b"boom " * 500), "HTTP 500: boom"),
        (Reply(mode="reset"), "connection lost"),
    ],
)
async def test_failed_answers_are_failures(receiver: WebhookReceiver, reply: Reply, expect_error: str) -> None:
    receiver.script(reply)
    channel = WebhookChannel(_client())
    result = await _deliver(channel, webhook_destination("dst_1", "acc_a", receiver.url()))
    assert not result.ok and not result.permanent
    assert result.error is not None and expect_error in result.error
    assert len(result.error) <= 300  # kept short in the attempt log
    assert len(receiver.received) == 1  # the redirect was not followed
    await channel.client.close()


async def test_gone_is_permanent(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(status=410, body=b"gone"))
    channel = WebhookChannel(_client())
    result = await _deliver(channel, webhook_destination("dst_1", "acc_a", receiver.url()))
    assert not result.ok and result.permanent and result.disable_reason
    await channel.client.close()


async def test_retry_after_is_read(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(status=429, headers={"Retry-After": "120"}), Reply(status=503, headers={"Retry-After": "x"}))
    channel = WebhookChannel(_client())
    destination = webhook_destination("dst_1", "acc_a", receiver.url())
    assert (await _deliver(channel, destination)).retry_after == 120
    assert (await _deliver(channel, destination)).retry_after is None
    assert parse_retry_after("Wed, 01 May 2024 12:01:00 GMT", T0) == 60
    await channel.client.close()


async def test_a_hanging_endpoint_times_out(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(mode="hang"))
    channel = WebhookChannel(_client(total_timeout=0.5))
    started = time.monotonic()
    result = await _deliver(channel, webhook_destination("dst_1", "acc_a", receiver.url()))
    assert not result.ok and "no answer within 0.5 s" in (result.error or "")
    assert time.monotonic() - started < 2
    await channel.client.close()


async def test_a_gigantic_body_is_not_read(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(mode="giant"))
    channel = WebhookChannel(_client())
    started = time.monotonic()
    result = await _deliver(channel, webhook_destination("dst_1", "acc_a", receiver.url()))
    assert result.ok and result.status == 200
    assert result.response_body is None  # a success's body is not kept in the attempt log
    assert time.monotonic() - started < 3
    await asyncio.wait_for(receiver.giant_done.wait(), 10)
    assert receiver.giant_bytes_sent < 64 * 1024 * 1024  # the connection was dropped early
    await channel.client.close()


async def test_connection_refused_and_keepalive_reuse(receiver: WebhookReceiver) -> None:
    channel = WebhookChannel(_client(connect_timeout=1))
    refused = await _deliver(channel, webhook_destination("dst_1", "acc_a", "http://127.0.0.1:9/hook"))
    assert not refused.ok and "cannot connect" in (refused.error or "")
    destination = webhook_destination("dst_2", "acc_a", receiver.url())
    for _ in range(5):
        assert (await _deliver(channel, destination)).ok
    assert len(receiver.received) == 5
    await channel.client.close()


async def test_invalid_tls_certificate_fails_and_is_retryable() -> None:
    async with WebhookReceiver(tls=True) as tls_receiver:
        channel = WebhookChannel(_client())
        result = await _deliver(channel, webhook_destination("dst_1", "acc_a", tls_receiver.url()))
        assert not result.ok and not result.permanent
        assert "TLS" in (result.error or "") and "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
        assert tls_receiver.received == []
        # Trusting that certificate (as a private CA would be) makes it work: TLS itself is sound.
        context = ssl.create_default_context()
        context.check_hostname = True
        pem = (Path(tls_receiver._tmp.name) / "cert.pem").read_text()  # type: ignore[union-attr]
        context.load_verify_locations(cadata=pem)
        trusting = WebhookChannel(HttpClient(allow_private_networks=True, ssl_context=context))
        assert (await _deliver(trusting, webhook_destination("dst_1", "acc_a", tls_receiver.url()))).ok
        await channel.client.close()
        await trusting.client.close()


async def test_send_test_event_reports_the_answer(receiver: WebhookReceiver) -> None:
    receiver.script(Reply(status=418, body=b"I'm a teapot"))
    channel = WebhookChannel(_client())
    destination = webhook_destination("dst_1", "acc_a", receiver.url())
    answer = await channel.send_test_event(destination)
    assert answer.status == 418 and answer.body == "I'm a teapot" and not answer.ok and answer.latency_ms
    payload = _verify(destination.secret, receiver.received[0])
    assert payload["type"] == "webhook.test" and payload["data"]["destination_id"] == "dst_1"
    ok = await channel.send_test_event(destination)
    assert ok.ok and ok.status == 200 and ok.body == "ok"
    blocked = await WebhookChannel(HttpClient()).send_test_event(webhook_destination("dst_2", "acc_a", receiver.url()))
    assert not blocked.ok and blocked.status is None and "loopback" in (blocked.error or "")
    await channel.client.close()
