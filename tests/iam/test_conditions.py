"""Condition operators compiled and evaluated directly (iam/conditions.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cloudwarden.iam.conditions import BadCondition, UndecidableCondition, compile_condition, parse_date


def holds(op: str, key: str, values: Any, context: dict[str, Any]) -> tuple[bool, list[str]]:
    cond = compile_condition(op, key, values, variables=True)
    missing: list[str] = []
    ctx = {k.lower(): (tuple(v) if isinstance(v, list) else v) for k, v in context.items()}
    return cond.evaluate(ctx, missing), missing


@pytest.mark.parametrize(
    ("op", "values", "value", "expected"),
    [
        ("StringEquals", ["a", "b"], "b", True),
        ("StringEquals", "a", "A", False),
        ("StringNotEquals", ["a", "b"], "c", True),
        ("StringEqualsIgnoreCase", "ABC", "abc", True),
        ("StringNotEqualsIgnoreCase", "ABC", "abc", False),
        ("StringLike", "a*c", "abbbc", True),
        ("StringLike", "a?c", "abbc", False),
        ("StringLike", "a[b]c", "abc", False),  # no character classes in IAM globs
        ("StringLike", "a[b]c", "a[b]c", True),
        ("NumericEquals", 5, "5.00", True),
        ("NumericGreaterThanEquals", "5", "5", True),
        ("NumericLessThan", "5", "-1", True),
        ("DateLessThanEquals", "2024-01-01", "2024-01-01T00:00:00Z", True),
        ("DateGreaterThan", "2024-01-01T00:00:00Z", "1704067201", True),
        ("Bool", True, "TRUE", True),
        ("Bool", "false", "true", False),
        ("IpAddress", "10.0.0.0/8", "10.1.2.3", True),
        ("IpAddress", "10.0.0.1", "10.0.0.1", True),
        ("IpAddress", "10.0.0.0/8", "::ffff:a00:1", False),
        ("NotIpAddress", ["10.0.0.0/8", "fd00::/8"], "fd00::1", False),
        ("ArnLike", "arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/a/b", True),
        ("ArnLike", "arn:aws:iam::*:role/*", "arn:aws:sts::111111111111:role/a", False),
        ("ArnLike", "arn:aws:logs:*:*:log-group:*", "arn:aws:logs:r:1:log-group:g:log-stream:s", True),
        ("ArnNotEquals", "arn:aws:s3:::b", "arn:aws:s3:::b", False),
        ("ArnEquals", "arn:aws:s3:::b", "not-an-arn", False),
    ],
)
def test_operator(op: str, values: Any, value: str, expected: bool) -> None:
    assert holds(op, "k:key", values, {"k:key": value})[0] is expected


def test_absent_key_rules() -> None:
    assert holds("StringEquals", "k:a", "x", {}) == (False, ["k:a"])
    assert holds("StringNotLike", "k:a", "x", {}) == (True, [])
    assert holds("NumericLessThanIfExists", "k:a", "1", {}) == (True, [])
    assert holds("ForAllValues:StringEquals", "k:a", "x", {}) == (True, [])
    assert holds("ForAnyValue:StringNotEquals", "k:a", "x", {}) == (False, ["k:a"])
    assert holds("Null", "k:a", "true", {}) == (True, [])
    assert holds("Null", "k:a", "true", {"k:a": []}) == (True, [])
    assert holds("Null", "k:a", "false", {"k:a": "v"}) == (True, [])


def test_set_operators() -> None:
    assert holds("ForAllValues:StringLike", "k:t", ["a*", "b"], {"k:t": ["ax", "b"]})[0]
    assert not holds("ForAllValues:StringLike", "k:t", ["a*"], {"k:t": ["ax", "b"]})[0]
    assert holds("ForAnyValue:NumericGreaterThan", "k:t", "5", {"k:t": ["1", "9"]})[0]
    assert not holds("ForAnyValue:StringEquals", "k:t", "z", {"k:t": ["a", "b"]})[0]
    # a one-element list is a single value for an unqualified operator
    assert holds("StringEquals", "k:t", "a", {"k:t": ["a"]})[0]


def test_multivalued_key_without_set_operator_is_undecidable() -> None:
    with pytest.raises(UndecidableCondition, match="ForAnyValue"):
        holds("StringEquals", "k:t", "a", {"k:t": ["a", "b"]})


@pytest.mark.parametrize(
    ("op", "value", "request_value"),
    [("NumericEquals", "1", "one"), ("DateEquals", "2024-01-01", "yesterday"), ("Bool", "true", "yes"),
     ("IpAddress", "10.0.0.0/8", "host"), ("BinaryEquals", "QQ==", "!!")],
)
def test_request_value_of_wrong_type_is_undecidable(op: str, value: str, request_value: str) -> None:
    with pytest.raises(UndecidableCondition):
        holds(op, "k:a", value, {"k:a": request_value})


@pytest.mark.parametrize(
    ("op", "value"),
    [("StringMaybe", "x"), ("NullIfExists", "true"), ("ForAnyValue:Null", "true"), ("NumericEquals", "x"),
     ("DateLessThan", "soon"), ("Bool", "yes"), ("IpAddress", "10.0.0.300"), ("BinaryEquals", "%%"),
     ("StringEquals", []), ("StringEquals", {"a": 1})],
)
def test_policy_value_of_wrong_type_is_rejected(op: str, value: Any) -> None:
    with pytest.raises(BadCondition):
        compile_condition(op, "k:a", value, variables=True)


def test_binary_compares_decoded_bytes() -> None:
    assert holds("BinaryEquals", "k:b", "QUJD", {"k:b": "QUJD"})[0]
    assert not holds("BinaryEquals", "k:b", "QUJD", {"k:b": "QUJE"})[0]


def test_dates() -> None:
    assert parse_date("1970-01-01T00:00:00Z") == 0
    assert parse_date("1970-01-01T01:00:00+01:00") == 0
    assert parse_date("86400") == 86400
    assert parse_date("1970-01-02") == 86400
    assert parse_date("not a date") is None
