"""ASL paths and intrinsic functions: selection, ResultPath placement, and the intrinsic call grammar."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloudwarden.respond.asl import StatesError
from cloudwarden.respond.asl.intrinsics import evaluate
from cloudwarden.respond.asl.paths import (
    PathNotFound,
    PathSyntaxError,
    ResultPathMismatch,
    is_reference_path,
    parse_path,
    place,
    select,
)

DOC: dict[str, Any] = {
    "store": {
        "book": [
            {"title": "a", "price": 8, "tags": ["x"]},
            {"title": "b", "price": 12},
            {"title": "c", "price": 30, "isbn": "123"},
        ],
        "name": "shop",
        "odd key": {"v": 1},
    },
}


@pytest.mark.parametrize(("path", "expected"), [
    ("$", DOC),
    ("$.store.name", "shop"),
    ("$.store.book[1].title", "b"),
    ("$.store.book[-1].title", "c"),
    ("$['store']['odd key'].v", 1),
    ("$.store.book[*].title", ["a", "b", "c"]),
    ("$.store.book[0:2].price", [8, 12]),
    ("$.store.book[0,2].title", ["a", "c"]),
    ("$.store.book[?(@.price > 10)].title", ["b", "c"]),
    ("$.store.book[?(@.title == 'a')].price", [8]),
    ("$.store.book[?(@.isbn)].title", ["c"]),
    ("$..price", [8, 12, 30]),
    ("$.store.missing[*]", []),
])
def test_select(path: str, expected: Any) -> None:
    assert select(path, DOC) == expected


def test_definite_path_to_nothing_is_an_error_indefinite_is_empty() -> None:
    with pytest.raises(PathNotFound):
        select("$.store.nothing", DOC)
    with pytest.raises(PathNotFound):
        select("$.store.book[7]", DOC)
    assert select("$.store.book[?(@.price > 100)]", DOC) == []


def test_context_paths_read_the_context_object() -> None:
    assert select("$$.Execution.Id", DOC, {"Execution": {"Id": "run-1"}}) == "run-1"


@pytest.mark.parametrize("bad", ["store.name", "$.", "$[", "$.a[x]", "$.a[?(price > 1)]", "$.a b"])
def test_malformed_paths_are_rejected(bad: str) -> None:
    with pytest.raises(PathSyntaxError):
        parse_path(bad)


def test_reference_paths_are_names_and_indices_only() -> None:
    assert is_reference_path("$.a.b[0]")
    assert not is_reference_path("$.a[*]")
    assert not is_reference_path("$$.Execution")
    assert not is_reference_path("$..a")


def test_result_path_places_without_touching_the_input() -> None:
    raw = {"a": {"keep": 1}}
    out = place("$.a.b.c", raw, 5)
    assert out == {"a": {"keep": 1, "b": {"c": 5}}}
    assert raw == {"a": {"keep": 1}}
    assert place("$", raw, 5) == 5
    assert place(None, raw, 5) is raw


def test_result_path_through_a_scalar_fails() -> None:
    with pytest.raises(ResultPathMismatch):
        place("$.a.keep.x", {"a": {"keep": 1}}, 5)
    with pytest.raises(ResultPathMismatch):
        place("$.x", "not an object", 5)


def test_format_with_placeholders_escapes_and_types() -> None:
    data = {"n": 3, "who": "bob", "ok": True}
    assert evaluate("States.Format('{} has {} keys, \\{literal\\}, ok={}', $.who, $.n, $.ok)", data, {}) == \
        "bob has 3 keys, {literal}, ok=true"
    with pytest.raises(StatesError) as caught:
        evaluate("States.Format('{} and {}', $.who)", data, {})
    assert caught.value.error == "States.IntrinsicFailure"


def test_json_round_trip_and_array() -> None:
    data = {"doc": {"b": [1, 2], "a": "x"}, "text": '{"k": [true, null]}'}
    assert evaluate("States.JsonToString($.doc)", data, {}) == json.dumps(data["doc"], separators=(",", ":"))
    assert evaluate("States.StringToJson($.text)", data, {}) == {"k": [True, None]}
    assert evaluate("States.Array('a', 1, $.doc.b, States.Array())", data, {}) == ["a", 1, [1, 2], []]
    assert evaluate("States.StringToJson(States.JsonToString($.doc))", data, {}) == data["doc"]


@pytest.mark.parametrize(("call", "expected"), [
    ("States.ArrayLength($.xs)", 4),
    ("States.ArrayContains($.xs, 2)", True),
    ("States.ArrayUnique($.xs)", [1, 2, 3]),
    ("States.ArrayGetItem($.xs, 2)", 2),
    ("States.ArrayPartition($.xs, 3)", [[1, 2, 2], [3]]),
    ("States.ArrayRange(1, 9, 4)", [1, 5, 9]),
    ("States.MathAdd(40, 2)", 42),
    ("States.StringSplit('a,b;c', ',;')", ["a", "b", "c"]),
    ("States.Base64Decode(States.Base64Encode('hi'))", "hi"),
    ("States.Hash('abc', 'SHA-256')", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("States.JsonMerge($.l, $.r, false)", {"a": 1, "b": 3}),
])
def test_other_intrinsics(call: str, expected: Any) -> None:
    data = {"xs": [1, 2, 2, 3], "l": {"a": 1, "b": 2}, "r": {"b": 3}}
    assert evaluate(call, data, {}) == expected


@pytest.mark.parametrize("bad", ["States.Nope(1)", "States.Format('x'", "States.Array(1,,2)", "States.Format(@)",
                                 "States.ArrayGetItem($.missing, 0)"])
def test_bad_calls_fail_with_intrinsic_failure(bad: str) -> None:
    with pytest.raises(StatesError) as caught:
        evaluate(bad, {"xs": []}, {})
    assert caught.value.error == "States.IntrinsicFailure"
