"""The one Finding model every source produces and every writer, store and router consumes.

The JSON shape is the contract's (``CONTRACTS.md`` → Findings). Construct findings with
:meth:`Finding.create`, which derives the stable id; writers never see source-specific data
except through these typed fields.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudwarden.core.severity import Severity


class Source(StrEnum):
    POSTURE = "posture"
    IAM = "iam"
    DETECT = "detect"
    RESPOND = "respond"


class Status(StrEnum):
    # posture verdicts
    FAILED = "FAILED"
    PASSED = "PASSED"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    # other sources
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    # either
    SUPPRESSED = "SUPPRESSED"


class ResourceRef(BaseModel):
    """The resource a finding is about: an ASFF resource type (``AwsS3Bucket``) and its ARN or id."""

    model_config = ConfigDict(frozen=True)

    type: str
    id: str


class Evidence(BaseModel):
    """What backs a finding. ``event_ids`` are CloudTrail eventIDs; ``details`` is free-form, secret-free."""

    model_config = ConfigDict(frozen=True)

    event_ids: list[str] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def finding_id(source: str, rule: str, account: str, region: str, resource: str) -> str:
    """Stable id: sha256 of (source, rule, account, region, resource), so a re-run updates, never duplicates."""
    key = "\x1f".join((source, rule, account, region, resource))
    return hashlib.sha256(key.encode()).hexdigest()


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    source: Source
    type: str
    control_id: str | None = None
    rule_id: str
    title: str
    description: str = ""
    remediation: str = ""
    status: Status
    severity: Severity
    account_id: str
    region: str
    resource: ResourceRef
    principal: str | None = None
    frameworks: dict[str, list[str]] = Field(default_factory=dict)
    first_seen: datetime
    last_seen: datetime
    count: int = 1
    evidence: Evidence = Field(default_factory=Evidence)
    mitre: list[str] = Field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        source: Source,
        rule_id: str,
        type: str,
        title: str,
        severity: Severity,
        account_id: str,
        region: str,
        resource: ResourceRef,
        status: Status | None = None,
        seen: datetime | None = None,
        **fields: Any,
    ) -> Finding:
        """Build a finding with its stable id; ``status`` defaults to FAILED (posture) or ACTIVE (others)."""
        when = seen or utcnow()
        if status is None:
            status = Status.FAILED if source is Source.POSTURE else Status.ACTIVE
        return cls(
            id=finding_id(source.value, rule_id, account_id, region, resource.id),
            source=source,
            rule_id=rule_id,
            type=type,
            title=title,
            severity=severity,
            account_id=account_id,
            region=region,
            resource=resource,
            status=status,
            first_seen=fields.pop("first_seen", when),
            last_seen=fields.pop("last_seen", when),
            **fields,
        )

    def to_json_dict(self) -> dict[str, Any]:
        """The contract's JSON object (ISO-8601 times with Z)."""
        data = self.model_dump(mode="json")
        for key in ("first_seen", "last_seen"):
            data[key] = iso_utc(getattr(self, key))
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> Finding:
        return cls.model_validate(data)

    def redacted(self) -> Finding:
        """This finding with secret-looking values in ``evidence.details`` replaced (see :func:`scrub_secrets`).

        Writers and the store call this, so a producer's slip never reaches a file or the database.
        """
        details = scrub_secrets(self.evidence.details)
        if details == self.evidence.details:
            return self
        return self.model_copy(update={"evidence": self.evidence.model_copy(update={"details": details})})


REDACTED = "[REDACTED]"
# Key names whose values are secrets: secret access keys, session tokens, passwords, private keys.
_SECRET_KEY = re.compile(
    r"secret|password|passwd|passphrase|session_?token|private_?key|credentials?$|api_?key|auth_?token",
    re.IGNORECASE,
)
# ...unless the key names a reference to the secret rather than its value (``SecretArn``, ``secret_name``).
_REFERENCE_KEY = re.compile(r"(arn|id|ids|name|names|type|count|length|age|last_?used|rotation\w*)$", re.IGNORECASE)
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key)) and not _REFERENCE_KEY.search(key)


def scrub_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with secrets replaced by ``[REDACTED]``.

    A value is a secret when its key names one (``SecretAccessKey``, ``password``, ``sessionToken``,
    ``private_key``...) and is not a reference to one (``SecretArn``, ``SecretId``), or when it holds a
    PEM private key. Key ids (``AccessKeyId``) are not secrets: they are what responders search CloudTrail for.
    """
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(item, dict):
                out[key] = scrub_secrets(item)
            elif _is_secret_key(key) and isinstance(item, str | list) and item:
                out[key] = REDACTED
            else:
                out[key] = scrub_secrets(item)
        return out
    if isinstance(value, list):
        return [scrub_secrets(item) for item in value]
    if isinstance(value, str) and _PEM_PRIVATE.search(value):
        return REDACTED
    return value


def iso_utc(value: datetime) -> str:
    """ISO-8601 UTC with a ``Z`` and whole seconds, as every file format we write wants it."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
