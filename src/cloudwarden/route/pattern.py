"""EventBridge event patterns: parse, validate, and the meaning of each value matcher.

A pattern is parsed into a small typed model: a :class:`Pattern` is a disjunction of :class:`Branch` es (``$or``
expands into branches, as EventBridge does), a branch is a conjunction of :class:`Clause` s, one per flattened field
path (``detail.state.status``), and a clause is a disjunction of value matchers (``Exact``, ``Prefix``, ``Numeric``,
``AnythingBut``...). :func:`value_matches` is the reference meaning of one matcher against one event value; the
compiled machine in ``matcher.py`` is checked against it.

Invalid patterns raise :class:`PatternError` carrying the exact message EventBridge's ``TestEventPattern`` returns
(``Event pattern is not valid. Reason: ...``), checked against the AWS-validated cases in
``shared/data/eventbridge-patterns``. Validation walks the document in order, like EventBridge's streaming parser,
so the first problem in the text is the one reported; a duplicated key is validated twice and the last one wins.

Hand-written: no maintained Python library parses the full grammar (``$or``, ``wildcard`` with its complexity
limit, ``anything-but`` with prefix/suffix/wildcard/equals-ignore-case lists, ``cidr``) or reproduces AWS's
messages.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

Scalar: TypeAlias = str | int | float | bool | None

ERROR_PREFIX: Final = "Event pattern is not valid. Reason: "
OR_KEY: Final = "$or"
# Match-type names (and names kept for future use) that cannot be field names inside ``$or``.
RESERVED_IN_OR: Final = frozenset({
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric", "cidr",
    "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
    "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range",
    "ip-address-not-in-range",
})
# The largest number of wildcard-pattern prefixes one event value may keep alive at once (see
# :func:`wildcard_complexity`). EventBridge does not publish its limit; 9 accepts every pattern AWS accepted in the
# validated cases (at most 7) and rejects the one it refused (11).
MAX_WILDCARD_COMPLEXITY: Final = 9


class PatternError(ValueError):
    """An invalid event pattern; ``str()`` is EventBridge's message, ``reason`` the part after ``Reason:``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(ERROR_PREFIX + reason)


# ---------------------------------------------------------------------------------------------------------- model

@dataclass(frozen=True, slots=True)
class Exact:
    """Equal to a JSON scalar of the same type (numbers compare numerically: ``300`` matches ``300.0``)."""

    value: Scalar


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase:
    text: str


@dataclass(frozen=True, slots=True)
class Prefix:
    text: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class Suffix:
    text: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class Wildcard:
    """``*`` matches any run of characters; ``\\*`` and ``\\\\`` are a literal star and backslash."""

    text: str
    regex: re.Pattern[str] = field(compare=False, hash=False, repr=False)
    head: str = field(compare=False, hash=False, repr=False)  # the literal text before the first ``*``
    tail: str = field(compare=False, hash=False, repr=False)  # the literal text after the last ``*``


@dataclass(frozen=True, slots=True)
class Numeric:
    """A numeric range; ``None`` is unbounded. ``["=", x]`` is the closed range ``[x, x]``."""

    low: float | None
    low_open: bool
    high: float | None
    high_open: bool


@dataclass(frozen=True, slots=True)
class Cidr:
    """An IP range ``[low, high]`` of one version, from an address and mask bits (as EventBridge computes it)."""

    text: str
    version: int
    low: int
    high: int
    prefix_len: int


@dataclass(frozen=True, slots=True)
class Exists:
    present: bool


Excludable: TypeAlias = Exact | EqualsIgnoreCase | Prefix | Suffix | Wildcard


@dataclass(frozen=True, slots=True)
class AnythingBut:
    """Matches a present value that none of ``excluded`` matches (``null`` and other types included)."""

    excluded: tuple[Excludable, ...]


ValueMatcher: TypeAlias = Exact | EqualsIgnoreCase | Prefix | Suffix | Wildcard | Numeric | Cidr | AnythingBut
Matcher: TypeAlias = ValueMatcher | Exists


