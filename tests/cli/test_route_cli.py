"""`cloudwarden route test --pattern FILE --event FILE`: match / no match, and EventBridge's errors as bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cloudwarden.cli.route import app
from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError

Run = Callable[..., Result]
EVENT = {"version": "0", "id": "1", "source": "aws.guardduty", "detail-type": "GuardDuty Finding",
         "account": "222222222222", "region": "us-east-1", "time": "2025-03-01T12:00:00Z", "resources": [],
         "detail": {"severity": 8, "type": "Stealth:IAMUser/CloudTrailLoggingDisabled"}}


@pytest.fixture
def run() -> Run:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, ["test", *args])

    return invoke


def write(tmp_path: Path, name: str, content: object) -> str:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return str(path)


def test_match_and_no_match(run: Run, tmp_path: Path) -> None:
    event = write(tmp_path, "event.json", EVENT)
    high = write(tmp_path, "high.json", {"source": ["aws.guardduty"], "detail": {"severity": [{"numeric": [">=", 7]}]}})
    low = write(tmp_path, "low.json", {"source": ["aws.guardduty"], "detail": {"severity": [{"numeric": ["<", 4]}]}})
    matched = run("--pattern", high, "--event", event)
    assert matched.exit_code == 0 and matched.output == "match\n"
    missed = run("--pattern", low, "--event", event)
    assert missed.exit_code == 0 and missed.output == "no match\n"


def test_pattern_error_names_the_file_with_eventbridges_message(run: Run, tmp_path: Path) -> None:
    event = write(tmp_path, "event.json", EVENT)
    bad = write(tmp_path, "bad.json", {"detail": {"severity": [{"numeric": [">", 0, ">", 0]}]}})
    result = run("--pattern", bad, "--event", event)
    assert isinstance(result.exception, BadInputError)
    assert result.exception.exit_code == EXIT_BAD_INPUT and result.exception.where == bad
    assert result.exception.why == "Event pattern is not valid. Reason: Bad numeric range operator: >"
    assert result.output == ""


def test_duplicate_keys_are_read_as_eventbridge_reads_them(run: Run, tmp_path: Path) -> None:
    event = write(tmp_path, "event.json", {"detail": {"location": "eu-central-1"}})
    pattern = write(tmp_path, "pattern.json",
                    '{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}')
    assert run("--pattern", pattern, "--event", event).output == "match\n"


@pytest.mark.parametrize(("content", "why"), [
    ("[1, 2]", "Parameter Event is not valid."),
    ('{"source": ', "not valid JSON"),
])
def test_bad_event_is_bad_input(run: Run, tmp_path: Path, content: str, why: str) -> None:
    pattern = write(tmp_path, "pattern.json", {"source": ["x"]})
    event = write(tmp_path, "event.json", content)
    result = run("--pattern", pattern, "--event", event)
    assert isinstance(result.exception, BadInputError) and why in result.exception.why
    assert event in result.exception.where


def test_missing_file_is_bad_input(run: Run, tmp_path: Path) -> None:
    pattern = write(tmp_path, "pattern.json", {"source": ["x"]})
    result = run("--pattern", pattern, "--event", str(tmp_path / "absent.json"))
    assert isinstance(result.exception, BadInputError) and result.exception.where.endswith("absent.json")


def test_route_without_a_command_shows_help() -> None:
    result = CliRunner().invoke(app, [])
    assert "test" in result.output
