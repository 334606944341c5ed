"""Webhooks: the signature a receiver computes on its own matches, replays and tampering are caught, 500s are
retried with growing delays, redirects are not followed."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest

from cloudwarden.notify import Message, Outbox, Outcome, RetryPolicy, SignatureError, State, Targets, verify_signature
from cloudwarden.notify.webhook import WebhookSender, WebhookTarget
from cloudwarden.store import Store
from tests.notify.conftest import HttpSink, Reply, make_finding

KEY = "whsec-test-0123456789abcdef"


def _target(sink: HttpSink, **extra: object) -> WebhookTarget:
    return WebhookTarget.model_validate({"url": sink.url("/cloudwarden"), "secret": KEY, **extra})


def test_signature_verifies_on_the_receiver_side(http_sink: HttpSink) -> None:
    message = Message.for_findings("soc", "webhook", [make_finding(1), make_finding(2)], rule="public-buckets")
    result = WebhookSender().send(message, _target(http_sink))
    assert result.ok
    (got,) = http_sink.requests
    timestamp, signature = got.header("X-Cloudwarden-Timestamp"), got.header("X-Cloudwarden-Signature")
    assert timestamp is not None and signature is not None
    # what a receiver in any language does: HMAC-SHA256 over "<timestamp>.<raw body>"
    expected = hmac.new(KEY.encode(), f"{timestamp}.".encode() + got.body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    verify_signature(KEY.encode(), got.body, timestamp, signature)
    body = got.json()
    assert body["id"] == message.idempotency_key == got.header("X-Cloudwarden-Delivery")
    assert body["rule"] == "public-buckets" and len(body["findings"]) == 2
    assert sorted(body["finding_ids"]) == sorted(f["id"] for f in body["findings"])


def test_tampered_body_replayed_request_and_wrong_key_are_rejected(http_sink: HttpSink) -> None:
    WebhookSender().send(Message.for_findings("soc", "webhook", [make_finding()]), _target(http_sink))
    got = http_sink.requests[0]
    timestamp, signature = got.header("X-Cloudwarden-Timestamp"), got.header("X-Cloudwarden-Signature")
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(KEY.encode(), got.body.replace(b"HIGH", b"LOW"), timestamp, signature)
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(b"another key", got.body, timestamp, signature)
    with pytest.raises(SignatureError, match="replay"):
        verify_signature(KEY.encode(), got.body, timestamp, signature, now=time.time() + 3600)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(KEY.encode(), got.body, None, signature)


def test_extra_headers_are_sent_but_cannot_replace_the_signature(http_sink: HttpSink) -> None:
    target = _target(http_sink, headers={"X-Team": "secops", "X-Cloudwarden-Signature": "sha256=forged"})
    assert WebhookSender().send(Message.for_findings("soc", "webhook", [make_finding()]), target).ok
    got = http_sink.requests[0]
    assert got.header("X-Team") == "secops"
    verify_signature(KEY.encode(), got.body, got.header("X-Cloudwarden-Timestamp"),
                     got.header("X-Cloudwarden-Signature"))


def test_redirects_are_not_followed(http_sink: HttpSink) -> None:
    http_sink.default = Reply(307, b"", {"Location": "http://127.0.0.1:1/elsewhere"})
    result = WebhookSender().send(Message.for_findings("soc", "webhook", [make_finding()]), _target(http_sink))
    assert result.outcome is Outcome.FAILED and "redirect" in result.detail
    assert len(http_sink.requests) == 1


def test_500_is_retried_with_growing_backoff_then_delivered(http_sink: HttpSink, tmp_path: Path) -> None:
    http_sink.replies = [Reply(500, b"boom"), Reply(502, b"bad gateway")]
    with Store.open(tmp_path / "s.duckdb") as store:
        outbox = Outbox(store, Targets({"soc": _target(http_sink)}),
                        policy=RetryPolicy(base_delay=0.3, jitter=0.0))
        message = outbox.enqueue("soc", [make_finding()])
        assert message is not None
        outbox.run(until_idle=True, timeout=15, poll=0.02)
        entry = outbox.get(message.idempotency_key)
    assert entry is not None and entry.state is State.DELIVERED and entry.attempts == 3
    at = [r.at for r in http_sink.requests]
    assert len(at) == 3
    assert at[1] - at[0] >= 0.3 and at[2] - at[1] >= 0.6  # base, then twice base
    assert {r.header("X-Cloudwarden-Delivery") for r in http_sink.requests} == {message.idempotency_key}
