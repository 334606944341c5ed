"""The resource document every collector produces (``snapshot_contract.md``), and turning API answers into it.

One shape for every resource type: ``arn``, ``type`` (ASFF), ``account``, ``region``, ``name``, ``tags``,
``data`` (the list/describe item as AWS returned it) and ``calls`` (each per-resource detail call by its
boto3 operation name: the response without ``ResponseMetadata``, or ``{"error": {"code", "message"}}``).
Answers are made JSON-safe here: datetimes become ISO-8601 strings, bytes become text (or base64 when
they are not UTF-8), and JSON policy documents given as (URL-encoded) strings are decoded beside the raw
string, so controls read objects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import unquote

# Error codes that are AWS's way of saying "not configured": kept in the document (the control decides what
# they mean) but not reported as collection errors in the snapshot.
NOT_CONFIGURED: Final = frozenset({
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchLifecycleConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "OwnershipControlsNotFoundError",
    "ReplicationConfigurationNotFoundError",
    "NoSuchTagSet",
    "NoSuchWebsiteConfiguration",
    "NoSuchEntity",
    "ResourceNotFoundException",
    "RepositoryPolicyNotFoundException",
    "LifecyclePolicyNotFoundException",
    "RegistryPolicyNotFoundException",
    "PolicyNotFoundException",
    "NoSuchConfigurationRecorderException",
    "TrailNotFoundException",
    "ParameterNotFound",
    "ReportNotPresent",
    "PolicyNotFound",  # EFS file system / backup policy
    "WAFNonexistentItemException",  # WAFv2 logging configuration
    "AWSOrganizationsNotInUseException",  # the account is in no organisation
})


# Never stored: pagination plumbing, and secret material some APIs (or local endpoints) return beside
# metadata, e.g. a virtual MFA device's seed and QR code in ``ListVirtualMFADevices``.
DROPPED: Final = frozenset({
    "ResponseMetadata", "NextToken", "nextToken", "Marker", "IsTruncated", "NextMarker",
    "Base32StringSeed", "QRCodePNG", "SecretAccessKey", "SessionToken", "SecretString", "SecretBinary",
    "MasterUserPassword", "PrivateKey",
})


def clean(value: Any) -> Any:
    """A JSON-safe copy of an API answer, without pagination tokens or secret material (:data:`DROPPED`)."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items() if k not in DROPPED}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "read"):  # a streaming body: never expected in a document
        return None
    return value


def error_entry(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def decode_policy(text: Any) -> Any:
    """A policy document given as a JSON string (possibly URL-encoded, as IAM returns it) as an object;
    anything that is not such a string is returned as is, and undecodable text is returned as text."""
    if not isinstance(text, str):
        return text
    for candidate in (text, unquote(text)):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return text


def tags_of(value: Any) -> dict[str, str]:
    """Tags in any of AWS's shapes (``[{"Key","Value"}]``, ``[{"key","value"}]``, ``[{"TagKey","TagValue"}]``,
    or a map) as one ``{key: value}`` map."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    found: dict[str, str] = {}
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, Mapping):
                continue
            key = item.get("Key", item.get("key", item.get("TagKey")))
            if key is not None:
                found[str(key)] = str(item.get("Value", item.get("value", item.get("TagValue", ""))))
    return found


def make_document(
    *,
    arn: str,
    type_: str,
    account: str,
    region: str,
    name: str,
    data: Any,
    tags: dict[str, str] | None = None,
    calls: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "arn": arn,
        "type": type_,
        "account": account,
        "region": region,
        "name": name,
        "tags": dict(tags or {}),
        "data": clean(data),
        "calls": dict(calls or {}),
    }
