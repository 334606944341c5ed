"""Generic webhooks: the message as JSON, POSTed and signed with HMAC-SHA256 so the receiver can trust it.

Every request carries:

``X-Cloudwarden-Timestamp``
    Unix seconds when the request was signed.
``X-Cloudwarden-Signature``
    ``sha256=<hex>``: HMAC-SHA256, keyed with the target's shared secret, of the bytes
    ``<timestamp>.<raw body>`` (the timestamp header's value, a full stop, then the body exactly as sent).
``X-Cloudwarden-Delivery``
    The message's idempotency key, the same on every retry of the same message.

How a receiver verifies (what :func:`verify_signature` does):

1. Take the raw request body **before** any JSON parsing (re-serialising changes the bytes).
2. Reject the request if the timestamp is more than 5 minutes from your clock: this stops an attacker who
   captured one request from replaying it later, because the timestamp is inside the signed bytes.
3. Compute ``hmac_sha256(secret, timestamp + "." + body)`` as lowercase hex and compare it with the part
   after ``sha256=`` using a constant-time comparison (``hmac.compare_digest`` in Python,
   ``crypto.timingSafeEqual`` in Node).
4. Optionally remember ``X-Cloudwarden-Delivery`` values for the tolerance window and drop repeats: the outbox
   sends a message at most once per key, but a receiver that answers slowly may see a retry.

The signing key and the URL are secrets: they come from the targets file or the environment at send time and
never appear in logs, errors or the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Literal

from pydantic import Field

from cloudwarden.notify.config import Secret, TargetConfig, check_http_url
from cloudwarden.notify.model import DeliveryResult, Message, Outcome
from cloudwarden.notify.transport import Transport, TransportError, UrllibTransport, is_retryable

SIGNATURE_HEADER = "X-Cloudwarden-Signature"
TIMESTAMP_HEADER = "X-Cloudwarden-Timestamp"
DELIVERY_HEADER = "X-Cloudwarden-Delivery"
DEFAULT_TOLERANCE = 300.0
# Headers a target's ``headers`` may not override (they carry the signature scheme).
_RESERVED = frozenset(h.lower() for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER, "content-type"))


class WebhookTarget(TargetConfig):
    """``kind: webhook``: a URL and the shared HMAC key (both secrets), plus optional extra headers."""

    kind: Literal["webhook"] = "webhook"
    url: Secret
    secret: Secret = Field(description="the shared HMAC-SHA256 key the receiver verifies with")
    headers: dict[str, str] = Field(default_factory=dict, description="extra, non-secret request headers")
    allow_http: bool = False


class SignatureError(ValueError):
    """A webhook request failed verification; the message says why (never the expected signature)."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Cloudwarden-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: bytes,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a received webhook as the module docstring describes; raise :class:`SignatureError` if it fails."""
    if not timestamp or not signature:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds") from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {tolerance:g} s from now (a replay?)")
    if not signature.startswith("sha256="):
        raise SignatureError(f"{SIGNATURE_HEADER} must start with sha256=")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise SignatureError("signature does not match the body")


class WebhookSender:
    """POSTs :meth:`Message.body_json` to the target with the signature headers."""

    kind = "webhook"
    config_type = WebhookTarget

    def __init__(self, transport: Transport | None = None) -> None:
        self.transport = transport or UrllibTransport()

    def send(self, message: Message, config: TargetConfig, *, resume_from: int = 0) -> DeliveryResult:
        assert isinstance(config, WebhookTarget)
        url = check_http_url(config.url.resolve("url"), "url", allow_http=config.allow_http)
        key = config.secret.resolve("secret").encode()
        body = json.dumps(message.body_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {name: value for name, value in config.headers.items() if name.lower() not in _RESERVED}
        headers.update({
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(key, timestamp, body),
            DELIVERY_HEADER: message.idempotency_key,
        })
        try:
            reply = self.transport.post(url, body, headers, timeout=config.timeout)
        except TransportError as exc:
            return DeliveryResult(Outcome.RETRY, str(exc))
        if 200 <= reply.status < 300:
            return DeliveryResult.delivered(1, reply.status)
        detail = f"webhook answered {reply.status} {reply.text()}".strip()
        if is_retryable(reply.status):
            return DeliveryResult(Outcome.RETRY, detail, reply.status, reply.retry_after())
        if 300 <= reply.status < 400:
            detail = f"webhook answered {reply.status}: redirects are not followed"
        return DeliveryResult(Outcome.FAILED, detail, reply.status)
