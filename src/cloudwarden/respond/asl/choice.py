"""Choice rules: the boolean expressions of an ASL ``Choice`` state.

A rule is ``And``/``Or``/``Not`` over rules, or a ``Variable`` (a path into the state's input) with one
comparison operator. Comparisons of the wrong type are false, not errors (as in Step Functions); a
``Variable`` that selects nothing is ``States.Runtime``, except under ``IsPresent``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from cloudwarden.respond.asl import errors
from cloudwarden.respond.asl.paths import PathNotFound, select

_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}
_KINDS: Final = ("String", "Numeric", "Boolean", "Timestamp")
_CHECKS: Final = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")


def operators() -> list[str]:
    """Every comparison operator name (``StringEquals``, ``NumericLessThanPath``, ``IsPresent``...)."""
    names = [f"{kind}{op}{suffix}" for kind in _KINDS for op in _COMPARE for suffix in ("", "Path")
             if not (kind == "Boolean" and op != "Equals")]
    return [*names, "StringMatches", *_CHECKS]


def evaluate(rule: dict[str, Any], data: Any, context: Any) -> bool:
    """Whether ``rule`` holds for the state's effective input ``data``."""
    if "And" in rule:
        return all(evaluate(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], data, context)
    operator = next((k for k in rule if k not in ("Variable", "Next", "Comment")), None)
    if operator is None or "Variable" not in rule:
        raise errors.StatesError(errors.RUNTIME, f"a Choice rule needs Variable and one operator: {rule}")
    try:
        value = select(rule["Variable"], data, context)
        present = True
    except PathNotFound:
        value, present = None, False
    expected = rule[operator]
    if operator == "IsPresent":
        return present is bool(expected)
    if not present:
        raise errors.StatesError(errors.RUNTIME, f"Invalid path {rule['Variable']!r}: the choice state's condition "
                                                 "path references an invalid value")
    if operator in _CHECKS:
        return _check(operator, value) is bool(expected)
    if operator.endswith("Path"):
        try:
            expected = select(expected, data, context)
        except PathNotFound:
            raise errors.StatesError(errors.RUNTIME, f"Invalid path {expected!r} in {operator}") from None
        operator = operator[:-4]
    if operator == "StringMatches":
        return isinstance(value, str) and _wildcard(expected).fullmatch(value) is not None
    return _compare(operator, value, expected)


def _compare(operator: str, value: Any, expected: Any) -> bool:
    kind = next((k for k in _KINDS if operator.startswith(k)), None)
    op = operator[len(kind):] if kind else ""
    if kind is None or op not in _COMPARE:
        raise errors.StatesError(errors.RUNTIME, f"unknown Choice operator {operator!r}")
    if kind == "String":
        ok = isinstance(value, str) and isinstance(expected, str)
    elif kind == "Numeric":
        ok = _is_number(value) and _is_number(expected)
    elif kind == "Boolean":
        ok = isinstance(value, bool) and isinstance(expected, bool)
    else:
        value, expected = _timestamp(value), _timestamp(expected)
        ok = value is not None and expected is not None
    return ok and _COMPARE[op](value, expected)


def _check(operator: str, value: Any) -> bool:
    if operator == "IsNull":
        return value is None
    if operator == "IsNumeric":
        return _is_number(value)
    if operator == "IsString":
        return isinstance(value, str)
    if operator == "IsBoolean":
        return isinstance(value, bool)
    return _timestamp(value) is not None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _timestamp(value: Any) -> datetime | None:
    """An RFC 3339 timestamp with an upper-case ``T`` and a zone, as ASL requires."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _wildcard(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything; ``\\*`` is a literal star."""
    literal_stars = pattern.split("\\*")
    return re.compile(re.escape("*").join(".*".join(re.escape(bit) for bit in part.split("*"))
                                          for part in literal_stars), re.DOTALL)
