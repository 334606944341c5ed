"""Findings as the EventBridge events AWS itself emits, so users' existing event patterns work unchanged.

Every finding becomes a Security Hub event (``source: aws.securityhub``, ``detail-type: Security Hub Findings -
Imported``, the finding in ASFF under ``detail.findings[]``, built by ``findings.asff.to_asff``). A detection
finding also becomes a GuardDuty event (``source: aws.guardduty``, ``detail-type: GuardDuty Finding``, ``detail`` in
GuardDuty's finding shape: numeric severity, ``resource.resourceType`` with its details, ``service.action`` with the
API call), as AWS emits both for a GuardDuty finding that Security Hub imports.

Event ids are derived from the finding id, its last-seen time and status, so the same finding state always gives the
same event and a changed one gives a new event.
"""

from __future__ import annotations

import hashlib
import ipaddress
import uuid
from typing import Any, Final

from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, Source, Status, iso_utc
from cloudwarden.core.severity import Severity
from cloudwarden.findings.asff import FALLBACK_REGION, GLOBAL_REGIONS, UNKNOWN_ACCOUNT, to_asff

SECURITY_HUB_SOURCE: Final = "aws.securityhub"
SECURITY_HUB_DETAIL_TYPE: Final = "Security Hub Findings - Imported"
GUARDDUTY_SOURCE: Final = "aws.guardduty"
GUARDDUTY_DETAIL_TYPE: Final = "GuardDuty Finding"
GUARDDUTY_SCHEMA_VERSION: Final = "2.0"

# GuardDuty's numeric severity: Low 1.0-3.9, Medium 4.0-6.9, High 7.0-8.9; one value inside each band.
GUARDDUTY_SEVERITY: Final[dict[Severity, float]] = {
    Severity.INFORMATIONAL: 1.0,
    Severity.LOW: 2.0,
    Severity.MEDIUM: 5.0,
    Severity.HIGH: 8.0,
    Severity.CRITICAL: 8.9,
}
# ASFF resource type -> (GuardDuty resourceType, the key of its details object).
GUARDDUTY_RESOURCES: Final[dict[str, tuple[str, str]]] = {
    "AwsEc2Instance": ("Instance", "instanceDetails"),
    "AwsS3Bucket": ("S3Bucket", "s3BucketDetails"),
    "AwsEksCluster": ("EKSCluster", "eksClusterDetails"),
    "AwsLambdaFunction": ("Lambda", "lambdaDetails"),
    "AwsRdsDbInstance": ("RDSDBInstance", "rdsDbInstanceDetails"),
    "AwsEcsCluster": ("ECSCluster", "ecsClusterDetails"),
}
_EVENT_NAMESPACE: Final = uuid.UUID("6f1c1d2e-8a59-4c61-9d2e-3c1f0b7a5e42")


def securityhub_event(finding: Finding) -> dict[str, Any]:
    """The ``Security Hub Findings - Imported`` event carrying ``finding`` in ASFF."""
    asff = to_asff(finding)
    return _envelope(
        SECURITY_HUB_SOURCE, SECURITY_HUB_DETAIL_TYPE, finding,
        account=asff["AwsAccountId"], region=asff["Region"], resources=[asff["Id"]], detail={"findings": [asff]},
    )


def guardduty_event(finding: Finding) -> dict[str, Any]:
    """The ``GuardDuty Finding`` event for a detection finding (``BadInputError`` for other sources)."""
    if finding.source is not Source.DETECT:
        raise BadInputError(f"finding {finding.id}", f"only detection findings have a GuardDuty form, not "
                                                     f"{finding.source.value} findings")
    finding = finding.redacted()
    region = _region(finding)
    account = finding.account_id or UNKNOWN_ACCOUNT
    partition = _partition(finding)
    detector = hashlib.sha256(f"{account}/{region}".encode()).hexdigest()[:32]
    finding_id = finding.id[:32]
    detail = {
        "schemaVersion": GUARDDUTY_SCHEMA_VERSION,
        "accountId": account,
        "region": region,
        "partition": partition,
        "id": finding_id,
        "arn": f"arn:{partition}:guardduty:{region}:{account}:detector/{detector}/finding/{finding_id}",
        "type": finding.type,
        "resource": _guardduty_resource(finding),
        "service": {
            "serviceName": "guardduty",
            "detectorId": detector,
            "action": _guardduty_action(finding),
            "resourceRole": "TARGET",
            "additionalInfo": {"value": "{}", "type": "default", "cloudwarden": {
                "rule_id": finding.rule_id, "mitre": list(finding.mitre),
                "event_ids": list(finding.evidence.event_ids)}},
            "evidence": None,
            "eventFirstSeen": iso_utc(finding.first_seen),
            "eventLastSeen": iso_utc(finding.last_seen),
            "archived": finding.status in (Status.ARCHIVED, Status.SUPPRESSED),
            "count": finding.count,
        },
        "severity": GUARDDUTY_SEVERITY[finding.severity],
        "createdAt": iso_utc(finding.first_seen),
        "updatedAt": iso_utc(finding.last_seen),
        "title": " ".join(finding.title.split()) or finding.rule_id,
        "description": finding.description.strip() or " ".join(finding.title.split()),
    }
    return _envelope(GUARDDUTY_SOURCE, GUARDDUTY_DETAIL_TYPE, finding, account=account, region=region,
                     resources=[], detail=detail)


