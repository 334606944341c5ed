"""SARIF output validated against the OASIS SARIF 2.1.0 JSON Schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudwarden.findings import sarif
from tests.findings import samples, schemas


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("sarif") / "findings.sarif"
    sarif.write(samples.all_kinds(), path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_valid_against_the_sarif_schema(log: dict[str, Any]) -> None:
    assert schemas.sarif_errors(log) == []


def test_validator_has_teeth(log: dict[str, Any]) -> None:
    bad = json.loads(json.dumps(log))
    bad["runs"][0]["results"][0]["level"] = "fatal"
    del bad["runs"][0]["tool"]["driver"]["name"]
    errors = "\n".join(schemas.sarif_errors(bad))
    assert "fatal" in errors and "name" in errors


def test_one_run_with_rules_from_rule_ids(log: dict[str, Any]) -> None:
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "cloudwarden"
    findings = samples.all_kinds()
    assert [rule["id"] for rule in driver["rules"]] == list(dict.fromkeys(f.rule_id for f in findings))
    assert len(run["results"]) == len(findings)
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_levels_from_severity_and_status(log: dict[str, Any]) -> None:
    results = log["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["s3.bucket-public-read"]["level"] == "error"  # CRITICAL
    assert by_rule["kms.cmk-rotation-enabled"]["level"] == "none"  # PASSED
    assert by_rule["kms.cmk-rotation-enabled"]["kind"] == "pass"
    assert by_rule["iam.policy-wildcard-action"]["level"] == "warning"  # MEDIUM
    assert by_rule["console-login-anomaly"]["level"] == "note"  # LOW
    assert by_rule["iam.root-mfa"]["suppressions"] == [{"kind": "external", "status": "accepted"}]
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["s3.bucket-public-read"]["properties"]["security-severity"] == "9.5"


def test_logical_and_physical_locations(log: dict[str, Any]) -> None:
    by_rule = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    bucket = by_rule["s3.bucket-public-read"]["locations"][0]
    assert bucket == {"logicalLocations": [{"fullyQualifiedName": "arn:aws:s3:::prod-customer-data",
                                            "kind": "resource"}]}
    policy = by_rule["iam.policy-wildcard-action"]["locations"][0]["physicalLocation"]
    assert policy == {"artifactLocation": {"uri": "policies/deploy%20role.json"},
                      "region": {"startLine": 7, "startColumn": 5}}
    absolute = by_rule["iam.escalation-path"]["locations"][0]["physicalLocation"]
    # a string line number is accepted; an end line before the start is dropped rather than written wrong
    assert absolute == {"artifactLocation": {"uri": "file:///abs/path/policy.json"}, "region": {"startLine": 3}}


def test_fingerprint_is_the_stable_finding_id(log: dict[str, Any]) -> None:
    ids = [f.id for f in samples.all_kinds()]
    prints = [r["partialFingerprints"][sarif.FINGERPRINT_KEY] for r in log["runs"][0]["results"]]
    assert prints == ids


def test_empty_log_is_valid() -> None:
    assert schemas.sarif_errors(sarif.to_sarif([])) == []
