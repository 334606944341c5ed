"""ASFF output validated against botocore's securityhub ``AwsSecurityFinding`` shape and the documented rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.finding import Finding
from cloudwarden.findings import asff
from tests.findings import samples, schemas

# Security Hub's "Required top-level ASFF attributes" page (Severity and Types are required on import too).
DOC_REQUIRED = ("AwsAccountId", "CreatedAt", "Description", "GeneratorId", "Id", "ProductArn", "Resources",
                "SchemaVersion", "Severity", "Title", "Types", "UpdatedAt")
NAMESPACES = ("Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors",
              "Sensitive Data Identifications")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("asff") / "findings.asff.json"
    asff.write(samples.all_kinds(), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_every_object_is_valid_against_botocore_shape(written: list[dict[str, Any]]) -> None:
    assert len(written) == len(samples.all_kinds())
    for obj in written:
        assert schemas.asff_errors(obj) == [], obj["Id"]


def test_validator_rejects_what_security_hub_rejects(written: list[dict[str, Any]]) -> None:
    bad = json.loads(json.dumps(written[0]))
    del bad["Resources"]
    bad["Severity"]["Label"] = "SEVERE"
    bad["Unknown"] = 1
    bad["Compliance"]["Status"] = "OK"
    errors = "\n".join(schemas.asff_errors(bad))
    for needle in ("Resources", "SEVERE", "Unknown", "'OK'"):
        assert needle in errors


def test_documented_required_fields(written: list[dict[str, Any]]) -> None:
    for obj in written:
        for key in DOC_REQUIRED:
            assert obj.get(key), (obj["Id"], key)
        assert obj["SchemaVersion"] == "2018-10-08"
        account = obj["AwsAccountId"]
        assert obj["ProductArn"] == f"arn:aws:securityhub:{obj['Region']}:{account}:product/{account}/default"
        for resource in obj["Resources"]:
            assert {"Type", "Id", "Partition", "Region"} <= resource.keys()
        for kind in obj["Types"]:
            assert kind.split("/")[0] in NAMESPACES and len(kind.split("/")) >= 2
        assert obj["Remediation"]["Recommendation"]["Text"]
        assert obj["Workflow"]["Status"] in ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")
        assert obj["RecordState"] in ("ACTIVE", "ARCHIVED")
        assert obj["FindingProviderFields"]["Severity"]["Label"] == obj["Severity"]["Label"]


def test_posture_findings_carry_compliance(written: list[dict[str, Any]]) -> None:
    failed, passed, not_available, suppressed = written[:4]
    assert failed["Compliance"] == {
        "Status": "FAILED",
        "SecurityControlId": "S3.8",
        "RelatedRequirements": ["CIS AWS Foundations Benchmark v3.0.0/2.1.4",
                                "AWS Foundational Security Best Practices/S3.8"],
        "AssociatedStandards": [{"StandardsId": "standards/cis-aws-foundations-benchmark/v/3.0.0"},
                                {"StandardsId": "standards/aws-foundational-security-best-practices/v/1.0.0"}],
    }
    assert failed["Types"][0] == "Software and Configuration Checks/AWS Security Best Practices"
    assert passed["Compliance"]["Status"] == "PASSED" and passed["Workflow"]["Status"] == "RESOLVED"
    assert not_available["Compliance"]["Status"] == "NOT_AVAILABLE"
    assert suppressed["Workflow"]["Status"] == "SUPPRESSED"
    assert all("Compliance" not in obj for obj in written[4:])


def test_detection_types_follow_threat_purpose(written: list[dict[str, Any]]) -> None:
    by_rule = {obj["ProductFields"]["cloudwarden/rule_id"]: obj for obj in written}
    assert by_rule["cloudtrail-logging-stopped"]["Types"] == [
        "TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled"]
    assert by_rule["crypto-mining-gpu"]["Types"] == [
        "Effects/Resource Consumption/CryptoCurrency:EC2-BitcoinTool.B!DNS"]
    assert by_rule["console-login-anomaly"]["Types"] == ["Unusual Behaviors/User/Behavior:IAMUser-AnomalousBehavior"]
    assert by_rule["iam.escalation-path"]["Types"] == ["TTPs/Privilege Escalation/PrivilegeEscalation:IAMUser-PassRole"]
    assert by_rule["crypto-mining-gpu"]["RecordState"] == "ARCHIVED"


def test_principal_becomes_actor_resource_and_times_are_kept(written: list[dict[str, Any]]) -> None:
    obj = next(o for o in written if o["ProductFields"]["cloudwarden/rule_id"] == "cloudtrail-logging-stopped")
    assert obj["Resources"][1] == {"Type": "AwsIamUser", "Id": f"arn:aws:iam::{samples.PROD}:user/mallory",
                                   "Partition": "aws", "Region": "us-east-1", "ResourceRole": "Actor"}
    assert obj["CreatedAt"] == "2025-03-01T12:00:00Z" and obj["UpdatedAt"] == "2025-03-01T17:00:00Z"
    assert obj["ProductFields"]["cloudwarden/mitre"] == "T1562.008,T1078"
    assert obj["ProductFields"]["cloudwarden/count"] == "3"
    assert "\n" not in obj["Title"]


def test_limits_global_region_and_missing_account(written: list[dict[str, Any]]) -> None:
    by_rule = {obj["ProductFields"]["cloudwarden/rule_id"]: obj for obj in written}
    assert len(by_rule["console-login-anomaly"]["Description"]) == asff.MAX_DESCRIPTION
    root = by_rule["iam.root-mfa"]
    assert root["Region"] == "us-east-1" and root["Resources"][0]["Region"] == "us-east-1"
    local = by_rule["iam.policy-wildcard-action"]
    assert local["AwsAccountId"] == asff.UNKNOWN_ACCOUNT
    assert local["ProductFields"]["cloudwarden/account"] == "unknown"


def test_partition_comes_from_the_resource_arn() -> None:
    base = samples.posture_failed()
    china = base.model_copy(update={"resource": base.resource.model_copy(update={"id": "arn:aws-cn:s3:::b"})})
    obj = asff.to_asff(china)
    assert obj["Resources"][0]["Partition"] == "aws-cn"
    assert obj["ProductArn"].startswith("arn:aws-cn:securityhub:")
    assert schemas.asff_errors(obj) == []


def test_empty_input_writes_an_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "out" / "findings.asff.json"
    asff.write([], path)
    assert json.loads(path.read_text()) == []


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "findings.asff.json"
    findings: list[Finding] = samples.all_kinds()
    asff.write(findings, path)
    text = path.read_text()
    assert samples.SECRET not in text and "hunter2" not in text
