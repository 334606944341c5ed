"""The compiled machine against a naive per-rule evaluation, on many generated rules and events at once.

The naive side shares only the pattern model and ``value_matches`` (the meaning of one value test) with the
machine: it flattens events its own way (every leaf with the path and array elements it came from) and checks each
rule's branches by trying every combination of values, which is slow and obviously right.
"""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

import pytest

from cloudwarden.route import EventMatcher, parse_pattern, pattern_matches
from cloudwarden.route import matcher as matcher_module
from cloudwarden.route.pattern import Branch, Pattern, value_matches

Leaf = tuple[str, Any, dict[int, int]]


# ------------------------------------------------------------------------------------------ naive evaluation

def naive_leaves(value: Any, path: str = "", members: dict[int, int] | None = None,
                 counter: list[int] | None = None) -> list[Leaf]:
    members = members or {}
    counter = counter if counter is not None else [0]
    if isinstance(value, dict):
        out: list[Leaf] = []
        for key, item in value.items():
            out += naive_leaves(item, f"{path}.{key}" if path else key, members, counter)
        return out
    if isinstance(value, list):
        counter[0] += 1
        array = counter[0]
        out = []
        for position, item in enumerate(value):
            inner = {**members, array: position} if isinstance(item, dict) else members
            out += naive_leaves(item, path, inner, counter)
        return out
    return [(path, value, members)]


def compatible(chosen: tuple[dict[int, int], ...]) -> bool:
    for left, right in itertools.combinations(chosen, 2):
        if any(right.get(array, position) != position for array, position in left.items()):
            return False
    return True


def naive_branch(branch: Branch, leaves: list[Leaf]) -> bool:
    options: list[list[dict[int, int]]] = []
    for clause in branch:
        present = [(value, members) for path, value, members in leaves if path == clause.path]
        if not present:
            if not clause.allows_absent:
                return False
            options.append([{}])
            continue
        passing = [members for value, members in present
                   if clause.wants_present or any(value_matches(m, value) for m in clause.value_matchers)]
        if not passing:
            return False
        options.append(passing)
    return any(compatible(chosen) for chosen in itertools.product(*options))


def naive_match(pattern: Pattern, event: dict[str, Any]) -> bool:
    leaves = naive_leaves(event)
    return any(naive_branch(branch, leaves) for branch in pattern.branches)


# ------------------------------------------------------------------------------------------ generated data

STRINGS = ["alpha", "Alpha", "alpine", "beta", "ALPHA-beta", "", "10.0.0.7", "10.0.1.9", "2001:db8::1",
           "2001:0db8:0:0:0:0:0:1", "a.b", "x*y", "null"]
NUMBERS = [0, 1, 1.0, 2.5, -3, 100, 5_000_000_000]
SCALARS: list[Any] = [*STRINGS, *NUMBERS, True, False, None]
FIELDS = ["source", "detail.kind", "detail.state.status", "detail.items.id", "detail.items.tag", "detail.n",
          "detail.tags"]


def random_value_test(rng: random.Random) -> Any:
    word = rng.choice([s for s in STRINGS if s]) if rng.random() < 0.9 else "al"
    number = rng.choice(NUMBERS[:-1])
    choice = rng.randrange(16)
    if choice < 4:
        return rng.choice(SCALARS)
    return [
        {"prefix": word[:2]}, {"suffix": word[-2:]}, {"equals-ignore-case": word},
        {"prefix": {"equals-ignore-case": word[:3].upper()}}, {"suffix": {"equals-ignore-case": word[-2:]}},
        {"wildcard": rng.choice(["al*", "*pha", "a*b*", "*.*", "x\\*y", "*"])},
        {"numeric": rng.choice([[">", number], ["<=", number], [">=", -3, "<", 2], ["=", number]])},
        {"cidr": rng.choice(["10.0.0.0/24", "2001:db8::/64", "10.0.0.0/8"])},
        {"exists": rng.random() < 0.5},
        {"anything-but": rng.choice([word, [word, "beta"], number, [1, 2.5]])},
        {"anything-but": {rng.choice(["prefix", "suffix"]): rng.choice([word[:2] or "a", ["al", "be"]])}},
        {"anything-but": {"equals-ignore-case": rng.choice([word, ["ALPHA", "beta"]])}},
    ][choice - 4]


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in flat.items():
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def random_pattern(rng: random.Random) -> dict[str, Any]:
    fields = rng.sample(FIELDS, rng.randint(1, 3))
    flat = {field: [random_value_test(rng) for _ in range(rng.randint(1, 2))] for field in fields}
    pattern = nest(flat)
    if rng.random() < 0.2:
        pattern["$or"] = [nest({rng.choice(FIELDS): [random_value_test(rng)]}) for _ in range(2)]
    return pattern