@dataclass(frozen=True, slots=True)
class Clause:
    """One field of a branch: the event's values at ``path`` must satisfy one of ``matchers``."""

    path: str
    matchers: tuple[Matcher, ...]

    @property
    def value_matchers(self) -> tuple[ValueMatcher, ...]:
        return tuple(m for m in self.matchers if not isinstance(m, Exists))

    @property
    def wants_present(self) -> bool:
        """``{"exists": true}``: any value at the path satisfies the clause."""
        return any(isinstance(m, Exists) and m.present for m in self.matchers)

    @property
    def allows_absent(self) -> bool:
        """``{"exists": false}``: the clause is satisfied when the event has no value at the path."""
        return any(isinstance(m, Exists) and not m.present for m in self.matchers)


Branch: TypeAlias = tuple[Clause, ...]


@dataclass(frozen=True, slots=True)
class Pattern:
    """A parsed event pattern: the event matches when one branch has all its clauses satisfied."""

    branches: tuple[Branch, ...]
    text: str = field(compare=False, repr=False)

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(clause.path for branch in self.branches for clause in branch)


# ------------------------------------------------------------------------------------------- meaning of a matcher

def is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def exact_equal(wanted: Scalar, value: Scalar) -> bool:
    """JSON equality of two scalars: same type (numbers as one type, compared numerically), same value."""
    if is_number(wanted):
        return is_number(value) and value == wanted
    if type(wanted) is str:
        return type(value) is str and value == wanted
    return value is wanted


def value_matches(matcher: ValueMatcher, value: Scalar) -> bool:
    """Whether one event leaf value satisfies one value matcher (the reference semantics)."""
    if isinstance(matcher, Exact):
        return exact_equal(matcher.value, value) or (
            type(value) is str and isinstance(matcher.value, str) and _same_ip(matcher.value, value))
    if isinstance(matcher, AnythingBut):
        return not any(exact_equal(inner.value, value) if isinstance(inner, Exact) else value_matches(inner, value)
                       for inner in matcher.excluded)
    if isinstance(matcher, Numeric):
        if not is_number(value):
            return False
        number = float(value)  # type: ignore[arg-type]
        if matcher.low is not None and (number < matcher.low or (matcher.low_open and number == matcher.low)):
            return False
        return not (matcher.high is not None
                    and (number > matcher.high or (matcher.high_open and number == matcher.high)))
    if type(value) is not str:
        return False
    if isinstance(matcher, EqualsIgnoreCase):
        return value.lower() == matcher.text.lower()
    if isinstance(matcher, Prefix):
        if matcher.ignore_case:
            return value.lower().startswith(matcher.text.lower())
        return value.startswith(matcher.text)
    if isinstance(matcher, Suffix):
        if matcher.ignore_case:
            return value.lower().endswith(matcher.text.lower())
        return value.endswith(matcher.text)
    if isinstance(matcher, Wildcard):
        return matcher.regex.fullmatch(value) is not None
    address = ip_value(value)
    return address is not None and address[0] == matcher.version and matcher.low <= address[1] <= matcher.high


_IPV4: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


def ip_value(text: str) -> tuple[int, int] | None:
    """``(version, integer)`` of an IPv4/IPv6 literal, or ``None`` when ``text`` is not one."""
    if _IPV4.fullmatch(text):
        parts = [int(part) for part in text.split(".")]
        if any(part > 255 for part in parts):
            return None
        return 4, (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]
    if _IPV6.fullmatch(text):
        try:
            return 6, int(ipaddress.IPv6Address(text))
        except ValueError:
            return None
    return None


def _same_ip(wanted: str, value: str) -> bool:
    """An exact IPv6 literal also matches other spellings of the same address (``::1``, ``0:0:0:0:0:0:0:1``)."""
    if ":" not in wanted and ":" not in value:
        return False  # IPv4 literals have one spelling here, and equal strings were already checked
    left = ip_value(wanted)
    return left is not None and left == ip_value(value)


