"""The AWS-validated EventBridge pattern cases (shared/data/eventbridge-patterns), read in place.

The file name says what EventBridge's TestEventPattern answered: no suffix = match, ``_NEG`` = no match, ``_EXC`` =
the pattern is rejected, with the message recorded in ``aws-validated-errors.snapshot.json``. Each case runs through
the compiled machine (``EventMatcher``), from the decoded event and from its JSON text.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import json5
import pytest

from cloudwarden.route import EventMatcher, PatternError, parse_pattern, pattern_matches
from tests.conftest import SHARED, shared_path

FOLDER = ("data", "eventbridge-patterns")
_LISTED = SHARED.joinpath(*FOLDER)
CASES = sorted(path.name for path in _LISTED.glob("*.json5")) if _LISTED.is_dir() else []


@cache
def aws_errors() -> dict[str, str]:
    """Case name -> the ``Message`` AWS returned for it."""
    snapshot = json.loads(shared_path(*FOLDER, "aws-validated-errors.snapshot.json").read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for test_id, record in snapshot.items():
        found = re.search(r"test_event_pattern\[(.+)\]$", test_id)
        for name, content in record["recorded-content"].items():
            if found and isinstance(content, dict) and "exception_message" in content:
                out[name] = content["exception_message"]["Error"]["Message"]
    return out


def load(name: str) -> dict[str, Any]:
    case: dict[str, Any] = json5.loads(shared_path(*FOLDER, name).read_text(encoding="utf-8"))
    return case


def test_the_corpus_is_all_there() -> None:
    shared_path(*FOLDER)
    matches = [name for name in CASES if not re.search(r"_(NEG|EXC)\.json5$", name)]
    negatives = [name for name in CASES if name.endswith("_NEG.json5")]
    rejected = [name for name in CASES if name.endswith("_EXC.json5")]
    # 155 cases in JSON5, plus the duplicate-key case kept as raw JSON text (test below)
    assert (len(matches), len(negatives), len(rejected)) == (66, 51, 38)
    assert {name.removesuffix(".json5") for name in rejected} == set(aws_errors())


@pytest.mark.parametrize("name", CASES)
def test_case(name: str) -> None:
    case = load(name)
    label = name.removesuffix(".json5")
    pattern_text = json.dumps(case["EventPattern"])
    if label.endswith("_EXC"):
        with pytest.raises(PatternError) as raised:
            parse_pattern(pattern_text)
        assert str(raised.value) == aws_errors()[label]
        with pytest.raises(PatternError):
            EventMatcher([(label, case["EventPattern"])])
        return
    expected = not label.endswith("_NEG")
    matcher = EventMatcher([(label, pattern_text)])
    assert bool(matcher.match(case["Event"])) is expected
    assert bool(matcher.match_json(json.dumps(case["Event"]))) is expected


def test_duplicate_key_pattern_read_as_text() -> None:
    """A key given twice: EventBridge keeps the last (``anything-but``), so ``eu-central-1`` matches."""
    pattern = shared_path(*FOLDER, "complex_multi_key_event_pattern.json").read_text(encoding="utf-8")
    event = shared_path(*FOLDER, "complex_multi_key_event.json").read_text(encoding="utf-8")
    assert pattern.count('"location"') == 2
    assert pattern_matches(pattern, event)
    # the first of the two keys alone (prefix "us-") would not match
    assert not pattern_matches({"detail": {"location": [{"prefix": "us-"}]}}, event)


# The other AWS-validated checks of the same suite (tests/aws/services/events/test_events_patterns.py).
SOURCE_EVENT = {"id": "1", "source": "order", "detail-type": "Test", "account": "111111111111",
                "region": "us-east-1", "time": "2022-07-13T13:48:01Z"}


def test_source_and_detail_type() -> None:
    assert pattern_matches({"source": ["order"], "detail-type": ["Test"]}, SOURCE_EVENT)
    assert not pattern_matches({"source": ["shipment"], "detail-type": ["Test"]}, SOURCE_EVENT)


def test_escape_characters_are_plain_values() -> None:
    event = r'{"id": "1", "source": "test-source", "detail": {"escape_star": "*", "escape_backslash": "\\"}}'
    pattern = r'{"detail": {"escape_star": ["*"], "escape_backslash": ["\\"]}}'
    assert pattern_matches(pattern, event)


@pytest.mark.parametrize(("text", "reason"), [
    ('["not", "a", "dict", "but valid json"]', "Filter is not an object"),
    ("this is valid json but not a dict", "Unrecognized token 'this'"),
    ("{'bad': 'quotation'}", "double quotes"),
])
def test_invalid_json_patterns(text: str, reason: str) -> None:
    with pytest.raises(PatternError) as raised:
        parse_pattern(text)
    message = str(raised.value)
    assert message.startswith("Event pattern is not valid. Reason: ")
    if reason == "Filter is not an object":
        assert message == "Event pattern is not valid. Reason: Filter is not an object"
    else:
        assert raised.value.reason


def test_corpus_files_are_json5_not_json() -> None:
    """Why the tests need a JSON5 reader: the cases carry comments and trailing commas."""
    texts = [shared_path(*FOLDER, name).read_text(encoding="utf-8") for name in CASES]
    not_json = 0
    for text in texts:
        try:
            json.loads(text)
        except json.JSONDecodeError:
            not_json += 1
    assert not_json > len(texts) // 2
