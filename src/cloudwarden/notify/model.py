"""What notification senders are given and what they hand back: :class:`Message` and :class:`DeliveryResult`.

A message names its target (a name from the targets file, never a URL or a key, so a stored message holds
nothing secret), the sender kind that target had when the message was made, a payload of plain JSON (a
subject and the findings in the contract's JSON, secrets scrubbed) and the ids of the findings it carries.
Every sender renders the same payload its own way (Block Kit, e-mail, signed JSON, SNS, SES), so a message
can be stored in the outbox and sent hours later by another process.

A :class:`DeliveryResult` says one of three things: delivered, try again later (optionally not before a
``Retry-After``), or failed for good (a 4xx the target will repeat forever). Long messages may go out in
several parts (Slack's 50-block limit); ``parts_sent`` lets the outbox resume after the last part that
went through instead of sending the first ones twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity


class Outcome(StrEnum):
    """How one delivery attempt ended."""

    DELIVERED = "delivered"
    RETRY = "retry"  # the target is down, slow or rate-limiting: try again later
    FAILED = "failed"  # the target refused the message for good (bad URL, bad request): do not retry


@dataclass(frozen=True)
class DeliveryResult:
    """One attempt's outcome. ``detail`` is secret-free (no URLs, no keys) and short; ``status`` is the HTTP
    or SMTP code when there was one; ``retry_after`` (seconds) is what the target asked us to wait."""

    outcome: Outcome
    detail: str = ""
    status: int | None = None
    retry_after: float | None = None
    parts_sent: int = 0
    parts_total: int = 1

    @classmethod
    def delivered(cls, parts: int = 1, status: int | None = None) -> DeliveryResult:
        return cls(Outcome.DELIVERED, "delivered", status=status, parts_sent=parts, parts_total=parts)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED


def _now() -> datetime:
    return datetime.now(UTC)


def default_key(target: str, kind: str, payload: dict[str, Any]) -> str:
    """The idempotency key a message gets when its producer gives none: same target and payload, same key."""
    canonical = json.dumps([target, kind, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Message(BaseModel):
    """One notification for one target. Build it with :meth:`for_findings`."""

    model_config = ConfigDict(frozen=True)

    target: str
    kind: str
    payload: dict[str, Any]
    finding_ids: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=_now)
    idempotency_key: str

    @classmethod
    def for_findings(
        cls,
        target: str,
        kind: str,
        findings: Iterable[Finding],
        *,
        subject: str | None = None,
        rule: str | None = None,
        key: str | None = None,
        created_at: datetime | None = None,
    ) -> Message:
        """A message carrying ``findings`` (secrets scrubbed), most severe first.

        ``key`` is the idempotency key: the outbox delivers at most one message per key, ever. By default
        it is derived from the target and the payload, so enqueueing the same findings twice sends once;
        a router that wants a finding re-sent when it changes severity puts the severity in its key.
        """
        items = sorted((f.redacted() for f in findings), key=lambda f: (-f.severity.rank, f.title, f.id))
        payload: dict[str, Any] = {
            "subject": subject or default_subject(items),
            "findings": [f.to_json_dict() for f in items],
        }
        if rule is not None:
            payload["rule"] = rule
        return cls(
            target=target,
            kind=kind,
            payload=payload,
            finding_ids=[f.id for f in items],
            created_at=created_at or _now(),
            idempotency_key=key or default_key(target, kind, payload),
        )

    @property
    def subject(self) -> str:
        return str(self.payload.get("subject") or "cloudwarden notification")

    def findings(self) -> list[Finding]:
        """The payload's findings as models (the outbox stores them as contract JSON)."""
        return [Finding.from_json_dict(item) for item in self.payload.get("findings", [])]

    def body_json(self) -> dict[str, Any]:
        """The machine-readable body webhooks and SNS carry: the delivery id, the subject, the findings."""
        body: dict[str, Any] = {
            "id": self.idempotency_key,
            "source": "cloudwarden",
            "subject": self.subject,
            "created_at": self.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finding_ids": list(self.finding_ids),
            "findings": list(self.payload.get("findings", [])),
        }
        if "rule" in self.payload:
            body["rule"] = self.payload["rule"]
        return body


def default_subject(findings: list[Finding]) -> str:
    """``[HIGH] Title`` for one finding, ``3 findings (1 CRITICAL, 2 HIGH)`` for several."""
    if not findings:
        return "cloudwarden: no findings"
    if len(findings) == 1:
        return f"[{findings[0].severity.value}] {findings[0].title}"
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items(), key=lambda i: -i[0].rank) if n)
    return f"{len(findings)} findings ({parts})"