def random_event(rng: random.Random) -> dict[str, Any]:
    def scalar() -> Any:
        return rng.choice(SCALARS)

    detail: dict[str, Any] = {}
    if rng.random() < 0.8:
        detail["kind"] = scalar() if rng.random() < 0.8 else [scalar(), scalar()]
    if rng.random() < 0.6:
        if rng.random() < 0.3:
            detail["state.status"] = scalar()  # a dotted key is the same field as nested keys
        else:
            detail["state"] = {"status": scalar()} if rng.random() < 0.9 else {"status": {"deeper": 1}}
    if rng.random() < 0.7:
        detail["items"] = [{key: scalar() for key in rng.sample(["id", "tag"], rng.randint(0, 2))}
                           for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.5:
        detail["n"] = rng.choice(NUMBERS)
    if rng.random() < 0.4:
        detail["tags"] = [scalar() for _ in range(rng.randint(0, 3))]
    event: dict[str, Any] = {"id": "1", "detail": detail}
    if rng.random() < 0.8:
        event["source"] = scalar()
    return event


@pytest.mark.parametrize("seed", range(6))
def test_machine_agrees_with_naive_evaluation(seed: int) -> None:
    rng = random.Random(seed)
    patterns = {f"r{i}": parse_pattern(random_pattern(rng)) for i in range(150)}
    matcher = EventMatcher(patterns.items())
    matched_any = 0
    for _ in range(250):
        event = random_event(rng)
        expected = [name for name, pattern in patterns.items() if naive_match(pattern, event)]
        assert matcher.match(event) == expected, json.dumps(event)
        matched_any += bool(expected)
    assert matched_any > 100  # the generated data exercises matches, not only misses


def test_machine_agrees_with_naive_evaluation_when_few_hits_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matcher_module, "_REMEMBERED", 3)  # tables start again every few values
    rng = random.Random(99)
    patterns = {f"r{i}": parse_pattern(random_pattern(rng)) for i in range(150)}
    matcher = EventMatcher(patterns.items())
    for _ in range(150):
        event = random_event(rng)
        expected = [name for name, pattern in patterns.items() if naive_match(pattern, event)]
        assert matcher.match(event) == expected, json.dumps(event)


# ------------------------------------------------------------------------------------------ specific behaviour

def test_fields_of_one_rule_come_from_the_same_array_element() -> None:
    pattern = {"detail": {"findings": {"Severity": {"Label": ["CRITICAL"]}, "Workflow": {"Status": ["NEW"]}}}}
    split = {"detail": {"findings": [{"Severity": {"Label": "CRITICAL"}, "Workflow": {"Status": "RESOLVED"}},
                                     {"Severity": {"Label": "LOW"}, "Workflow": {"Status": "NEW"}}]}}
    together = {"detail": {"findings": [*split["detail"]["findings"],
                                        {"Severity": {"Label": "CRITICAL"}, "Workflow": {"Status": "NEW"}}]}}
    assert not pattern_matches(pattern, split)
    assert pattern_matches(pattern, together)


def test_rules_share_nodes_and_names_come_back_in_the_order_added() -> None:
    matcher = EventMatcher()
    matcher.add("b-critical", {"source": ["aws.securityhub"], "detail": {"sev": ["CRITICAL"]}})
    matcher.add("a-any", {"source": ["aws.securityhub"]})
    matcher.add("c-other", {"source": ["aws.guardduty"]})
    event = {"source": "aws.securityhub", "detail": {"sev": "CRITICAL"}}
    assert matcher.match(event) == ["b-critical", "a-any"]
    matcher.remove("a-any")
    matcher.add("b-critical", {"source": ["aws.guardduty"]})  # replaced
    assert matcher.match(event) == []
    assert len(matcher) == 2 and "c-other" in matcher and list(matcher) == ["b-critical", "c-other"]


