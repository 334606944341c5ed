"""The ``ocsf`` format: OCSF 1.6 events (``findings.ocsf.json``), what Security Hub and Security Lake speak.

Posture findings become Compliance Findings (class 2003) with a ``compliance`` object; everything else
(detections, IAM analysis, response) becomes Detection Findings (class 2004). Every event carries the
``cloud`` profile (provider AWS, account, region). Hand-written because the OCSF Python libraries either
only generate schemas or pin one old schema version; the tests validate each event against the JSON
Schema that ``ocsf-json-schema`` generates from the bundled OCSF 1.6.0 schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.findings.base import PRODUCT_NAME, PRODUCT_VENDOR, Writer, atomic_text, product_version

OCSF_VERSION: Final = "1.6.0"
CATEGORY_FINDINGS: Final = 2
COMPLIANCE_FINDING: Final = 2003
DETECTION_FINDING: Final = 2004

ACTIVITY_CREATE, ACTIVITY_UPDATE, ACTIVITY_CLOSE = 1, 2, 3
ACTIVITY_NAMES: Final = {ACTIVITY_CREATE: "Create", ACTIVITY_UPDATE: "Update", ACTIVITY_CLOSE: "Close"}
SEVERITY_IDS: Final[dict[Severity, tuple[int, str]]] = {
    Severity.INFORMATIONAL: (1, "Informational"),
    Severity.LOW: (2, "Low"),
    Severity.MEDIUM: (3, "Medium"),
    Severity.HIGH: (4, "High"),
    Severity.CRITICAL: (5, "Critical"),
}
# finding status_id: 1 New, 3 Suppressed, 4 Resolved, 5 Archived
STATUS_IDS: Final[dict[Status, tuple[int, str]]] = {
    Status.FAILED: (1, "New"),
    Status.ACTIVE: (1, "New"),
    Status.NOT_AVAILABLE: (1, "New"),
    Status.PASSED: (4, "Resolved"),
    Status.SUPPRESSED: (3, "Suppressed"),
    Status.ARCHIVED: (5, "Archived"),
}
# compliance.status_id: 1 Pass, 2 Warning (no result: missing information), 3 Fail
COMPLIANCE_IDS: Final[dict[Status, tuple[int, str]]] = {
    Status.PASSED: (1, "Pass"),
    Status.NOT_AVAILABLE: (2, "Warning"),
    Status.FAILED: (3, "Fail"),
    Status.SUPPRESSED: (3, "Fail"),
    Status.ACTIVE: (3, "Fail"),
    Status.ARCHIVED: (1, "Pass"),
}
STANDARD_NAMES: Final[dict[str, str]] = {
    "fsbp": "AWS Foundational Security Best Practices v1.0.0",
    "cis-aws-5.0": "CIS AWS Foundations Benchmark v5.0.0",
    "cis-aws-3.0": "CIS AWS Foundations Benchmark v3.0.0",
    "cis-aws-1.4": "CIS AWS Foundations Benchmark v1.4.0",
    "nist-800-53": "NIST SP 800-53 Rev. 5",
    "pci-dss": "PCI DSS v3.2.1",
}
ANALYTIC_RULE: Final = 1
ACCOUNT_AWS: Final = 10


def class_uid(finding: Finding) -> int:
    return COMPLIANCE_FINDING if finding.source is Source.POSTURE else DETECTION_FINDING


def to_ocsf(finding: Finding) -> dict[str, Any]:
    """One finding as an OCSF 1.6 Compliance Finding (posture) or Detection Finding (the rest)."""
    finding = finding.redacted()
    uid = class_uid(finding)
    activity = _activity(finding)
    severity_id, severity = SEVERITY_IDS[finding.severity]
    status_id, status = STATUS_IDS[finding.status]
    event: dict[str, Any] = {
        "activity_id": activity,
        "activity_name": ACTIVITY_NAMES[activity],
        "category_uid": CATEGORY_FINDINGS,
        "category_name": "Findings",
        "class_uid": uid,
        "class_name": "Compliance Finding" if uid == COMPLIANCE_FINDING else "Detection Finding",
        "type_uid": uid * 100 + activity,
        "type_name": f"{'Compliance' if uid == COMPLIANCE_FINDING else 'Detection'} Finding: "
        f"{ACTIVITY_NAMES[activity]}",
        "time": _ms(finding.last_seen),
        "start_time": _ms(finding.first_seen),
        "end_time": _ms(finding.last_seen),
        "count": finding.count,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "message": finding.title,
        "metadata": {
            "version": OCSF_VERSION,
            "uid": finding.id,
            "profiles": ["cloud"],
            "product": {"name": PRODUCT_NAME, "vendor_name": PRODUCT_VENDOR, "version": product_version()},
        },
        "finding_info": _finding_info(finding),
        "cloud": _cloud(finding),
        "resources": [_resource(finding)],
        "unmapped": _unmapped(finding),
    }
    if finding.remediation.strip():
        event["remediation"] = {"desc": finding.remediation}
    if uid == COMPLIANCE_FINDING:
        event["compliance"] = _compliance(finding)
    else:
        evidence = _evidence(finding)
        if evidence:
            event["evidences"] = [evidence]
    return event


def write(findings: Sequence[Finding], path: Path) -> None:
    document = [to_ocsf(finding) for finding in findings]
    with atomic_text(path) as out:
        json.dump(document, out, indent=2, ensure_ascii=False)
        out.write("\n")


WRITER = Writer("ocsf", "findings.ocsf.json", write, "OCSF 1.6 Detection (2004) / Compliance (2003) Findings")


def attacks(technique_ids: Sequence[str]) -> list[dict[str, Any]]:
    """MITRE ATT&CK ids (``T1562`` or ``T1562.008``) as OCSF ``attack`` objects."""
    out: list[dict[str, Any]] = []
    for raw in technique_ids:
        tid = raw.strip().upper()
        if not tid:
            continue
        parent, _, sub = tid.partition(".")
        attack: dict[str, Any] = {"technique": {"uid": parent}}
        if sub:
            attack["sub_technique"] = {"uid": tid}
        out.append(attack)
    return out


def _activity(finding: Finding) -> int:
    if finding.status is Status.ARCHIVED:
        return ACTIVITY_CLOSE
    if finding.count > 1 or finding.last_seen > finding.first_seen:
        return ACTIVITY_UPDATE
    return ACTIVITY_CREATE


def _finding_info(finding: Finding) -> dict[str, Any]:
    info: dict[str, Any] = {
        "uid": finding.id,
        "title": finding.title,
        "types": [t for t in (finding.type, finding.control_id) if t],
        "first_seen_time": _ms(finding.first_seen),
        "last_seen_time": _ms(finding.last_seen),
        "created_time": _ms(finding.first_seen),
        "modified_time": _ms(finding.last_seen),
        "analytic": {"uid": finding.rule_id, "name": finding.rule_id, "type_id": ANALYTIC_RULE, "type": "Rule"},
    }
    if finding.description.strip():
        info["desc"] = finding.description
    if finding.mitre:
        info["attacks"] = attacks(finding.mitre)
    return info


def _cloud(finding: Finding) -> dict[str, Any]:
    cloud: dict[str, Any] = {"provider": "AWS"}
    if finding.account_id:
        cloud["account"] = {"uid": finding.account_id, "type_id": ACCOUNT_AWS, "type": "AWS Account"}
    if finding.region:
        cloud["region"] = finding.region
    return cloud


def _resource(finding: Finding) -> dict[str, Any]:
    resource: dict[str, Any] = {"uid": finding.resource.id, "type": finding.resource.type}
    name = _arn_name(finding.resource.id)
    if name:
        resource["name"] = name
    return resource


def _arn_name(text: str) -> str:
    if not text.startswith("arn:"):
        return ""
    try:
        return Arn.parse(text).resource_name
    except BadInputError:
        return ""


def _compliance(finding: Finding) -> dict[str, Any]:
    status_id, status = COMPLIANCE_IDS[finding.status]
    standards = [STANDARD_NAMES.get(key, key) for key in sorted(finding.frameworks)]
    requirements = [
        f"{STANDARD_NAMES.get(key, key)} {item}"
        for key, ids in sorted(finding.frameworks.items())
        for item in ids
    ]
    compliance: dict[str, Any] = {
        "standards": standards or [PRODUCT_NAME],
        "status_id": status_id,
        "status": status,
    }
    if finding.control_id:
        compliance["control"] = finding.control_id
    if requirements:
        compliance["requirements"] = requirements
    return compliance


def _evidence(finding: Finding) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    if finding.principal and finding.principal != "*":
        user: dict[str, Any] = {"uid": finding.principal}
        name = _arn_name(finding.principal)
        if name:
            user["name"] = name
        evidence["actor"] = {"user": user}
    data: dict[str, Any] = {}
    if finding.evidence.event_ids:
        data["event_ids"] = list(finding.evidence.event_ids)
    if finding.evidence.details:
        data["details"] = finding.evidence.details
    if data:
        evidence["data"] = data
    return evidence


def _unmapped(finding: Finding) -> dict[str, Any]:
    unmapped: dict[str, Any] = {"source": finding.source.value, "rule_id": finding.rule_id}
    if finding.frameworks:
        unmapped["frameworks"] = finding.frameworks
    return {PRODUCT_NAME: unmapped}


def _ms(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
