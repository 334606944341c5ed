"""The ``sarif`` format: SARIF 2.1.0 (``findings.sarif``), what CI/CD code-scanning services read.

One run whose tool driver is ``cloudwarden``, with one rule per finding rule id. A result points at the
resource ARN as a logical location; when ``evidence.details`` carries ``file`` (and ``line``, ``column``,
``end_line``), as findings on policy files checked in CI do, it also gets a physical location so the
code-scanning UI can annotate the line. Hand-written: the Python SARIF object models are unmaintained
and add nothing over plain dictionaries; the tests validate against the OASIS SARIF 2.1.0 JSON Schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import quote

from cloudwarden.core.finding import Finding, Status
from cloudwarden.core.severity import Severity
from cloudwarden.findings.base import PRODUCT_NAME, Writer, atomic_text, product_version

SARIF_VERSION: Final = "2.1.0"
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI: Final = "https://github.com/cloudwarden/cloudwarden"
LEVELS: Final[dict[Severity, str]] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFORMATIONAL: "note",
}
# GitHub code scanning ranks security results by this property (a number as a string, 0.0-10.0).
SECURITY_SEVERITY: Final[dict[Severity, str]] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFORMATIONAL: "0.0",
}
FINGERPRINT_KEY: Final = "cloudwardenFindingId/v1"


def to_sarif(findings: Sequence[Finding]) -> dict[str, Any]:
    """The whole SARIF log for ``findings``."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for raw in findings:
        finding = raw.redacted()
        if finding.rule_id not in rule_index:
            rule_index[finding.rule_id] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, rule_index[finding.rule_id]))
    driver: dict[str, Any] = {
        "name": PRODUCT_NAME,
        "version": product_version(),
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{"tool": {"driver": driver}, "results": results, "columnKind": "unicodeCodePoints"}],
    }


def write(findings: Sequence[Finding], path: Path) -> None:
    document = to_sarif(findings)
    with atomic_text(path) as out:
        json.dump(document, out, indent=2, ensure_ascii=False)
        out.write("\n")


WRITER = Writer("sarif", "findings.sarif", write, "SARIF 2.1.0 (CI/CD code scanning)")


def level(finding: Finding) -> str:
    """SARIF ``level``: ``none`` for a passed check, else from severity."""
    if finding.status is Status.PASSED:
        return "none"
    return LEVELS[finding.severity]


def _rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "name": _rule_name(finding.rule_id),
        "shortDescription": {"text": finding.title or finding.rule_id},
        "defaultConfiguration": {"level": LEVELS[finding.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "tags": sorted({"security", finding.source.value, *finding.mitre}),
        },
    }
    if finding.description.strip():
        rule["fullDescription"] = {"text": finding.description}
    if finding.remediation.strip():
        rule["help"] = {"text": finding.remediation}
    if finding.control_id:
        rule["properties"]["control_id"] = finding.control_id
    return rule


def _rule_name(rule_id: str) -> str:
    """A PascalCase name from the id (``s3.bucket-public-read`` -> ``S3BucketPublicRead``)."""
    parts = [p for p in "".join(c if c.isalnum() else " " for c in rule_id).split() if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or "Rule"


def _result(finding: Finding, index: int) -> dict[str, Any]:
    text = finding.title
    if finding.resource.id not in text:
        text = f"{text} ({finding.resource.id})"
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": index,
        "kind": "pass" if finding.status is Status.PASSED else "fail",
        "level": level(finding),
        "message": {"text": text},
        "locations": [_location(finding)],
        "partialFingerprints": {FINGERPRINT_KEY: finding.id},
        "properties": {
            "id": finding.id,
            "source": finding.source.value,
            "type": finding.type,
            "severity": finding.severity.value,
            "status": finding.status.value,
            "account_id": finding.account_id,
            "region": finding.region,
            "resource_type": finding.resource.type,
            "count": finding.count,
        },
    }
    if finding.status in (Status.SUPPRESSED, Status.ARCHIVED):
        result["suppressions"] = [{"kind": "external", "status": "accepted"}]
    if finding.principal:
        result["properties"]["principal"] = finding.principal
    if finding.frameworks:
        result["properties"]["frameworks"] = finding.frameworks
    return result


def _location(finding: Finding) -> dict[str, Any]:
    location: dict[str, Any] = {
        "logicalLocations": [{"fullyQualifiedName": finding.resource.id, "kind": "resource"}],
    }
    physical = _physical(finding.evidence.details)
    if physical:
        location["physicalLocation"] = physical
    return location


def _physical(details: dict[str, Any]) -> dict[str, Any] | None:
    file = details.get("file")
    if not isinstance(file, str) or not file.strip():
        return None
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(file)}}
    region: dict[str, int] = {}
    for key, sarif_key in (("line", "startLine"), ("column", "startColumn"), ("end_line", "endLine"),
                           ("end_column", "endColumn")):
        value = _positive_int(details.get(key))
        if value is not None:
            region[sarif_key] = value
    if "startLine" in region:
        if region.get("endLine", region["startLine"]) < region["startLine"]:
            del region["endLine"]
        physical["region"] = region
    return physical


def _uri(file: str) -> str:
    path = Path(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(str(PurePosixPath(*path.parts)))


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 1 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
        return number if number >= 1 else None
    return None