def test_types_are_not_confused() -> None:
    matcher = EventMatcher([("one", {"v": [1]}), ("true", {"v": [True]}), ("text", {"v": ["1"]}),
                            ("null", {"v": [None]}), ("float", {"v": [1.0]})])
    assert matcher.match({"v": 1}) == ["one", "float"]
    assert matcher.match({"v": True}) == ["true"]
    assert matcher.match({"v": "1"}) == ["text"]
    assert matcher.match({"v": None}) == ["null"]
    assert matcher.match({"v": 1.0}) == ["one", "float"]


@pytest.mark.parametrize("order", range(4))
def test_remembered_hits_keep_types_apart(order: int) -> None:
    # a prefix and a range make the field's tests more than exact values, so its hits are remembered
    matcher = EventMatcher([("one", {"v": [1]}), ("true", {"v": [True]}), ("text", {"v": [{"prefix": "1"}]}),
                            ("above-half", {"v": [{"numeric": [">", 0.5]}]}), ("null", {"v": [None]})])
    expected: list[tuple[Any, list[str]]] = [
        (1, ["one", "above-half"]), (1.0, ["one", "above-half"]), (True, ["true"]), ("1", ["text"]),
        (None, ["null"]), ("10", ["text"]), (0.25, []), (False, []), (2, ["above-half"]),
    ]
    rng = random.Random(order)
    for _ in range(3):  # the first time computes, the next ones are remembered
        rng.shuffle(expected)
        for value, names in expected:
            assert matcher.match({"v": value}) == names, value
            assert matcher.match({"v": [value, "x"]}) == names, value


def test_remembered_hits_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matcher_module, "_REMEMBERED", 4)
    matcher = EventMatcher([("v", {"d": {"k": [{"prefix": "v"}]}}), ("w", {"d": {"k": [{"suffix": "9"}]}})])
    for number in range(40):
        assert matcher.match({"d": {"k": f"v{number}"}}) == ["v"] + (["w"] if number % 10 == 9 else [])
        assert matcher.match({"d": {"k": f"w{number}"}}) == (["w"] if number % 10 == 9 else [])
    tables = [table for _, table, index in matcher._root.plan if index is not None]  # type: ignore[union-attr]
    assert tables and all(0 < len(table) <= 4 for table in tables)


def test_absent_null_and_empty_array() -> None:
    absent = EventMatcher([("absent", {"d": {"k": [{"exists": False}]}})])
    assert absent.match({"d": {}}) == ["absent"]
    assert absent.match({"d": {"k": []}}) == ["absent"]  # an empty array holds no value
    assert absent.match({"d": {"k": {"deeper": 1}}}) == ["absent"]  # an object is not a value
    assert absent.match({"d": {"k": None}}) == []
    anything_but = EventMatcher([("ab", {"k": [{"anything-but": "x"}]})])
    assert anything_but.match({"k": None}) == ["ab"] and anything_but.match({}) == []
    assert anything_but.match({"k": ["x", "y"]}) == ["ab"]  # one element that is not "x" is enough


def test_ipv6_literals_match_other_spellings() -> None:
    assert pattern_matches({"ip": ["2001:db8::1"]}, {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"})
    assert not pattern_matches({"ip": [{"anything-but": "2001:db8::1"}]}, {"ip": "2001:db8::1"})


def test_mappings_other_than_dict_are_accepted() -> None:
    from types import MappingProxyType

    event = MappingProxyType({"a": MappingProxyType({"b": (1, 2)})})
    assert pattern_matches({"a": {"b": [2]}}, event)


def test_many_array_values_do_not_blow_up() -> None:
    matcher = EventMatcher([(f"r{i}", {"d": {"x": [{"prefix": "v"}], "y": [{"numeric": [">", i]}]}})
                            for i in range(50)])
    event = {"d": [{"x": f"v{i}", "y": i} for i in range(300)]}
    assert len(matcher.match(event)) == 50


def test_match_json_keeps_duplicated_event_keys() -> None:
    matcher = EventMatcher([("r", {"k": ["second"]})])
    assert matcher.match_json('{"k": "first", "k": "second"}') == ["r"]
    with pytest.raises(ValueError):
        matcher.match_json("[1, 2]")
