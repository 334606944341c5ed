"""What a posture control is, what it says, and the resource documents it reads.

A control is metadata (:class:`Control`) plus one small pure function over :class:`ResourceDoc`
views of snapshot documents (the inventory snapshot contract). The function returns a
:class:`Verdict`; when the snapshot cannot decide (a call that was not made, an ``AccessDenied``,
a throttled request), :meth:`ResourceDoc.call` raises :class:`NotAvailable` and the evaluator turns
it into a ``NOT_AVAILABLE`` verdict with the reason. Nothing here talks to AWS: controls decide from
the stored documents alone, so a scan can be re-evaluated offline and a missing permission can
never pass for a compliant resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field

from cloudwarden.core.severity import Severity

if TYPE_CHECKING:
    from cloudwarden.posture.inventory import Inventory


class NotAvailable(Exception):
    """The snapshot cannot decide this control for this resource; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class VerdictStatus(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    NOT_AVAILABLE = "NOT_AVAILABLE"


# "Not configured" answers AWS gives as errors; a control names the ones it accepts as an answer.
NOT_CONFIGURED: frozenset[str] = frozenset({
    "NoSuchBucketPolicy", "ServerSideEncryptionConfigurationNotFoundError", "NoSuchPublicAccessBlockConfiguration",
    "NoSuchLifecycleConfiguration", "ObjectLockConfigurationNotFoundError", "OwnershipControlsNotFoundError",
    "ReplicationConfigurationNotFoundError", "NoSuchEntity", "ResourceNotFoundException",
    "RepositoryPolicyNotFoundException", "LifecyclePolicyNotFoundException", "NoSuchTagSet",
})

# Service prefix (for "AccessDenied on s3:GetBucketPolicy") by operation, where the resource type does not say.
_SERVICE_BY_OP: dict[str, str] = {
    "DescribeOrganization": "organizations", "GetContactInformation": "account",
    "GetAlternateContact": "account", "GetEbsEncryptionByDefault": "ec2", "GetSnapshotBlockPublicAccessState": "ec2",
    "GetImageBlockPublicAccessState": "ec2", "ListDetectors": "guardduty", "DescribeConfigurationRecorders": "config",
    "DescribeConfigurationRecorderStatus": "config", "ListAnalyzers": "access-analyzer",
    "GetRegistryScanningConfiguration": "ecr", "DescribeHub": "securityhub", "GetServiceSetting": "ssm",
    "DescribeTrails": "cloudtrail", "DescribeMetricFilters": "logs", "DescribeAlarms": "cloudwatch",
}
_SERVICE_BY_TYPE: dict[str, str] = {
    "AwsIam": "iam", "AwsAccount": "iam", "AwsS3": "s3", "AwsEc2": "ec2", "AwsKms": "kms", "AwsSecretsManager":
    "secretsmanager", "AwsSsm": "ssm", "AwsCloudTrail": "cloudtrail", "AwsGuardDuty": "guardduty", "AwsRds": "rds",
    "AwsLambda": "lambda", "AwsEcr": "ecr", "AwsSns": "sns", "AwsSqs": "sqs", "AwsEfs": "elasticfilesystem",
    "AwsElbv2": "elasticloadbalancing", "AwsWafv2": "wafv2", "AwsLogs": "logs", "AwsCloudWatch": "cloudwatch",
    "AwsOrganizations": "organizations", "AwsSso": "sso", "AwsAccessAnalyzer": "access-analyzer",
}


def service_of(doc_type: str, op: str) -> str:
    """The IAM service prefix of ``op`` as made for a ``doc_type`` resource (for reasons)."""
    if op in _SERVICE_BY_OP:
        return _SERVICE_BY_OP[op]
    if op == "GetPublicAccessBlock":  # s3control on the account, s3 on a bucket: both are s3: actions
        return "s3"
    for prefix in sorted(_SERVICE_BY_TYPE, key=len, reverse=True):
        if doc_type.startswith(prefix):
            return _SERVICE_BY_TYPE[prefix]
    return "aws"


class ResourceDoc(BaseModel):
    """A read-only view of one snapshot resource document (see the snapshot contract)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    arn: str
    type: str
    account: str
    region: str
    name: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    calls: dict[str, Any] = Field(default_factory=dict)

    def has_call(self, op: str) -> bool:
        return op in self.calls

    def error_code(self, op: str) -> str | None:
        """The error code ``op`` answered with, or ``None`` (answered, or not made)."""
        answer = self.calls.get(op)
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            return str(answer["error"].get("code") or "UnknownError")
        return None

    def call(self, op: str, *, not_configured: Iterable[str] = ()) -> dict[str, Any] | None:
        """The response of ``op``; ``None`` when it answered with one of the ``not_configured`` error codes.

        Raises :class:`NotAvailable` when the call was not made or failed in any other way
        (``AccessDenied on s3:GetBucketPolicy``).
        """
        if op not in self.calls:
            raise NotAvailable(f"{service_of(self.type, op)}:{_op_name(op)} was not collected for {self.label}")
        answer = self.calls[op]
        if not isinstance(answer, dict):
            raise NotAvailable(f"{service_of(self.type, op)}:{_op_name(op)} for {self.label} is malformed")
        code = self.error_code(op)
        if code is not None:
            if code in set(not_configured):
                return None
            raise NotAvailable(f"{code} on {service_of(self.type, op)}:{_op_name(op)} for {self.label}")
        return answer

    def need(self, key: str) -> Any:
        """``data[key]``; :class:`NotAvailable` when the collector did not record it."""
        if key not in self.data:
            raise NotAvailable(f"{key} is not in the snapshot for {self.label}")
        return self.data[key]

    @property
    def label(self) -> str:
        """How reasons name the resource: its name, else its ARN."""
        return self.name or self.arn


def not_collected(what: str) -> NoReturn:
    """For controls over resource types the snapshot contract does not collect: always NOT_AVAILABLE."""
    raise NotAvailable(f"{what} are not collected in the snapshot")


def _op_name(op: str) -> str:
    return op.split("_", 1)[0]


@dataclass(frozen=True)
class Verdict:
    """A control's answer for one resource. ``resource`` is filled in by the evaluator when left ``None``."""

    status: VerdictStatus
    reason: str
    resource: ResourceDoc | None = None


def passed(reason: str, resource: ResourceDoc | None = None) -> Verdict:
    return Verdict(VerdictStatus.PASSED, reason, resource)


def failed(reason: str, resource: ResourceDoc | None = None) -> Verdict:
    return Verdict(VerdictStatus.FAILED, reason, resource)


def verdict(ok: bool, if_ok: str, if_not: str) -> Verdict:
    """PASSED with ``if_ok`` or FAILED with ``if_not``."""
    return passed(if_ok) if ok else failed(if_not)


# One verdict, none (the control does not apply), or several (a document shared by accounts, one per account).
Check = Callable[["ResourceDoc", "Inventory"], "Verdict | list[Verdict] | None"]

_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)+$")