# ------------------------------------------------------------------------------------------------------- parsing

class _Obj(tuple[tuple[str, Any], ...]):
    """A JSON object as its ordered key/value pairs, duplicates kept (the parser must see both).

    A tuple, so it is never mistaken for a JSON array (a ``list``).
    """

    __slots__ = ()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Obj:
    return _Obj(pairs)


def _reject_constant(name: str) -> Any:
    raise PatternError(f"Unrecognized token '{name}': was expecting (JSON String, Number, Array, Object or token "
                       "'null', 'true' or 'false')")


def _from_python(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _Obj(tuple((str(key), _from_python(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return [_from_python(item) for item in value]
    return value


def parse_pattern(source: str | bytes | Mapping[str, Any]) -> Pattern:
    """Parse and validate an event pattern given as JSON text or as an already-decoded mapping."""
    if isinstance(source, Mapping):
        document = _from_python(source)
        text = json.dumps(source, separators=(",", ":"), default=str)
    else:
        text = source.decode("utf-8") if isinstance(source, bytes) else source
        try:
            document = json.loads(text, object_pairs_hook=_pairs_hook, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise PatternError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
        except RecursionError:
            raise PatternError("Pattern is nested too deeply") from None
    if not isinstance(document, _Obj):
        raise PatternError("Filter is not an object")
    rules: list[dict[str, tuple[Matcher, ...]]] = []
    _parse_object(document, (), rules, in_or=False)
    branches = [tuple(Clause(path, matchers) for path, matchers in sorted(rule.items())) for rule in rules]
    _check_wildcard_complexity(branches)
    return Pattern(tuple(branches), text)


def _parse_object(node: _Obj, path: tuple[str, ...], rules: list[dict[str, tuple[Matcher, ...]]],
                  *, in_or: bool) -> None:
    if not node:
        raise PatternError("Empty objects are not allowed")
    for key, value in node:
        if key == OR_KEY:
            _parse_or(value, path, rules)
            continue
        if in_or and key in RESERVED_IN_OR:
            raise PatternError(f"{key} is Ruler reserved fieldName which cannot be used inside {OR_KEY}.")
        if isinstance(value, _Obj):
            _parse_object(value, (*path, key), rules, in_or=in_or)
        elif isinstance(value, list):
            matchers = _parse_values(value)
            if not rules:
                rules.append({})
            name = ".".join((*path, key))
            for rule in rules:
                rule[name] = matchers
        else:
            raise PatternError(f'"{key}" must be an object or an array')


def _parse_or(value: Any, path: tuple[str, ...], rules: list[dict[str, tuple[Matcher, ...]]]) -> None:
    before = [dict(rule) for rule in rules]
    rules.clear()
    if not isinstance(value, list):
        raise PatternError(f"It must be an Array followed with {OR_KEY}.")
    for item in value:
        if not isinstance(item, _Obj):
            raise PatternError(f"Only JSON object is allowed in array of {OR_KEY} relationship.")
        fork = [dict(rule) for rule in before] or [{}]
        _parse_object(item, path, fork, in_or=True)
        rules.extend(fork)
    if len(value) < 2:
        raise PatternError(f"There must have at least 2 Objects in {OR_KEY} relationship.")


def _parse_values(values: list[Any]) -> tuple[Matcher, ...]:
    out: list[Matcher] = []
    for value in values:
        if isinstance(value, _Obj):
            out.append(_parse_expression(value))
        elif isinstance(value, list):
            raise PatternError("Match value must be String, number, true, false, or null")
        else:
            out.append(Exact(value))
    if not out:
        raise PatternError("Empty arrays are not allowed")
    return tuple(out)


def _token_text(value: Any) -> str:
    """How EventBridge's parser names a token in its messages."""
    if value is _END:
        return "]"
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, _Obj):
        return "{"
    if isinstance(value, list):
        return "["
    return str(value)


_END: Final = object()  # the end of an array, as a token


def _one_key(node: _Obj) -> None:
    if len(node) > 1:
        raise PatternError("Only one key allowed in match expression")


def _parse_expression(node: _Obj) -> Matcher:
    if not node:
        raise PatternError("Match expression name not found")
    name, value = node[0]
    if name in ("prefix", "suffix"):
        matcher = _parse_affix(name, value)
        _one_key(node)
        return matcher
    if name == "equals-ignore-case":
        if not isinstance(value, str):
            raise PatternError("equals-ignore-case match pattern must be a string")
        _one_key(node)
        return EqualsIgnoreCase(value)
    if name == "wildcard":
        if not isinstance(value, str):
            raise PatternError("wildcard match pattern must be a string")
        _one_key(node)
        return parse_wildcard(value)
    if name == "numeric":
        if not isinstance(value, list):
            raise PatternError("Value of numeric must be an array.")
        numeric = _parse_numeric(value)
        if len(node) > 1:
            raise PatternError("Too many elements in numeric expression")
        return numeric
    if name == "anything-but":
        anything_but = _parse_anything_but(value)
        if len(node) > 1:
            raise PatternError("Too many elements in numeric expression")
        return anything_but
    if name == "exists":
        if value is not True and value is not False:
            raise PatternError("exists match pattern must be either true or false.")
        _one_key(node)
        return Exists(value)
    if name == "cidr":
        if not isinstance(value, str):
            raise PatternError("prefix match pattern must be a string")
        _one_key(node)
        return parse_cidr(value)
    raise PatternError(f"Unrecognized match type {name}")


def _parse_affix(name: str, value: Any) -> Prefix | Suffix:
    kind = Prefix if name == "prefix" else Suffix
    if isinstance(value, str):
        return kind(value)
    if isinstance(value, _Obj) and value:
        inner, text = value[0]
        if inner != "equals-ignore-case":
            raise PatternError(f"Unsupported {name} pattern: {inner}")
        if not isinstance(text, str):
            raise PatternError("equals-ignore-case match pattern must be a string")
        _one_key(value)
        return kind(text, ignore_case=True)
    raise PatternError(f"{name} match pattern must be a string")


_ANYTHING_BUT_VALUE: Final = "Value of anything-but must be an array or single string/number value."
_IGNORE_CASE_LIST: Final = "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."


def _parse_anything_but(value: Any) -> AnythingBut:
    if isinstance(value, _Obj):
        if not value:
            raise PatternError("Anything-but expression name not found")
        op, inner = value[0]
        if op in ("prefix", "suffix", "wildcard"):
            excluded = _anything_but_texts(op, inner)
        elif op == "equals-ignore-case":
            if isinstance(inner, str):
                excluded = (EqualsIgnoreCase(inner),)
            elif isinstance(inner, list):
                if not all(isinstance(item, str) for item in inner):
                    raise PatternError(_IGNORE_CASE_LIST)
                excluded = tuple(EqualsIgnoreCase(item) for item in inner)
            elif is_number(inner):
                raise PatternError(_IGNORE_CASE_LIST)
            else:
                raise PatternError(_ANYTHING_BUT_VALUE)
        else:
            raise PatternError(f"Unsupported anything-but pattern: {op}")
        _one_key(value)
        if not excluded:
            raise PatternError("Empty arrays are not allowed")
        return AnythingBut(tuple(dict.fromkeys(excluded)))
    if isinstance(value, list):
        has_number = has_string = False
        for item in value:
            if isinstance(item, str):
                has_string = True
            elif is_number(item):
                has_number = True
            else:
                raise PatternError("Inside anything but list, start|null|boolean is not supported.")
        if has_number == has_string:
            raise PatternError("Inside anything but list, either all values are number or string, "
                               "mixed type is not supported")
        return AnythingBut(tuple(dict.fromkeys(Exact(item) for item in value)))
    if isinstance(value, str) or is_number(value):
        return AnythingBut((Exact(value),))
    raise PatternError(_ANYTHING_BUT_VALUE)


def _anything_but_texts(op: str, inner: Any) -> tuple[Excludable, ...]:
    type_error = "wildcard match pattern must be a string" if op == "wildcard" else \
        "prefix/suffix match pattern must be a string"
    if isinstance(inner, str):
        texts = [inner]
    elif isinstance(inner, list):
        if not all(isinstance(item, str) for item in inner):
            raise PatternError(type_error)
        texts = list(inner)
    elif isinstance(inner, _Obj):
        raise PatternError(_ANYTHING_BUT_VALUE)
    else:
        raise PatternError(type_error)
    if op == "wildcard":
        return tuple(parse_wildcard(text) for text in texts)
    if any(not text for text in texts):
        raise PatternError("Null prefix/suffix not allowed")
    return tuple(Prefix(text) if op == "prefix" else Suffix(text) for text in texts)


def _parse_numeric(items: list[Any]) -> Numeric:
    def token(index: int) -> Any:
        return items[index] if index < len(items) else _END

    first = token(0)
    if not isinstance(first, str):
        raise PatternError(f"Invalid member in numeric match: {_token_text(first)}")
    operand = token(1)
    if first not in ("=", ">=", ">", "<=", "<"):
        raise PatternError(f"Unrecognized numeric range operator: {first}")
    if not is_number(operand):
        name = "equals" if first == "=" else first
        raise PatternError(f"Value of {name} must be numeric")
    number = float(operand)
    if first == "=" or first in ("<=", "<"):
        if len(items) > 2:
            raise PatternError("Too many elements in numeric expression")
        if first == "=":
            return Numeric(number, False, number, False)
        return Numeric(None, False, number, first == "<")
    low_open = first == ">"
    if len(items) == 2:
        return Numeric(number, low_open, None, False)
    second = token(2)
    if not isinstance(second, str):
        raise PatternError(f"Bad value in numeric range: {_token_text(second)}")
    if second not in ("<", "<="):
        raise PatternError(f"Bad numeric range operator: {second}")
    top = token(3)
    if not is_number(top):
        raise PatternError(f"Value of {second} must be numeric")
    if len(items) > 4:
        raise PatternError("Too many terms in numeric range expression")
    high = float(top)
    if high <= number:
        raise PatternError("Bottom must be less than top")
    return Numeric(number, low_open, high, second == "<")


def parse_wildcard(text: str) -> Wildcard:
    """A wildcard matcher; positions in errors count UTF-8 bytes of the quoted value, as EventBridge does."""
    data = text.encode("utf-8")
    parts: list[str] = []
    literal = bytearray()
    head: str | None = None
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x2A:  # *
            if index + 1 < len(data) and data[index + 1] == 0x2A:
                raise PatternError(f"Consecutive wildcard characters at pos {index + 1}")
            chunk = literal.decode("utf-8", errors="surrogateescape")
            if head is None:
                head = chunk
            parts.append(re.escape(chunk))
            parts.append(".*")
            literal.clear()
        elif byte == 0x5C:  # backslash
            if index + 1 < len(data) and data[index + 1] in (0x2A, 0x5C):
                literal.append(data[index + 1])
                index += 2
                continue
            raise PatternError(f"Invalid escape character at pos {index + 1}")
        else:
            literal.append(byte)
        index += 1
    tail = literal.decode("utf-8", errors="surrogateescape")
    parts.append(re.escape(tail))
    return Wildcard(text, re.compile("".join(parts), re.DOTALL), tail if head is None else head, tail)


def parse_cidr(text: str) -> Cidr:
    pieces = text.split("/")
    while len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()  # Java's split drops trailing empty strings
    if len(pieces) != 2:
        raise PatternError("Malformed CIDR, one '/' required")
    address, bits_text = pieces
    try:
        bits = int(bits_text, 10)
    except ValueError:
        raise PatternError("Malformed CIDR, mask bits must be an integer") from None
    if bits < 0:
        raise PatternError("Malformed CIDR, mask bits must not be negative")
    if not (_IPV4.fullmatch(address) or _IPV6.fullmatch(address)):
        raise PatternError(f"Nonstandard IP address: {address}")
    parsed = ip_value(address)
    if parsed is None:
        raise PatternError(f"Invalid IP address: {address}")
    version, value = parsed
    width = 32 if version == 4 else 128
    if bits >= width:
        raise PatternError("IPv4 mask bits must be < 32" if version == 4 else "IPv6 mask bits must be < 128")
    host_mask = (1 << (width - bits)) - 1
    return Cidr(text, version, value, value | host_mask, bits)


# ------------------------------------------------------------------------------------------ wildcard complexity

def wildcard_complexity(texts: Sequence[str], cap: int = MAX_WILDCARD_COMPLEXITY + 1, *, quoted: bool = True) -> int:
    """The largest number of wildcard-pattern prefixes one input can keep alive at once, capped at ``cap``.

    This is EventBridge's measure of how expensive a set of wildcard patterns on one field is: ``*a*a*a*`` on
    ``aaa`` keeps all seven prefixes alive. Computed over the reachable state sets of the patterns' automaton.
    EventBridge measures string values with their JSON quotes (``quoted``), which adds a prefix before a leading
    ``*``.
    """
    tokens = [tuple(None if byte == 0x2A else byte for byte in _unescaped(text, quoted))
              for text in dict.fromkeys(texts)]
    if not tokens:
        return 0

    def close(states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        stack = list(states)
        while stack:
            which, pos = stack.pop()
            seq = tokens[which]
            if pos < len(seq) and seq[pos] is None and (which, pos + 1) not in states:
                states.add((which, pos + 1))
                stack.append((which, pos + 1))
        return frozenset(states)

    def size(states: frozenset[tuple[int, int]]) -> int:
        return sum(1 for _, pos in states if pos > 0)

    alphabet = {byte for seq in tokens for byte in seq if byte is not None} | {-1}
    start = close({(which, 0) for which in range(len(tokens))})
    best = size(start)
    seen = {start}
    frontier = [start]
    while frontier and best < cap and len(seen) < 20_000:
        states = frontier.pop()
        for symbol in alphabet:
            following: set[tuple[int, int]] = set()
            for which, pos in states:
                seq = tokens[which]
                if pos > 0 and seq[pos - 1] is None:
                    following.add((which, pos))
                if pos < len(seq) and seq[pos] == symbol:
                    following.add((which, pos + 1))
            if not following:
                continue
            reached = close(following)
            if reached not in seen:
                seen.add(reached)
                frontier.append(reached)
                best = max(best, size(reached))
    return min(best, cap)


def _unescaped(text: str, quoted: bool) -> list[int]:
    """The pattern as bytes (quoted as EventBridge stores it), with ``*`` as 0x2A only when it is a wildcard."""
    out = [0x22] if quoted else []
    data = text.encode("utf-8")
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x5C and index + 1 < len(data):
            out.append(-2 if data[index + 1] == 0x2A else data[index + 1])  # a literal star is not a wildcard
            index += 2
            continue
        out.append(byte)
        index += 1
    if quoted:
        out.append(0x22)
    return out


def _check_wildcard_complexity(branches: Sequence[Branch]) -> None:
    by_path: dict[str, list[str]] = {}
    for branch in branches:
        for clause in branch:
            for matcher in clause.matchers:
                if isinstance(matcher, Wildcard):
                    by_path.setdefault(clause.path, []).append(matcher.text)
    for texts in by_path.values():
        if wildcard_complexity(texts) > MAX_WILDCARD_COMPLEXITY:
            raise PatternError("Rule is too complex - try using fewer wildcard characters or fewer repeating "
                               "character sequences after a wildcard character")
