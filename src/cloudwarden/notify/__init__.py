"""Notifications: Slack, e-mail, signed webhooks, SNS and SES, delivered through a persisted outbox.

Producers (the router, ``demo``) call :meth:`Outbox.enqueue` with a target name and findings; the outbox
stores the message in the store and its delivery loop sends it with retries, backoff and dead letters.
Targets are configured by name in a targets file or environment variables (:func:`load_targets`).
"""

from cloudwarden.notify.model import DeliveryResult, Message, Outcome
from cloudwarden.notify.outbox import DeliveryReport, Outbox, OutboxEntry, RetryPolicy, State
from cloudwarden.notify.registry import SENDERS, Senders, Targets, load_targets, parse_target
from cloudwarden.notify.transport import HttpResponse, Transport, TransportError, UrllibTransport
from cloudwarden.notify.webhook import SignatureError, sign, verify_signature

__all__ = [
    "SENDERS",
    "DeliveryReport",
    "DeliveryResult",
    "HttpResponse",
    "Message",
    "Outbox",
    "OutboxEntry",
    "Outcome",
    "RetryPolicy",
    "Senders",
    "SignatureError",
    "State",
    "Targets",
    "Transport",
    "TransportError",
    "UrllibTransport",
    "load_targets",
    "parse_target",
    "sign",
    "verify_signature",
]
