"""Pattern parsing beyond the AWS corpus: the model it builds, the rest of EventBridge's error messages, and the
wildcard complexity measure checked against Event Ruler's own worked examples."""

from __future__ import annotations

from typing import Any

import pytest

from cloudwarden.route.pattern import (
    MAX_WILDCARD_COMPLEXITY,
    AnythingBut,
    Cidr,
    Exact,
    Exists,
    Numeric,
    PatternError,
    Prefix,
    Wildcard,
    parse_pattern,
    value_matches,
    wildcard_complexity,
)


def reason(pattern: Any) -> str:
    with pytest.raises(PatternError) as raised:
        parse_pattern(pattern)
    assert str(raised.value) == "Event pattern is not valid. Reason: " + raised.value.reason
    return raised.value.reason


def test_or_expands_into_branches_and_later_fields_join_every_branch() -> None:
    pattern = parse_pattern({"source": ["a"], "$or": [{"x": [1]}, {"y": {"z": [2]}}], "w": [True]})
    assert [[clause.path for clause in branch] for branch in pattern.branches] == [
        ["source", "w", "x"], ["source", "w", "y.z"]]
    assert pattern.paths == {"source", "w", "x", "y.z"}


def test_nested_or_multiplies_branches() -> None:
    pattern = parse_pattern({"$or": [{"a": [1]}, {"$or": [{"b": [2]}, {"c": [3]}]}]})
    assert len(pattern.branches) == 3


def test_values_keep_their_json_type() -> None:
    (clause,), = parse_pattern('{"k": [1, true, null, "1", 2.5]}').branches
    assert clause.matchers == (Exact(1), Exact(True), Exact(None), Exact("1"), Exact(2.5))
    assert [type(m.value) for m in clause.matchers if isinstance(m, Exact)] == [int, bool, type(None), str, float]


def test_numeric_forms() -> None:
    (clause,), = parse_pattern({"n": [{"numeric": [">", 0, "<=", 5]}, {"numeric": ["=", 3]},
                                      {"numeric": ["<", 10]}]}).branches
    assert clause.matchers == (Numeric(0.0, True, 5.0, False), Numeric(3.0, False, 3.0, False),
                               Numeric(None, False, 10.0, True))


def test_anything_but_and_exists_model() -> None:
    (clause,), = parse_pattern({"s": [{"anything-but": {"prefix": ["a", "b"]}}, {"exists": False}]}).branches
    assert clause.matchers == (AnythingBut((Prefix("a"), Prefix("b"))), Exists(False))
    assert clause.allows_absent and not clause.wants_present


def test_cidr_range_starts_at_the_given_address() -> None:
    (clause,), = parse_pattern({"ip": [{"cidr": "10.0.0.5/24"}]}).branches
    cidr = clause.matchers[0]
    assert isinstance(cidr, Cidr) and cidr.version == 4 and cidr.prefix_len == 24
    assert value_matches(cidr, "10.0.0.255") and value_matches(cidr, "10.0.0.5")
    assert not value_matches(cidr, "10.0.0.4") and not value_matches(cidr, "10.0.1.0") and not value_matches(cidr, 10)