@dataclass(frozen=True)
class Control:
    """A posture control: Security Hub id (or our own ``CW.*`` id where Security Hub has none), metadata and
    the check. Framework mappings (CIS, FSBP) are data in ``frameworks/``, not fields here.

    ``scope`` holds the document types the check runs over (``AwsS3Bucket``; ``AwsAccount`` for account-wide
    controls); ``resource_type`` is the ASFF type the control is about. ``calls`` are the snapshot calls the
    check reads (the permissions a scan needs for it); ``categories`` group controls for scores
    (``encryption``).
    """

    id: str
    title: str
    severity: Severity
    resource_type: str
    scope: tuple[str, ...]
    service: str
    rationale: str
    remediation: str
    remediation_cli: str
    check: Check
    calls: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"control id {self.id!r} is not like 'S3.8' or 'CW.EC2.1'")
        if not self.scope:
            raise ValueError(f"control {self.id}: no scope")
        for name in ("title", "resource_type", "service", "rationale", "remediation", "remediation_cli"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"control {self.id}: {name} is empty")

    @property
    def remediation_text(self) -> str:
        return f"{self.remediation} CLI: {self.remediation_cli}"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string (as documents store datetimes) as an aware datetime; ``None`` for N/A-like values."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value or value in {"N/A", "not_supported", "no_information"}:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_list(value: Any) -> list[Any]:
    """A policy element (string or list) as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