def events_for(finding: Finding) -> list[dict[str, Any]]:
    """Every event AWS would emit for ``finding``: Security Hub's, and GuardDuty's too for a detection."""
    events = [securityhub_event(finding)]
    if finding.source is Source.DETECT:
        events.append(guardduty_event(finding))
    return events


def _envelope(source: str, detail_type: str, finding: Finding, *, account: str, region: str,
              resources: list[str], detail: dict[str, Any]) -> dict[str, Any]:
    key = f"{source}/{finding.id}/{iso_utc(finding.last_seen)}/{finding.status.value}/{finding.severity.value}"
    return {
        "version": "0",
        "id": str(uuid.uuid5(_EVENT_NAMESPACE, key)),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": iso_utc(finding.last_seen),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def _region(finding: Finding) -> str:
    return FALLBACK_REGION if finding.region in GLOBAL_REGIONS else finding.region


def _partition(finding: Finding) -> str:
    for text in (finding.resource.id, finding.principal or ""):
        if text.startswith("arn:"):
            try:
                return Arn.parse(text).partition
            except BadInputError:
                continue
    return "aws"


def _principal_parts(principal: str | None) -> tuple[str, str] | None:
    """``(userType, userName)`` of a principal ARN, GuardDuty's way (an assumed role reports the role's name)."""
    if not principal or not principal.startswith("arn:"):
        return None
    try:
        resource = Arn.parse(principal).resource
    except BadInputError:
        return None
    if resource == "root":
        return "Root", "Root"
    kind, _, rest = resource.partition("/")
    name = rest.split("/")[0] if kind == "assumed-role" else rest.rsplit("/", 1)[-1]
    user_type = {"user": "IAMUser", "assumed-role": "AssumedRole", "role": "Role"}.get(kind, "Unknown")
    return user_type, name or resource


def _access_key_details(finding: Finding) -> dict[str, str] | None:
    parts = _principal_parts(finding.principal)
    if parts is None:
        return None
    details = finding.evidence.details
    found = details.get("userIdentity")
    identity: dict[str, Any] = found if isinstance(found, dict) else {}
    key_id = details.get("accessKeyId") or identity.get("accessKeyId") or ""
    principal_id = details.get("principalId") or identity.get("principalId") or ""
    return {"accessKeyId": str(key_id), "principalId": str(principal_id), "userName": parts[1],
            "userType": parts[0]}


def _guardduty_resource(finding: Finding) -> dict[str, Any]:
    resource: dict[str, Any] = {}
    known = GUARDDUTY_RESOURCES.get(finding.resource.type)
    arn = finding.resource.id
    name = arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1] if arn else ""
    if known is not None:
        resource_type, key = known
        resource["resourceType"] = resource_type
        if resource_type == "Instance":
            resource[key] = {"instanceId": name}
        elif resource_type == "S3Bucket":
            resource[key] = [{"arn": arn, "name": name, "type": "Destination"}]
        else:
            resource[key] = {"arn": arn, "name": name}
    access_key = _access_key_details(finding)
    if access_key is not None:
        resource["accessKeyDetails"] = access_key
        resource.setdefault("resourceType", "AccessKey")
    resource.setdefault("resourceType", finding.resource.type.removeprefix("Aws") or "Other")
    return resource


def _guardduty_action(finding: Finding) -> dict[str, Any]:
    details = finding.evidence.details
    call: dict[str, Any] = {}
    api = details.get("eventName")
    if isinstance(api, str) and api:
        call["api"] = api
    service = details.get("eventSource")
    if isinstance(service, str) and service:
        call["serviceName"] = service
    address = details.get("sourceIPAddress")
    if isinstance(address, str) and address:
        if _is_ip(address):
            call["callerType"] = "Remote IP"
            key = "ipAddressV6" if ":" in address else "ipAddressV4"
            call["remoteIpDetails"] = {key: address}
        else:
            call["callerType"] = "AWS Service" if address.endswith(".amazonaws.com") else "Domain"
            call["domainDetails"] = {"domain": address}
    user_agent = details.get("userAgent")
    if isinstance(user_agent, str) and user_agent:
        call["userAgent"] = user_agent
    error = details.get("errorCode")
    if isinstance(error, str) and error:
        call["errorCode"] = error
    return {"actionType": "AWS_API_CALL", "awsApiCallAction": call}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