@pytest.mark.parametrize(("pattern", "message"), [
    ({}, "Empty objects are not allowed"),
    ({"a": {}}, "Empty objects are not allowed"),
    ({"a": [[1]]}, "Match value must be String, number, true, false, or null"),
    ({"a": [{}]}, "Match expression name not found"),
    ({"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed in match expression"),
    ({"a": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
    ({"a": [{"numeric": [5]}]}, "Invalid member in numeric match: 5"),
    ({"a": [{"numeric": []}]}, "Invalid member in numeric match: ]"),
    ({"a": [{"numeric": ["!=", 5]}]}, "Unrecognized numeric range operator: !="),
    ({"a": [{"numeric": ["=", "5"]}]}, "Value of equals must be numeric"),
    ({"a": [{"numeric": ["<", 5, ">", 1]}]}, "Too many elements in numeric expression"),
    ({"a": [{"numeric": [">", 1, 5]}]}, "Bad value in numeric range: 5"),
    ({"a": [{"numeric": [">", 1, "<", 5, 6]}]}, "Too many terms in numeric range expression"),
    ({"a": [{"numeric": [">", 5, "<", 1]}]}, "Bottom must be less than top"),
    ({"a": [{"anything-but": {"regex": "x"}}]}, "Unsupported anything-but pattern: regex"),
    ({"a": [{"anything-but": [1, "x"]}]},
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ({"a": [{"anything-but": True}]}, "Value of anything-but must be an array or single string/number value."),
    ({"a": [{"prefix": {"wildcard": "x"}}]}, "Unsupported prefix pattern: wildcard"),
    ({"a": [{"cidr": "10.0.0.0/32"}]}, "IPv4 mask bits must be < 32"),
    ({"a": [{"cidr": "::/128"}]}, "IPv6 mask bits must be < 128"),
    ({"a": [{"cidr": "10.0.0.0/-1"}]}, "Malformed CIDR, mask bits must not be negative"),
    ({"a": [{"cidr": "300.1.1.1/8"}]}, "Invalid IP address: 300.1.1.1"),
    ({"a": [{"wildcard": "a\\b"}]}, "Invalid escape character at pos 2"),
    ({"$or": {"a": [1]}}, "It must be an Array followed with $or."),
    ({"$or": [{"a": [1]}]}, "There must have at least 2 Objects in $or relationship."),
    ({"$or": [{"a": [1]}, [1]]}, "Only JSON object is allowed in array of $or relationship."),
    ({"$or": [{"a": [1]}, {"prefix": [1]}]}, "prefix is Ruler reserved fieldName which cannot be used inside $or."),
])
def test_error_messages(pattern: Any, message: str) -> None:
    assert reason(pattern) == message


def test_first_problem_in_document_order_is_reported() -> None:
    assert reason('{"a": [{"prefix": 1}], "b": 2}') == "prefix match pattern must be a string"
    assert reason('{"b": 2, "a": [{"prefix": 1}]}') == '"b" must be an object or an array'


def test_a_duplicated_key_is_validated_twice_and_the_last_wins() -> None:
    assert reason('{"a": [{"prefix": 1}], "a": ["x"]}') == "prefix match pattern must be a string"
    (clause,), = parse_pattern('{"a": ["first"], "a": ["last"]}').branches
    assert clause.matchers == (Exact("last"),)


def test_json_syntax_errors_and_non_json_numbers_are_pattern_errors() -> None:
    assert "line 1" in reason('{"a": [1,]}')
    assert reason('{"a": [NaN]}').startswith("Unrecognized token 'NaN'")


@pytest.mark.parametrize(("texts", "complexity"), [
    # Event Ruler's MachineComplexityEvaluatorTest: the number of wildcard prefixes one input keeps alive
    (["*"], 1), (["abc"], 1), (["*ab"], 2), (["*aa"], 3), (["a*bbb"], 4), (["*ab*ad"], 4), (["a*b*bb"], 5),
    (["a*b*cd"], 3), (["ab*b*"], 3), (["*", "ab*c"], 3), (["*abc", "*abcde"], 4), (["a*aaa", "aa*aa"], 7),
    (["a*aax", "aaa*x"], 5), (["ab*cd", "ab*wx", "ab*yz"], 6), (["*ab*b*b*"], 7), (["*a*a*a*"], 7),
    (["ab*c", "ab*c"], 2),
])
def test_wildcard_complexity_matches_event_ruler(texts: list[str], complexity: int) -> None:
    assert wildcard_complexity(texts, cap=100, quoted=False) == complexity


def test_wildcard_complexity_limit() -> None:
    assert wildcard_complexity(["*a*a*a*a*a*a*a*a*"], cap=100, quoted=False) == 17
    assert wildcard_complexity(["*a*a*a*a*a*a*a*a*"]) == MAX_WILDCARD_COMPLEXITY + 1  # capped
    parse_pattern({"f": [{"wildcard": "/Users/*/dir/dir/dir/dir/dir/doc.txt"}]})  # 7: accepted by AWS
    assert reason({"f": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}).startswith("Rule is too complex")  # 11
    # several wildcard patterns on one field add up
    assert reason({"f": [{"wildcard": "*a*a*"}, {"wildcard": "*a*a*a*"}]}).startswith("Rule is too complex")
    parse_pattern({"f": [{"wildcard": "*a*a*"}], "g": [{"wildcard": "*a*a*a*"}]})


def test_escaped_star_is_literal() -> None:
    (clause,), = parse_pattern({"f": [{"wildcard": "a\\*b*"}]}).branches
    wildcard = clause.matchers[0]
    assert isinstance(wildcard, Wildcard) and wildcard.head == "a*b"
    assert value_matches(wildcard, "a*bcd") and not value_matches(wildcard, "axbcd")
    assert wildcard_complexity(["a\\*b*"], cap=100, quoted=False) == 2
