"""Cheap prerequisites of rule conditions, so the rule pass reads only the rows some rule could match.

Almost every rule names the API calls it is about (``event_name = 'StopLogging'``, Sigma's
``lower(event_name) IN ('deletetrail', ...)``, ``event_source = 'iam.amazonaws.com'``) as a top-level
conjunct of its condition. Such a conjunct is a *prerequisite*: no row fails it and matches the rule.
:func:`prerequisite` finds one in a condition's SQL text; the engine then selects, in one scan, the rows
that satisfy any rule's prerequisite (:func:`candidate_sql`, a few ``IN`` lists over two short columns)
and runs those rules over that small table instead of the whole one. Rules without a prerequisite (an
identity-type or user-agent condition, a whole-``sql`` rule) keep reading the whole table, so the
findings are the same either way.

The analysis is conservative on purpose: it reads only ``AND``/``OR`` structure at parenthesis depth
zero (outside string literals) and atoms of exactly the shapes ``COL = 'v'`` and ``COL IN ('v', ...)``
for ``COL`` one of :data:`KEY_COLUMNS`; any other construct at the level being split (``CASE``,
``BETWEEN``, ``NOT`` in front of a group) makes it give up and report no prerequisite, which is always
correct. Hand-written rather than through a SQL parser (sqlglot): the shapes are few and fixed, and a
parser would add a dependency and its import time to every run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

# Column expressions a prerequisite may test (the spelling native rules and compiled Sigma rules use), most
# selective first; ``intel_ip`` stands for ``source_ip IN (SELECT ip FROM intel_ip WHERE category = ...)``
# (the threat-intel table holds only the listed addresses present in the events: a handful of rows).
KEY_COLUMNS: Final = ("intel_ip", "event_name", "lower(event_name)", "event_source", "lower(event_source)")
_RANK: Final = {"intel_ip": 0, "event_name": 1, "lower(event_name)": 1, "event_source": 2, "lower(event_source)": 2}

_LITERAL_RE: Final = r"'(?:[^']|'')*'"
_KEY_RE: Final = r"(lower\s*\(\s*(?:event_name|event_source)\s*\)|event_name|event_source)"
_EQUALS: Final = re.compile(rf"^{_KEY_RE}\s*=\s*({_LITERAL_RE})$", re.IGNORECASE)
_IN: Final = re.compile(rf"^{_KEY_RE}\s+IN\s*\(\s*({_LITERAL_RE}(?:\s*,\s*{_LITERAL_RE})*)\s*\)$", re.IGNORECASE)
_INTEL: Final = re.compile(
    rf"^source_ip\s+IN\s*\(\s*SELECT\s+ip\s+FROM\s+intel_ip\s+WHERE\s+category\s*=\s*({_LITERAL_RE})\s*\)$",
    re.IGNORECASE)
_ONE_LITERAL: Final = re.compile(_LITERAL_RE)
_WORD: Final = re.compile(r"[A-Za-z_]+")
# Keywords whose AND (or whole shape) the depth-zero split would misread.
_OPAQUE: Final = frozenset({"case", "when", "then", "else", "end", "between", "exists", "select"})


@dataclass(frozen=True)
class Prerequisite:
    """For the condition to hold, some ``column`` of ``terms`` must equal one of its values."""

    terms: tuple[tuple[str, frozenset[str]], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.terms)


def prerequisite(condition: str, *, intel: bool = True) -> Prerequisite | None:
    """A prerequisite of the SQL boolean ``condition``, or None when none is found.

    ``a AND b``: a prerequisite of either side (event names preferred over event sources, then the one
    with fewer values). ``a OR b``: only when both sides have one (their terms united). Without ``intel``,
    threat-intel atoms are not prerequisites (before the intel tables are filled, nothing can test them).
    """
    found = _prerequisites(condition, intel)
    if not found:
        return None
    return Prerequisite(tuple((column, frozenset(found[column])) for column in KEY_COLUMNS if column in found))


def _prerequisites(text: str, intel: bool = True) -> dict[str, set[str]] | None:
    """Column -> values such that the condition implies ``column IN values`` for *some* listed column."""
    expr = _strip_parens(text.strip())
    if not expr or "--" in _mask_literals(expr) or "/*" in _mask_literals(expr):
        return None
    parts = _split_top(expr, "or")
    if parts is None:
        return None
    if len(parts) > 1:
        united: dict[str, set[str]] = {}
        for part in parts:
            found = _prerequisites(part, intel)
            if not found:
                return None
            for column, values in found.items():
                united.setdefault(column, set()).update(values)
        return united
    conjuncts = _split_top(expr, "and")
    if conjuncts is None:
        return None
    if len(conjuncts) > 1:
        best: dict[str, set[str]] | None = None
        for conjunct in conjuncts:
            found = _prerequisites(conjunct, intel)
            if found and (best is None or _size(found) < _size(best)):
                best = found
        return best
    return _atom(expr, intel)


def _size(found: dict[str, set[str]]) -> tuple[int, int]:
    """Smaller is more selective: threat-intel hits, then event names (hundreds of APIs), then event sources."""
    return (max(_RANK[column] for column in found), sum(len(v) for v in found.values()))


def _atom(expr: str, intel: bool = True) -> dict[str, set[str]] | None:
    listed = _INTEL.match(expr)
    if listed is not None:
        return {"intel_ip": {listed.group(1)[1:-1].replace("''", "'")}} if intel else None
    match = _EQUALS.match(expr) or _IN.match(expr)
    if match is None:
        return None
    column = re.sub(r"\s+", "", match.group(1)).lower()
    values = {literal[1:-1].replace("''", "'") for literal in _ONE_LITERAL.findall(match.group(2))}
    return {column: values}


def _mask_literals(text: str) -> str:
    """``text`` with every string literal's content blanked (same length), so keywords inside are ignored."""
    return re.sub(_LITERAL_RE, lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", text)


def _strip_parens(expr: str) -> str:
    """``expr`` without parentheses that enclose all of it."""
    while expr.startswith("(") and expr.endswith(")"):
        masked = _mask_literals(expr)
        depth = 0
        for index, char in enumerate(masked):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and index < len(masked) - 1:
                return expr
        expr = expr[1:-1].strip()
    return expr


def _split_top(expr: str, keyword: str) -> list[str] | None:
    """``expr`` split on ``keyword`` at depth zero; None when depth zero holds a construct not understood."""
    masked = _mask_literals(expr)
    depth = 0
    cuts: list[tuple[int, int]] = []
    position = 0
    for match in _WORD.finditer(masked):
        depth += masked.count("(", position, match.start()) - masked.count(")", position, match.start())
        position = match.start()
        if depth != 0:
            continue
        word = match.group(0).lower()
        if word in _OPAQUE:
            return None
        if word == keyword and _separated(masked, match.start(), match.end()):
            cuts.append((match.start(), match.end()))
    parts: list[str] = []
    start = 0
    for begin, end in cuts:
        parts.append(expr[start:begin].strip())
        start = end
    parts.append(expr[start:].strip())
    return parts


def _separated(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a whole word (not part of an identifier)."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or before in "_.\"") and not (after.isalnum() or after in "_\"")


def candidate_sql(prerequisites: Iterable[Prerequisite]) -> str:
    """A condition true for every row satisfying any of ``prerequisites`` (one ``IN`` list per column)."""
    by_column: dict[str, set[str]] = {}
    for item in prerequisites:
        for column, values in item.terms:
            by_column.setdefault(column, set()).update(values)
    parts = []
    for column in KEY_COLUMNS:
        wanted = by_column.get(column)
        if wanted:
            listed = ", ".join("'" + value.replace("'", "''") + "'" for value in sorted(wanted))
            parts.append(f"source_ip IN (SELECT ip FROM intel_ip WHERE category IN ({listed}))"
                         if column == "intel_ip" else f"{column} IN ({listed})")
    return " OR ".join(parts) if parts else "false"


def rule_prerequisite(conditions: Sequence[str], *, intel: bool = True) -> list[Prerequisite] | None:
    """Prerequisites of every condition a rule evaluates (a sequence has two), or None if one has none."""
    found = [prerequisite(condition, intel=intel) for condition in conditions]
    return None if any(item is None for item in found) else [item for item in found if item is not None]


class EventCount(NamedTuple):
    """How many rows of a table have one (event name, event source), with both as SQL's ``lower()`` gives them
    (the engine's own case mapping, which need not be Python's for every character)."""

    name: str | None
    source: str | None
    name_lower: str | None
    source_lower: str | None
    rows: int


# The counts :func:`matching_rows` and :func:`candidate_names_sql` read, from the ``cloudtrail`` table.
EVENT_COUNTS_SQL: Final = ("SELECT event_name, event_source, lower(event_name), lower(event_source), rows FROM "
                           "(SELECT event_name, event_source, count(*) AS rows FROM cloudtrail "
                           "GROUP BY event_name, event_source) AS _c")


def _satisfies(item: Prerequisite, count: EventCount) -> bool:
    values = {"event_name": count.name, "lower(event_name)": count.name_lower,
              "event_source": count.source, "lower(event_source)": count.source_lower}
    return any(column != "intel_ip" and values[column] in wanted for column, wanted in item.terms)


def matching_rows(item: Prerequisite, stats: Iterable[EventCount]) -> int | None:
    """How many rows satisfy ``item``, from a table's :class:`EventCount` rows; None when it tests
    threat-intel hits (not in the counts; a handful of listed addresses, so assumed few)."""
    if any(column == "intel_ip" for column, _ in item.terms):
        return None
    return sum(count.rows for count in stats if _satisfies(item, count))


def candidate_names_sql(prerequisites: Iterable[Prerequisite], stats: Iterable[EventCount]) -> str:
    """Like :func:`candidate_sql`, for a table with the given :class:`EventCount` rows, as one
    ``event_name IN (...)`` list of the names present there: the same rows or more, for one cheap
    comparison per row instead of several lists and ``lower()`` calls."""
    items = list(prerequisites)
    intel = sorted({value for item in items for column, values in item.terms if column == "intel_ip"
                    for value in values})
    names: set[str] = set()
    null_name = False
    for count in stats:
        if any(_satisfies(item, count) for item in items):
            if count.name is None:
                null_name = True
            else:
                names.add(count.name)
    parts = []
    if intel:
        listed = ", ".join(_quote(value) for value in intel)
        parts.append(f"source_ip IN (SELECT ip FROM intel_ip WHERE category IN ({listed}))")
    if names:
        parts.append(f"event_name IN ({', '.join(_quote(name) for name in sorted(names))})")
    if null_name:
        parts.append("event_name IS NULL")
    return " OR ".join(parts) if parts else "false"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
