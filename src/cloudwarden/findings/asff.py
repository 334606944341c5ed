"""The ``asff`` format: AWS Security Finding Format (``findings.asff.json``), what Security Hub imports.

A JSON array of ``AwsSecurityFinding`` objects, valid against the shape in botocore's ``securityhub``
service model, so ``securityhub.batch_import_findings(Findings=...)`` accepts it as is (100 at a time).
Hand-written because there is no maintained library that builds ASFF; the tests check every object
against botocore's shape, enums and patterns.

``Types`` follow the ASFF taxonomy ``namespace/category/classifier``: posture findings are
``Software and Configuration Checks/...``; detections map the GuardDuty-style threat purpose (the part of
``type`` before the colon) to a TTP, effect or unusual behaviour, with the type itself as classifier.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, Source, Status, iso_utc
from cloudwarden.findings.base import PRODUCT_NAME, PRODUCT_VENDOR, Writer, atomic_text, product_version

SCHEMA_VERSION: Final = "2018-10-08"
# Global services (IAM, Organizations) report from us-east-1 in Security Hub; findings may say "global".
GLOBAL_REGIONS: Final = frozenset({"", "global", "aws-global"})
FALLBACK_REGION: Final = "us-east-1"
# ASFF needs an account; a finding on a local file (a policy checked in CI) has none.
UNKNOWN_ACCOUNT: Final = "000000000000"
PARTITIONS: Final = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-us-iso", "aws-us-iso-b"})

# Length limits Security Hub enforces on import (BatchImportFindings).
MAX_TITLE: Final = 256
MAX_DESCRIPTION: Final = 1024
MAX_RECOMMENDATION: Final = 512
MAX_PRODUCT_FIELD: Final = 2048

BEST_PRACTICES: Final = "Software and Configuration Checks/AWS Security Best Practices"
# GuardDuty threat purpose -> ASFF namespace/category.
THREAT_PURPOSES: Final[dict[str, str]] = {
    "Backdoor": "TTPs/Command and Control",
    "Trojan": "TTPs/Command and Control",
    "CredentialAccess": "TTPs/Credential Access",
    "DefenseEvasion": "TTPs/Defense Evasion",
    "Stealth": "TTPs/Defense Evasion",
    "Discovery": "TTPs/Discovery",
    "Recon": "TTPs/Discovery",
    "PenTest": "TTPs/Discovery",
    "Execution": "TTPs/Execution",
    "InitialAccess": "TTPs/Initial Access",
    "UnauthorizedAccess": "TTPs/Initial Access",
    "Persistence": "TTPs/Persistence",
    "PrivilegeEscalation": "TTPs/Privilege Escalation",
    "LateralMovement": "TTPs/Lateral Movement",
    "Collection": "TTPs/Collection",
    "Exfiltration": "Effects/Data Exfiltration",
    "Impact": "Effects/Data Destruction",
    "CryptoCurrency": "Effects/Resource Consumption",
    "Policy": BEST_PRACTICES,
}
# For "Behavior:<resource>/..." the unusual-behaviour category follows the resource kind.
BEHAVIOR_KINDS: Final[dict[str, str]] = {
    "IAMUser": "User",
    "Root": "User",
    "EC2": "VM",
    "S3": "Data",
    "Lambda": "Serverless",
    "EKS": "Container",
    "ECS": "Container",
    "Runtime": "Process",
    "RDS": "Database",
}
FRAMEWORK_STANDARDS: Final[dict[str, tuple[str, str]]] = {
    # framework key -> (Security Hub StandardsId, requirement prefix)
    "fsbp": ("standards/aws-foundational-security-best-practices/v/1.0.0", "AWS Foundational Security Best Practices"),
    "cis-aws-5.0": ("standards/cis-aws-foundations-benchmark/v/5.0.0", "CIS AWS Foundations Benchmark v5.0.0"),
    "cis-aws-3.0": ("standards/cis-aws-foundations-benchmark/v/3.0.0", "CIS AWS Foundations Benchmark v3.0.0"),
    "cis-aws-1.4": ("standards/cis-aws-foundations-benchmark/v/1.4.0", "CIS AWS Foundations Benchmark v1.4.0"),
    "nist-800-53": ("standards/nist-800-53/v/5.0.0", "NIST.800-53.r5"),
    "pci-dss": ("standards/pci-dss/v/3.2.1", "PCI DSS v3.2.1"),
}
WORKFLOW: Final[dict[Status, str]] = {
    Status.FAILED: "NEW",
    Status.ACTIVE: "NEW",
    Status.NOT_AVAILABLE: "NEW",
    Status.PASSED: "RESOLVED",
    Status.ARCHIVED: "RESOLVED",
    Status.SUPPRESSED: "SUPPRESSED",
}
COMPLIANCE: Final[dict[Status, str]] = {
    Status.FAILED: "FAILED",
    Status.PASSED: "PASSED",
    Status.NOT_AVAILABLE: "NOT_AVAILABLE",
    # a suppressed (muted) posture verdict was a failure someone accepted
    Status.SUPPRESSED: "FAILED",
    Status.ACTIVE: "FAILED",
    Status.ARCHIVED: "PASSED",
}


def asff_types(finding: Finding) -> list[str]:
    """The ASFF ``Types`` of a finding (namespace/category/classifier)."""
    if finding.source is Source.POSTURE:
        types = [BEST_PRACTICES]
        for key in finding.frameworks:
            if key.startswith("cis-"):
                types.append("Software and Configuration Checks/Industry and Regulatory Standards/"
                             "CIS AWS Foundations Benchmark")
                break
        return types
    classifier = finding.type.replace("/", "-").strip()
    purpose, _, rest = finding.type.partition(":")
    category = THREAT_PURPOSES.get(purpose)
    if category is None and purpose == "Behavior":
        kind = rest.split("/", 1)[0]
        category = f"Unusual Behaviors/{BEHAVIOR_KINDS.get(kind, 'Application')}"
    if category is None:
        category = BEST_PRACTICES if finding.source is Source.IAM else "Unusual Behaviors/Application"
    return [f"{category}/{classifier}" if classifier else category]


def to_asff(finding: Finding) -> dict[str, Any]:
    """One finding as an ``AwsSecurityFinding``."""
    finding = finding.redacted()
    region = FALLBACK_REGION if finding.region in GLOBAL_REGIONS else finding.region
    account = finding.account_id or UNKNOWN_ACCOUNT
    partition = _partition(finding.resource.id)
    types = asff_types(finding)
    title = _clip(" ".join(finding.title.split()) or finding.rule_id, MAX_TITLE)
    out: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding.id,
        "ProductArn": f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default",
        "ProductName": PRODUCT_NAME,
        "CompanyName": PRODUCT_VENDOR,
        "Region": region,
        "GeneratorId": f"{PRODUCT_NAME}/{finding.source.value}/{finding.rule_id}",
        "AwsAccountId": account,
        "Types": types,
        "FirstObservedAt": iso_utc(finding.first_seen),
        "LastObservedAt": iso_utc(finding.last_seen),
        "CreatedAt": iso_utc(finding.first_seen),
        "UpdatedAt": iso_utc(finding.last_seen),
        "Severity": {"Label": finding.severity.value, "Original": finding.severity.value},
        "Title": title,
        "Description": _clip(finding.description.strip() or title, MAX_DESCRIPTION),
        "Remediation": {"Recommendation": {"Text": _clip(_recommendation(finding), MAX_RECOMMENDATION)}},
        "ProductFields": _product_fields(finding),
        "Resources": _resources(finding, partition, region),
        "Workflow": {"Status": WORKFLOW[finding.status]},
        "RecordState": "ARCHIVED" if finding.status is Status.ARCHIVED else "ACTIVE",
        "FindingProviderFields": {
            "Severity": {"Label": finding.severity.value, "Original": finding.severity.value},
            "Types": types,
        },
    }
    if finding.source is Source.POSTURE:
        out["Compliance"] = _compliance(finding)
    return out


def write(findings: Sequence[Finding], path: Path) -> None:
    document = [to_asff(finding) for finding in findings]
    with atomic_text(path) as out:
        json.dump(document, out, indent=2, ensure_ascii=False)
        out.write("\n")


WRITER = Writer("asff", "findings.asff.json", write, "AWS Security Finding Format (Security Hub)")


def _partition(resource_id: str) -> str:
    if resource_id.startswith("arn:"):
        try:
            partition = Arn.parse(resource_id).partition
        except BadInputError:
            return "aws"
        if partition in PARTITIONS:
            return partition
    return "aws"


def _resources(finding: Finding, partition: str, region: str) -> list[dict[str, Any]]:
    resources = [{
        "Type": finding.resource.type or "Other",
        "Id": finding.resource.id,
        "Partition": partition,
        "Region": region,
    }]
    principal = finding.principal
    if principal and principal != finding.resource.id and principal != "*":
        resources.append({
            "Type": _principal_type(principal),
            "Id": principal,
            "Partition": _partition(principal),
            "Region": region,
            "ResourceRole": "Actor",
        })
    return resources


def _principal_type(principal: str) -> str:
    if ":user/" in principal:
        return "AwsIamUser"
    if ":role/" in principal or ":assumed-role/" in principal:
        return "AwsIamRole"
    return "Other"


def _compliance(finding: Finding) -> dict[str, Any]:
    compliance: dict[str, Any] = {"Status": COMPLIANCE[finding.status]}
    if finding.control_id:
        compliance["SecurityControlId"] = finding.control_id
    requirements: list[str] = []
    standards: list[dict[str, str]] = []
    for key, ids in sorted(finding.frameworks.items()):
        standard_id, prefix = FRAMEWORK_STANDARDS.get(key, (f"standards/{key}", key))
        standards.append({"StandardsId": standard_id})
        requirements.extend(f"{prefix}/{item}" for item in ids if item.strip())
    if requirements:
        compliance["RelatedRequirements"] = requirements[:32]
    if standards:
        compliance["AssociatedStandards"] = standards
    return compliance


def _recommendation(finding: Finding) -> str:
    text = finding.remediation.strip()
    if text:
        return text
    return f"Review {finding.resource.id} against rule {finding.rule_id} and fix or suppress the finding."


def _product_fields(finding: Finding) -> dict[str, str]:
    fields = {
        "ProviderName": PRODUCT_NAME,
        "ProviderVersion": product_version(),
        "cloudwarden/source": finding.source.value,
        "cloudwarden/rule_id": finding.rule_id,
        "cloudwarden/type": finding.type,
        "cloudwarden/status": finding.status.value,
        "cloudwarden/count": str(finding.count),
    }
    if finding.control_id:
        fields["cloudwarden/control_id"] = finding.control_id
    if finding.mitre:
        fields["cloudwarden/mitre"] = ",".join(finding.mitre)
    if finding.evidence.event_ids:
        fields["cloudwarden/event_ids"] = ",".join(finding.evidence.event_ids)
    if not finding.account_id:
        fields["cloudwarden/account"] = "unknown"
    return {key: _clip(value, MAX_PRODUCT_FIELD) for key, value in fields.items() if value.strip()}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
