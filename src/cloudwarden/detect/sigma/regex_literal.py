"""The literal text every match of a regular expression must contain, to test cheaply before the regex.

A Sigma ``|re`` value like ``.+:assumed-role/aws:.+`` is run by the engines' RE2 over every row, which
costs far more than a substring test; ``contains(x, ':assumed-role/aws:') AND regexp_matches(x, ...)``
gives the same answer (a row without the text cannot match) and lets the engine skip the regex for
almost every row. :func:`required_literal` reads only simple patterns: a sequence of plain characters,
escaped punctuation, ``.``, character classes, anchors and quantifiers. Anything else (alternation,
groups, flags such as ``(?i)``) yields None, which is always safe: the regex then runs alone.
Hand-written because no library answers this for RE2 patterns, and the subset is small.
"""

from __future__ import annotations

from typing import Final

# Shortest literal worth a separate test.
MIN_LITERAL: Final = 3
_ESCAPED_CLASSES: Final = frozenset("dDwWsSbBAzZpPQEC")


def required_literal(pattern: str) -> str | None:
    """The longest run of literal characters every match of ``pattern`` contains (at least
    :data:`MIN_LITERAL` long), or None when the pattern is not simple enough to tell."""
    runs: list[str] = []
    run: list[str] = []
    index = 0
    length = len(pattern)

    def cut() -> None:
        if run:
            runs.append("".join(run))
            run.clear()

    while index < length:
        char = pattern[index]
        if char in "|()":
            return None
        if char == "\\":
            if index + 1 >= length:
                return None
            nxt = pattern[index + 1]
            if nxt.isalnum() or nxt in _ESCAPED_CLASSES:
                atom: str | None = None  # \d, \w, \x41 ...: not a literal character
                if nxt in "xupPQEC" or nxt.isdigit():
                    return None  # hex escapes, classes and quoting we do not read
            else:
                atom = nxt
            index += 2
        elif char == "[":
            end = _class_end(pattern, index)
            if end is None:
                return None
            atom = None
            index = end + 1
        elif char in ".^$":
            atom = None
            index += 1
        elif char in "*+?{":
            return None  # a quantifier with nothing before it
        else:
            atom = char
            index += 1
        quantifier, index = _quantifier(pattern, index)
        if quantifier is None:
            return None
        if atom is None:
            cut()
        elif quantifier == "one":
            run.append(atom)
        elif quantifier == "at_least_one":
            run.append(atom)  # present once, but what follows need not come right after it
            cut()
        else:  # may be absent
            cut()
    cut()
    best = max(runs, key=len, default="")
    return best if len(best) >= MIN_LITERAL else None


def _class_end(pattern: str, start: int) -> int | None:
    """Index of the ``]`` closing the class opened at ``start``."""
    index = start + 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":
        index += 1
    while index < len(pattern):
        if pattern[index] == "\\":
            index += 2
            continue
        if pattern[index] == "[":
            return None  # [[:alpha:]] and the like
        if pattern[index] == "]":
            return index
        index += 1
    return None


def _quantifier(pattern: str, index: int) -> tuple[str | None, int]:
    """The quantifier at ``index``: ``one`` (none), ``at_least_one``, ``optional``; None if unreadable."""
    if index >= len(pattern):
        return "one", index
    char = pattern[index]
    if char in "*?":
        kind = "optional"
        index += 1
    elif char == "+":
        kind = "at_least_one"
        index += 1
    elif char == "{":
        end = pattern.find("}", index)
        if end < 0:
            return None, index
        body = pattern[index + 1:end]
        low = body.split(",", 1)[0].strip()
        if not low.isdigit():
            return None, index
        kind = "optional" if int(low) == 0 else "at_least_one"
        index = end + 1
    else:
        return "one", index
    if index < len(pattern) and pattern[index] in "?+":
        index += 1  # lazy or possessive: the same characters are required
    return kind, index
