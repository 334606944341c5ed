"""The routing rules file: what it accepts, and errors that name the file, the line and the field."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from cloudwarden.core.errors import EXIT_BAD_INPUT, BadInputError
from cloudwarden.route import PatternError, parse_pattern, pattern_matches
from cloudwarden.route.rules import (
    PlaybookTarget,
    RulesFileError,
    Throttle,
    load_rules,
    parse_duration,
    parse_rules,
    rules_from_mapping,
)

GOOD = """\
# routing
rules:
  - name: high-to-soc
    description: HIGH and CRITICAL to the SOC
    pattern:
      source: [aws.securityhub]
      detail:
        findings:
          Severity:
            Label: [HIGH, CRITICAL]
    targets:
      - soc-webhook
      - playbook: compromised-iam-credentials
    dedupe_window: 1h30m
    throttle: {max: 5, per: 10m}

  - name: all-to-slack
    pattern: '{"source": [{"prefix": "aws."}]}'
    targets: secops-slack
    throttle: 20
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(text: str, **kwargs: object) -> RulesFileError:
    with pytest.raises(RulesFileError) as caught:
        parse_rules(text, source="rules.yaml", **kwargs)  # type: ignore[arg-type]
    return caught.value


def test_a_valid_file_gives_rules_in_file_order(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, GOOD), targets=["soc-webhook", "secops-slack"])
    first, second = ruleset.rules
    assert [r.name for r in ruleset] == ["high-to-soc", "all-to-slack"]
    assert first.targets == ("soc-webhook", PlaybookTarget("compromised-iam-credentials", execute=False))
    assert first.notify_targets == ("soc-webhook",)
    assert first.playbook_targets == (PlaybookTarget("compromised-iam-credentials"),)
    assert first.dedupe_window == timedelta(hours=1, minutes=30)
    assert first.throttle == Throttle(5, timedelta(minutes=10))
    assert first.description == "HIGH and CRITICAL to the SOC"
    assert (first.line, second.line) == (3, 17)
    # a bare number is messages per hour; no window means none
    assert second.throttle == Throttle(20, timedelta(hours=1))
    assert second.dedupe_window == timedelta(0)
    assert second.targets == ("secops-slack",)
    assert ruleset.notify_target_names() == ["soc-webhook", "secops-slack"]


def test_patterns_are_compiled_with_eventbridge_semantics() -> None:
    ruleset = parse_rules(GOOD, check_playbooks=False)
    event = {"source": "aws.securityhub", "detail": {"findings": [{"Severity": {"Label": "CRITICAL"}}]}}
    low = {"source": "aws.securityhub", "detail": {"findings": [{"Severity": {"Label": "LOW"}}]}}
    high_rule, prefix_rule = ruleset.rules
    assert pattern_matches(high_rule.pattern, event) and not pattern_matches(high_rule.pattern, low)
    assert pattern_matches(prefix_rule.pattern, {"source": "aws.guardduty"})
    assert not pattern_matches(prefix_rule.pattern, {"source": "custom.app"})


def test_a_pattern_error_is_eventbridges_message_at_the_patterns_line() -> None:
    text = "rules:\n  - name: r\n    targets: [t]\n    pattern:\n      source: [{prefix: 7}]\n"
    error = error_for(text)
    with pytest.raises(PatternError) as aws:
        parse_pattern({"source": [{"prefix": 7}]})
    assert isinstance(error.pattern_error, PatternError)
    assert error.why == str(aws.value)
    assert error.why.startswith("Event pattern is not valid. Reason: ")
    assert error.where == "rules.yaml:4: rules[0].pattern"
    assert isinstance(error, BadInputError) and error.exit_code == EXIT_BAD_INPUT


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n", "rules.yaml:2: rules[0].targets", "field required"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets: [t]\n    dedup_window: 1h\n",
         "rules.yaml:5: rules[0].dedup_window", "unknown field 'dedup_window'"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets: [t]\n  - name: r\n    pattern: {a: [b]}\n"
         "    targets: [t]\n", "rules.yaml:5: rules[1].name", "already used by rules[0]"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets: [t]\n    dedupe_window: soon\n",
         "rules.yaml:5: rules[0].dedupe_window", "'soon' is not a duration"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets: [t]\n    throttle: {max: 0}\n",
         "rules.yaml:5: rules[0].throttle.max", "at least 1"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets: [t]\n    throttle: {max: 2, per: 0s}\n",
         "rules.yaml:5: rules[0].throttle.per", "longer than 0s"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets: []\n", "rules.yaml:4: rules[0].targets",
         "non-empty list"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets:\n      - t\n"
         "      - {playbook: p, auto: true}\n",
         "rules.yaml:6: rules[0].targets[1].auto", "unknown field 'auto'"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets:\n      - {playbook: no-such-playbook}\n",
         "rules.yaml:5: rules[0].targets[0].playbook", "no playbook 'no-such-playbook'"),
        ("rules:\n  - name: r\n    pattern: {source: [a]}\n    targets:\n      - {playbook: x, execute: 'yes'}\n",
         "rules.yaml:5: rules[0].targets[0].execute", "true or false"),
        ("rules:\n  - name: has space\n    pattern: {source: [a]}\n    targets: [t]\n", "rules.yaml:2: rules[0].name",
         "a rule name is"),
        ("rules:\n  - name: r\n    pattern: [a]\n    targets: [t]\n", "rules.yaml:3: rules[0].pattern",
         "an event pattern is a mapping"),
        ("rule:\n  - name: r\n", "rules.yaml:1", "unknown key 'rule'"),
        ("", "rules.yaml:", "empty rules file"),
        ("rules:\n  - name: r\n    pattern: {source: [a]\n", "rules.yaml:4", "not valid YAML"),
    ],
)
def test_errors_name_file_line_and_field(text: str, where: str, why: str) -> None:
    error = error_for(text)
    assert str(error).startswith(where), str(error)
    assert why in error.why


def test_targets_are_checked_against_the_targets_file() -> None:
    text = "rules:\n  - name: r\n    pattern: {source: [a]}\n    targets:\n      - soc\n      - slak\n"
    error = error_for(text, targets=["soc", "slack"])
    assert error.where == "rules.yaml:6: rules[0].targets[1]"
    assert error.why == "no notify target named 'slak' (slack, soc)"
    # without a targets list, names are only checked for shape
    assert parse_rules(text).rules[0].targets == ("soc", "slak")


def test_yaml_dates_in_patterns_stay_text() -> None:
    text = "rules:\n  - name: r\n    pattern: {detail: {day: [2025-03-01]}}\n    targets: [t]\n"
    pattern = parse_rules(text).rules[0].pattern
    assert pattern_matches(pattern, {"detail": {"day": "2025-03-01"}})


def test_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(RulesFileError, match="no such file"):
        load_rules(tmp_path / "absent.yaml")


def test_rules_from_python_data() -> None:
    ruleset = rules_from_mapping([{"name": "r", "pattern": {"source": ["x"]}, "targets": ["t"]}])
    assert ruleset.rules[0].name == "r"
    with pytest.raises(RulesFileError, match=r"rules\[0\]\.pattern: Event pattern is not valid"):
        rules_from_mapping({"rules": [{"name": "r", "pattern": {"source": "x"}, "targets": ["t"]}]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
     ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)), (90, timedelta(seconds=90)), ("0s", timedelta(0))],
)
def test_durations(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["", "1w", "h", "-5m", True, -3, "1.5h", None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(BadInputError):
        parse_duration(value)
