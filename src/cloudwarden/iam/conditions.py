"""IAM condition operators: compiled once per policy, evaluated per request.

Every family of "IAM JSON policy elements: Condition operators" is here: String (Equals, NotEquals,
EqualsIgnoreCase, NotEqualsIgnoreCase, Like, NotLike), Numeric (Equals, NotEquals, LessThan[Equals],
GreaterThan[Equals]), Date (same six, ISO 8601 or epoch seconds), Bool, BinaryEquals, IpAddress/NotIpAddress (IPv4
and IPv6), Arn (Equals, Like, NotEquals, NotLike: compared colon segment by colon segment, so ArnEquals and ArnLike
behave the same) and Null; each may end in ``IfExists`` (except Null) and be qualified by ``ForAnyValue:`` or
``ForAllValues:``.

Semantics (all from the IAM User Guide):
- several values for one key are ORed; several keys and several operators are ANDed (in ``Statement``);
- a key absent from the request: the condition is false, except ``...IfExists`` (true), negated operators such as
  ``StringNotEquals`` (true), ``ForAllValues:`` (true) and ``Null`` (which tests exactly that);
  ``ForAnyValue:`` on an absent or empty key is false (even when negated);
- a negated operator is true when the context value matches none of the policy values;
- ``ForAllValues:`` is true when every request value matches; ``ForAnyValue:`` when at least one does;
- a multivalued key needs a set operator; used without one, with more than one value, AWS documents no result, so
  evaluation raises :class:`UndecidableCondition` (the decision becomes ``error``: never a guess);
- policy variables only in String and Arn operators, substituted literally (``iam/variables.py``).

Unparsable values: a policy value that does not fit its operator (``NumericLessThan: "ten"``) is rejected when the
policy is compiled (:class:`BadCondition`); a request value that does not (``aws:MultiFactorAuthAge: "abc"``)
raises :class:`UndecidableCondition` at evaluation.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cloudwarden.iam.model import ContextValue
from cloudwarden.iam.variables import parse_template

__all__ = [
    "OPERATORS",
    "BadCondition",
    "Condition",
    "UndecidableCondition",
    "compile_condition",
    "parse_date",
]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BadCondition(ValueError):
    """A condition the engine cannot evaluate exactly (unknown operator, value of the wrong type)."""


class UndecidableCondition(Exception):
    """The request makes a condition undecidable (a value of the wrong type, a multivalued key without a set
    operator)."""


# base operator -> (family, negated, comparison)
OPERATORS: Mapping[str, tuple[str, bool, str]] = {
    "StringEquals": ("string", False, "eq"),
    "StringNotEquals": ("string", True, "eq"),
    "StringEqualsIgnoreCase": ("string", False, "eq_ci"),
    "StringNotEqualsIgnoreCase": ("string", True, "eq_ci"),
    "StringLike": ("string", False, "like"),
    "StringNotLike": ("string", True, "like"),
    "NumericEquals": ("numeric", False, "eq"),
    "NumericNotEquals": ("numeric", True, "eq"),
    "NumericLessThan": ("numeric", False, "lt"),
    "NumericLessThanEquals": ("numeric", False, "le"),
    "NumericGreaterThan": ("numeric", False, "gt"),
    "NumericGreaterThanEquals": ("numeric", False, "ge"),
    "DateEquals": ("date", False, "eq"),
    "DateNotEquals": ("date", True, "eq"),
    "DateLessThan": ("date", False, "lt"),
    "DateLessThanEquals": ("date", False, "le"),
    "DateGreaterThan": ("date", False, "gt"),
    "DateGreaterThanEquals": ("date", False, "ge"),
    "Bool": ("bool", False, "eq"),
    "BinaryEquals": ("binary", False, "eq"),
    "IpAddress": ("ip", False, "in"),
    "NotIpAddress": ("ip", True, "in"),
    "ArnEquals": ("arn", False, "like"),
    "ArnLike": ("arn", False, "like"),
    "ArnNotEquals": ("arn", True, "like"),
    "ArnNotLike": ("arn", True, "like"),
    "Null": ("null", False, "null"),
}

_ORDER: Mapping[str, Callable[[Decimal, Decimal], bool]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}

_EPOCH = re.compile(r"-?\d+(?:\.\d+)?")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

Matcher = Callable[[str, Mapping[str, ContextValue]], bool]


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    """One (operator, key, values) triple of a ``Condition`` block."""

    operator: str
    key: str
    lower_key: str
    qualifier: str | None  # None, "any", "all"
    if_exists: bool
    negated: bool
    is_null: bool
    null_values: frozenset[bool]
    values: tuple[Any, ...]
    match: Matcher  # positive match of one request value against the policy values (variables may raise)

    def evaluate(self, context: Mapping[str, ContextValue], missing: list[str]) -> bool:
        """True when the condition holds. Appends ``key`` to ``missing`` when its absence made it false."""
        raw = context.get(self.lower_key)
        if self.is_null:
            absent = raw is None or (not isinstance(raw, str) and len(raw) == 0)
            return absent in self.null_values
        if self.qualifier is None:
            if raw is None or (not isinstance(raw, str) and len(raw) == 0):
                if self.if_exists or self.negated:
                    return True
                missing.append(self.key)
                return False
            if isinstance(raw, str):
                value = raw
            elif len(raw) == 1:
                value = raw[0]
            else:
                raise UndecidableCondition(
                    f"{self.key} has {len(raw)} values in the request; a multivalued key needs ForAnyValue: or "
                    f"ForAllValues: (operator {self.operator})"
                )
            hit = self.match(value, context)
            return not hit if self.negated else hit
        values: Sequence[str] = (
            () if raw is None else ((raw,) if raw != "" else ()) if isinstance(raw, str) else raw
        )
        if not values:
            if self.qualifier == "all" or self.if_exists:
                return True
            missing.append(self.key)
            return False
        if self.qualifier == "any":
            for v in values:
                hit = self.match(v, context)
                if hit != self.negated:
                    return True
            return False
        for v in values:
            hit = self.match(v, context)
            if hit == self.negated:
                return False
        return True


def compile_condition(operator: str, key: str, raw_values: Any, *, variables: bool) -> Condition:
    """Compile one operator/key/values entry. ``variables``: the policy is ``2012-10-17``. Raises BadCondition."""
    qualifier: str | None = None
    base = operator
    if base.startswith("ForAnyValue:"):
        qualifier, base = "any", base[len("ForAnyValue:") :]
    elif base.startswith("ForAllValues:"):
        qualifier, base = "all", base[len("ForAllValues:") :]
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    spec = OPERATORS.get(base)
    if spec is None:
        raise BadCondition(f"unknown condition operator {operator!r}")
    family, negated, comparison = spec
    if family == "null" and (if_exists or qualifier):
        raise BadCondition(f"{operator!r}: Null takes neither IfExists nor a set qualifier")
    if not isinstance(key, str) or not key:
        raise BadCondition("a condition key must be a non-empty string")
    items = raw_values if isinstance(raw_values, list) else [raw_values]
    if not items:
        raise BadCondition(f"{operator} {key}: no values")
    texts = [_scalar_text(v, operator, key) for v in items]
    lower_key = key.lower()
    if family == "null":
        flags = frozenset(_parse_bool_policy(t, operator, key) for t in texts)
        return Condition(operator, key, lower_key, qualifier, if_exists, negated, True, flags, tuple(flags), _never)
    values, match = _FAMILIES[family](texts, comparison, variables, operator, key)
    return Condition(operator, key, lower_key, qualifier, if_exists, negated, False, frozenset(), values, match)


def _never(_value: str, _context: Mapping[str, ContextValue]) -> bool:
    return False


def _scalar_text(value: Any, operator: str, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise BadCondition(f"{operator} {key}: values must be strings, numbers or booleans, not {type(value).__name__}")


# --- String --------------------------------------------------------------------------------------------------------
def _string_family(texts: list[str], comparison: str, variables: bool, operator: str, key: str
                   ) -> tuple[tuple[Any, ...], Matcher]:
    like = comparison == "like"
    templates = tuple(parse_template(t, variables=variables, wildcards=like) for t in texts)
    static = [t for t in templates if not t.has_variables]
    dynamic = tuple(t for t in templates if t.has_variables)
    if comparison == "eq":
        exact = frozenset("".join(r for r, _ in t.resolve({})) for t in static)

        def match_eq(value: str, context: Mapping[str, ContextValue]) -> bool:
            if value in exact:
                return True
            return any(t.resolve_text(context) == value for t in dynamic)

        return templates, match_eq
    if comparison == "eq_ci":
        exact_ci = frozenset("".join(r for r, _ in t.resolve({})).lower() for t in static)

        def match_ci(value: str, context: Mapping[str, ContextValue]) -> bool:
            low = value.lower()
            if low in exact_ci:
                return True
            return any(t.resolve_text(context).lower() == low for t in dynamic)

        return templates, match_ci
    parts = [_like_regex(t.resolve({})) for t in static]
    combined = re.compile("|".join(f"(?:{p})" for p in parts), re.DOTALL) if parts else None

    def match_like(value: str, context: Mapping[str, ContextValue]) -> bool:
        if combined is not None and combined.fullmatch(value) is not None:
            return True
        return any(_like_compiled(t.resolve(context)).fullmatch(value) is not None for t in dynamic)

    return templates, match_like


def _like_regex(runs: Sequence[tuple[str, bool]]) -> str:
    out: list[str] = []
    for text, wild in runs:
        if wild:
            out.append(".*" if text == "*" else ".")
        else:
            out.append(re.escape(text))
    return "".join(out)


_LIKE_CACHE: dict[tuple[tuple[str, bool], ...], re.Pattern[str]] = {}


def _like_compiled(runs: tuple[tuple[str, bool], ...]) -> re.Pattern[str]:
    hit = _LIKE_CACHE.get(runs)
    if hit is None:
        if len(_LIKE_CACHE) > 65536:
            _LIKE_CACHE.clear()
        hit = _LIKE_CACHE[runs] = re.compile(_like_regex(runs), re.DOTALL)
    return hit


# --- Arn -----------------------------------------------------------------------------------------------------------
def _arn_family(texts: list[str], comparison: str, variables: bool, operator: str, key: str
                ) -> tuple[tuple[Any, ...], Matcher]:
    templates = tuple(parse_template(t, variables=variables, wildcards=True) for t in texts)
    static = tuple(_arn_segments(t.resolve({})) for t in templates if not t.has_variables)
    dynamic = tuple(t for t in templates if t.has_variables)

    def match_arn(value: str, context: Mapping[str, ContextValue]) -> bool:
        got = value.split(":", 5)
        if len(got) != 6:
            return False
        if any(_segments_match(segs, got) for segs in static):
            return True
        return any(_segments_match(_arn_segments(t.resolve(context)), got) for t in dynamic)

    return templates, match_arn


def _segments_match(segments: tuple[re.Pattern[str], ...] | None, got: list[str]) -> bool:
    if segments is None:
        return False
    return all(p.fullmatch(v) is not None for p, v in zip(segments, got, strict=True))


def _arn_segments(runs: tuple[tuple[str, bool], ...]) -> tuple[re.Pattern[str], ...] | None:
    """Split glob runs at literal colons into the six ARN segments (the sixth keeps its colons); None if not six.

    Each segment is matched on its own, ``*`` and ``?`` as in StringLike ("Condition operators → ARN")."""
    segments: list[list[tuple[str, bool]]] = [[]]
    for text, wild in runs:
        if wild or len(segments) == 6:
            segments[-1].append((text, wild))
            continue
        pieces = text.split(":", 6 - len(segments))
        for i, piece in enumerate(pieces):
            if i > 0:
                segments.append([])
            if piece:
                segments[-1].append((piece, False))
    if len(segments) != 6:
        return None
    return tuple(_like_compiled(tuple(seg)) for seg in segments)


# --- Numeric and Date ----------------------------------------------------------------------------------------------
def parse_number(text: str) -> Decimal | None:
    if not _NUMBER.fullmatch(text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def parse_date(text: str) -> Decimal | None:
    """ISO 8601 (date, date-time, with or without zone; no zone means UTC) or epoch seconds -> epoch seconds."""
    s = text.strip()
    if _EPOCH.fullmatch(s):
        return Decimal(s)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / Decimal(1_000_000)


def _ordered_family(parser: Callable[[str], Decimal | None], kind: str
                    ) -> Callable[[list[str], str, bool, str, str], tuple[tuple[Any, ...], Matcher]]:
    def build(texts: list[str], comparison: str, variables: bool, operator: str, key: str
              ) -> tuple[tuple[Any, ...], Matcher]:
        values: list[Decimal] = []
        for t in texts:
            parsed = parser(t)
            if parsed is None:
                raise BadCondition(f"{operator} {key}: {t!r} is not a {kind}")
            values.append(parsed)
        cmp = _ORDER[comparison]
        frozen = tuple(values)

        def match(value: str, _context: Mapping[str, ContextValue]) -> bool:
            got = parser(value)
            if got is None:
                raise UndecidableCondition(f"request value {value!r} of {key} is not a {kind} ({operator})")
            return any(cmp(got, v) for v in frozen)

        return frozen, match

    return build


# --- Bool, Binary, IP ----------------------------------------------------------------------------------------------
def _parse_bool_policy(text: str, operator: str, key: str) -> bool:
    low = text.lower()
    if low not in ("true", "false"):
        raise BadCondition(f"{operator} {key}: {text!r} is not true or false")
    return low == "true"


def _bool_family(texts: list[str], comparison: str, variables: bool, operator: str, key: str
                 ) -> tuple[tuple[Any, ...], Matcher]:
    wanted = frozenset(_parse_bool_policy(t, operator, key) for t in texts)

    def match(value: str, _context: Mapping[str, ContextValue]) -> bool:
        low = value.lower()
        if low not in ("true", "false"):
            raise UndecidableCondition(f"request value {value!r} of {key} is not true or false ({operator})")
        return (low == "true") in wanted

    return tuple(wanted), match


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _binary_family(texts: list[str], comparison: str, variables: bool, operator: str, key: str
                   ) -> tuple[tuple[Any, ...], Matcher]:
    wanted: set[bytes] = set()
    for t in texts:
        raw = _b64(t)
        if raw is None:
            raise BadCondition(f"{operator} {key}: {t!r} is not base64")
        wanted.add(raw)
    frozen = frozenset(wanted)

    def match(value: str, _context: Mapping[str, ContextValue]) -> bool:
        raw = _b64(value)
        if raw is None:
            raise UndecidableCondition(f"request value {value!r} of {key} is not base64 ({operator})")
        return raw in frozen

    return tuple(frozen), match


@lru_cache(maxsize=16384)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _ip_family(texts: list[str], comparison: str, variables: bool, operator: str, key: str
               ) -> tuple[tuple[Any, ...], Matcher]:
    nets: list[IpNetwork] = []
    for t in texts:
        try:
            nets.append(ipaddress.ip_network(t.strip(), strict=False))
        except ValueError as exc:
            raise BadCondition(f"{operator} {key}: {t!r} is not an IP address or CIDR block") from exc
    frozen = tuple(nets)

    def match(value: str, _context: Mapping[str, ContextValue]) -> bool:
        addr = _ip(value)
        if addr is None:
            raise UndecidableCondition(f"request value {value!r} of {key} is not an IP address ({operator})")
        return any(addr.version == n.version and addr in n for n in frozen)

    return frozen, match


_FAMILIES: Mapping[str, Callable[[list[str], str, bool, str, str], tuple[tuple[Any, ...], Matcher]]] = {
    "string": _string_family,
    "arn": _arn_family,
    "numeric": _ordered_family(parse_number, "number"),
    "date": _ordered_family(parse_date, "date"),
    "bool": _bool_family,
    "binary": _binary_family,
    "ip": _ip_family,
}
