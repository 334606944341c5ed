"""Secrets Manager controls: rotation configured, rotation succeeding, unused secrets, rotation age."""

from __future__ import annotations

from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, failed, parse_time, verdict
from cloudwarden.posture.registry import control

SECRET = "AwsSecretsManagerSecret"


def described(doc: ResourceDoc) -> dict[str, Any]:
    """The secret's DescribeSecret answer when collected, else its ListSecrets item."""
    if "DescribeSecret" in doc.calls:
        return {**doc.data, **(doc.call("DescribeSecret") or {})}
    return dict(doc.data)


@control("SecretsManager.1", title="Secrets Manager secrets should have automatic rotation enabled",
         severity=Severity.MEDIUM, resource_type=SECRET, service="secretsmanager", calls=("DescribeSecret",),
         rationale="Rotation limits how long a leaked secret stays useful.",
         remediation="Configure a rotation function and schedule for the secret.",
         cli="aws secretsmanager rotate-secret --secret-id <id> --rotation-lambda-arn <arn> "
             "--rotation-rules AutomaticallyAfterDays=30")
def rotation_enabled(doc: ResourceDoc, inv: Inventory) -> Verdict:
    on = bool(described(doc).get("RotationEnabled"))
    return verdict(on, f"secret {doc.label} rotates automatically", f"secret {doc.label} has no automatic rotation")


def _interval(info: dict[str, Any]) -> int:
    return int((info.get("RotationRules") or {}).get("AutomaticallyAfterDays") or 0)


@control("SecretsManager.2", title="Secrets Manager secrets configured with automatic rotation should rotate "
         "successfully", severity=Severity.MEDIUM, resource_type=SECRET, service="secretsmanager",
         calls=("DescribeSecret",),
         rationale="A rotation schedule that silently fails gives a false sense of safety.",
         remediation="Fix the rotation function (permissions, network) and rotate the secret.",
         cli="aws secretsmanager rotate-secret --secret-id <id>")
def rotation_succeeds(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    info = described(doc)
    if not info.get("RotationEnabled"):
        return None
    last = parse_time(info.get("LastRotatedDate"))
    interval = _interval(info)
    if last is None:
        return failed(f"secret {doc.label} has rotation configured but never rotated")
    days = (inv.now - last).days
    ok = interval == 0 or days <= interval + 1
    return verdict(ok, f"secret {doc.label} last rotated {days} days ago (every {interval})",
                   f"secret {doc.label} last rotated {days} days ago but should every {interval} days")


@control("SecretsManager.3", title="Remove unused Secrets Manager secrets", severity=Severity.MEDIUM,
         resource_type=SECRET, service="secretsmanager", calls=("DescribeSecret",),
         rationale="A secret nobody reads is a credential nobody watches.",
         remediation="Delete secrets unused for 90 days (after checking nothing needs them).",
         cli="aws secretsmanager delete-secret --secret-id <id> --recovery-window-in-days 30")
def unused(doc: ResourceDoc, inv: Inventory) -> Verdict:
    info = described(doc)
    accessed = parse_time(info.get("LastAccessedDate"))
    created = parse_time(info.get("CreatedDate"))
    if accessed is None and created is None:
        raise NotAvailable(f"neither LastAccessedDate nor CreatedDate of secret {doc.label} is in the snapshot")
    since = accessed or created
    assert since is not None
    days = (inv.now - since).days
    what = "last accessed" if accessed else "never accessed since its creation"
    return verdict(days <= 90, f"secret {doc.label} {what} {days} days ago",
                   f"secret {doc.label} {what} {days} days ago")


@control("SecretsManager.4", title="Secrets Manager secrets should be rotated within a specified number of days",
         severity=Severity.MEDIUM, resource_type=SECRET, service="secretsmanager", calls=("DescribeSecret",),
         rationale="The longer a secret lives, the more places it has leaked to.",
         remediation="Rotate the secret at least every 90 days.",
         cli="aws secretsmanager rotate-secret --secret-id <id>")
def rotated_recently(doc: ResourceDoc, inv: Inventory) -> Verdict:
    info = described(doc)
    since = parse_time(info.get("LastRotatedDate")) or parse_time(info.get("CreatedDate"))
    if since is None:
        raise NotAvailable(f"neither LastRotatedDate nor CreatedDate of secret {doc.label} is in the snapshot")
    days = (inv.now - since).days
    return verdict(days <= 90, f"secret {doc.label} was rotated {days} days ago",
                   f"secret {doc.label} has not been rotated for {days} days")
