"""Validating state machine definitions against the ASL JSON schemas, plus the checks schemas cannot make.

The schemas are asl-validator's (npm ``asl-validator`` 4.0.0, Apache-2.0), vendored unmodified under
``schemas/`` with their ``LICENSE`` and ``NOTICE``, so validation works offline and in CI. asl-validator
supplies its custom formats in code; they are supplied here the same way: ``asl_path``,
``asl_ref_path``, ``asl_result_path`` and ``asl_payload_template`` by our path and intrinsic parsers, and
``asl_arn`` by an ARN pattern that also accepts our own task resources (``cloudwarden:iam.x``, optionally
with ``.waitForTaskToken``), the one extension our playbooks rely on. As asl-validator does, every state
gets the machine's ``QueryLanguage`` (default JSONPath) before the schema check, and the structural
checks follow it: transitions name existing states, state names are unique across nested machines,
each state has exactly one of ``Next``/``End``, and the pairs ASL allows at most one of.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any, Final

from cloudwarden.respond.asl import intrinsics
from cloudwarden.respond.asl.errors import StatesError
from cloudwarden.respond.asl.paths import PathSyntaxError, is_reference_path, parse_path

SCHEMA_FILES: Final = (
    "base-state-machine", "choice", "common", "errors", "fail", "jsonata", "map", "parallel", "pass", "paths",
    "state", "state-machine", "succeed", "task", "wait",
)
_ARN: Final = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):[^:\n]+:[^:\n]*:\d*:([^:/*]+([:/].*[^:/]+)?)$", re.IGNORECASE)
OUR_RESOURCE: Final = re.compile(r"^cloudwarden:[a-z0-9-]+\.[a-z0-9-]+(\.waitForTaskToken)?$")
_AT_MOST_ONE: Final = (
    ("Task", ("TimeoutSeconds", "TimeoutSecondsPath")),
    ("Task", ("HeartbeatSeconds", "HeartbeatSecondsPath")),
    ("Map", ("ItemSelector", "Parameters")),
    ("Map", ("MaxConcurrency", "MaxConcurrencyPath")),
    ("Map", ("Items", "ItemsPath")),
    ("Fail", ("Cause", "CausePath")),
    ("Fail", ("Error", "ErrorPath")),
)


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    folder = resources.files("cloudwarden.respond.asl") / "schemas"
    return {name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8")) for name in SCHEMA_FILES}


@cache
def _validator() -> Any:
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry, Resource

    schemas = _schemas()
    registry: Registry[Any] = Registry().with_resources(
        (schema["$id"].rstrip("#"), Resource.from_contents(schema)) for schema in schemas.values()
    )
    checker = FormatChecker(formats=())
    checker.checks("asl_arn")(lambda v: not isinstance(v, str) or bool(_ARN.match(v) or OUR_RESOURCE.match(v)))
    checker.checks("asl_path")(_is_path)
    checker.checks("asl_ref_path")(lambda v: not isinstance(v, str) or is_reference_path(v))
    checker.checks("asl_result_path")(lambda v: not isinstance(v, str) or is_reference_path(v))
    checker.checks("asl_payload_template")(_is_payload_value)
    checker.checks("jsonata_string")(lambda v: False)  # JSONata is not supported by our interpreter
    return Draft7Validator(schemas["state-machine"], registry=registry, format_checker=checker)


def _is_path(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parse_path(value)
    except PathSyntaxError:
        return False
    return True


def _is_payload_value(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if intrinsics.is_intrinsic(value):
        try:
            intrinsics.check(value)
        except StatesError:
            return False
        return True
    return _is_path(value)


def validate(definition: Any, *, known_resources: frozenset[str] | None = None) -> list[str]:
    """Every problem in ``definition``, each as ``"<JSON pointer>: <why>"``; empty when it is valid.

    ``known_resources``, when given, is the set of ``cloudwarden:`` task resources that exist (ARNs of
    AWS services are not checked against anything).
    """
    if not isinstance(definition, dict):
        return ["/: a state machine definition is a JSON object"]
    document = copy.deepcopy(definition)
    language = document.get("QueryLanguage", "JSONPath")
    for states in _all_states(document):
        for state in states.values():
            if isinstance(state, dict):
                state.setdefault("QueryLanguage", language)
    problems = [
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {_message(error)}"
        for error in sorted(_validator().iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        return problems
    return _structure(definition, "", set(), known_resources)


def _message(error: Any) -> str:
    """The most specific message: for a ``oneOf`` over state types, the reason of the closest branch."""
    if error.validator == "oneOf" and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        return str(deepest.message)
    return str(error.message)


def _all_states(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    states = machine.get("States")
    if not isinstance(states, dict):
        return
    yield states
    for state in states.values():
        if not isinstance(state, dict):
            continue
        for branch in state.get("Branches", []) or []:
            if isinstance(branch, dict):
                yield from _all_states(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, dict):
            yield from _all_states(processor)


def _structure(machine: dict[str, Any], where: str, seen: set[str], known: frozenset[str] | None) -> list[str]:
    problems: list[str] = []
    states: dict[str, Any] = machine["States"]
    if machine["StartAt"] not in states:
        problems.append(f"{where}/StartAt: {machine['StartAt']!r} is not one of the States")
    for name, state in states.items():
        here = f"{where}/States/{name}"
        if name in seen:
            problems.append(f"{here}: the state name {name!r} is used twice (names are unique across branches)")
        seen.add(name)
        kind = state["Type"]
        targets = [("Next", state.get("Next")), ("Default", state.get("Default"))]
        targets += [(f"Choices/{i}/Next", rule.get("Next")) for i, rule in enumerate(state.get("Choices", []))]
        targets += [(f"Catch/{i}/Next", c.get("Next")) for i, c in enumerate(state.get("Catch", []))]
        for field, target in targets:
            if target is not None and target not in states:
                problems.append(f"{here}/{field}: no state {target!r} in this machine")
        if kind not in ("Choice", "Succeed", "Fail") and ("Next" in state) == bool(state.get("End")):
            problems.append(f"{here}: exactly one of Next and End: true is required")
        for state_type, pair in _AT_MOST_ONE:
            if kind == state_type and all(p in state for p in pair):
                problems.append(f"{here}: at most one of {' and '.join(pair)}")
        if kind == "Map" and ("ItemProcessor" in state) == ("Iterator" in state):
            problems.append(f"{here}: exactly one of ItemProcessor and Iterator is required")
        resource = state.get("Resource")
        if known is not None and isinstance(resource, str) and OUR_RESOURCE.match(resource):
            action = resource.removesuffix(".waitForTaskToken")
            if action not in known:
                problems.append(f"{here}/Resource: no action {action!r} (known: {', '.join(sorted(known))})")
        for index, branch in enumerate(state.get("Branches", [])):
            problems += _structure(branch, f"{here}/Branches/{index}", seen, known)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if kind == "Map" and isinstance(processor, dict):
            key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
            problems += _structure(processor, f"{here}/{key}", seen, known)
    problems += _unreachable(machine, where)
    return problems


def _unreachable(machine: dict[str, Any], where: str) -> list[str]:
    states: dict[str, Any] = machine["States"]
    reached: set[str] = set()
    todo = [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reached or name not in states:
            continue
        reached.add(name)
        state = states[name]
        todo += [t for t in (state.get("Next"), state.get("Default")) if t]
        todo += [rule["Next"] for rule in state.get("Choices", []) if "Next" in rule]
        todo += [c["Next"] for c in state.get("Catch", []) if "Next" in c]
    return [f"{where}/States/{name}: no transition leads to this state" for name in states if name not in reached]
