"""Wildcard helpers for policy strings: does one pattern cover another, can two patterns match a common string?

Policy actions and resources are globs (``*`` any run, ``?`` one character) that may also hold policy variables
(``${aws:username}``); the catalog's ARN templates hold placeholders (``${BucketName}``). The validator asks two
questions of them: can a resource pattern name a resource of some type (two globs *intersect*), and is one entry
made redundant by another (one glob *covers* a literal). ``fnmatch`` answers neither (it matches one literal
against one pattern and treats ``[`` specially), hence these few functions.
"""

from __future__ import annotations

import re
from functools import lru_cache

_VARIABLE = re.compile(r"\$\{[^}]*\}")
STAR = "\x00"  # a token that cannot occur in a policy string
ANY = "\x01"


def tokens(pattern: str, *, fold: bool = True) -> str:
    """``pattern`` with variables and ``*`` as :data:`STAR`, ``?`` as :data:`ANY` (lower-cased when ``fold``)."""
    text = _VARIABLE.sub("*", pattern)
    if fold:
        text = text.lower()
    return text.replace("*", STAR).replace("?", ANY)


@lru_cache(maxsize=65536)
def intersects(left: str, right: str) -> bool:
    """True when some string matches both token patterns (from :func:`tokens`)."""
    # Fast reject on the literal prefixes and suffixes before the dynamic programme.
    for a, b in ((left, right), (left[::-1], right[::-1])):
        for x, y in zip(a, b, strict=False):
            if x == STAR or y == STAR:
                break
            if x != y and ANY not in (x, y):
                return False
    n, m = len(left), len(right)
    # reach[i][j]: the suffixes left[i:] and right[j:] can match a common string.
    after = [False] * (m + 1)
    after[m] = True
    for j in range(m - 1, -1, -1):
        after[j] = right[j] == STAR and after[j + 1]
    for i in range(n - 1, -1, -1):
        row = [False] * (m + 1)
        row[m] = left[i] == STAR and after[m]
        for j in range(m - 1, -1, -1):
            a, b = left[i], right[j]
            if a == STAR:
                row[j] = after[j] or row[j + 1]  # the star matches nothing, or absorbs right[j]
            elif b == STAR:
                row[j] = row[j + 1] or after[j]
            else:
                row[j] = (a in (b, ANY) or b == ANY) and after[j + 1]
        after = row
    return after[0]


def covers(general: str, specific: str, *, fold: bool = True) -> bool:
    """True when every string ``specific`` matches is also matched by ``general`` (sound, not complete).

    Exact for a literal ``specific``; for a wildcard ``specific`` only the plain cases (``*``, a trailing ``*``
    prefix) are recognised, so it may answer False where the answer is True, never the reverse.
    """
    if fold:
        general, specific = general.lower(), specific.lower()
    if general == specific or general == "*":
        return True
    if "$" in specific or "$" in general or ("*" not in general and "?" not in general):
        return False
    if "*" not in specific and "?" not in specific:
        return _glob_regex(general).fullmatch(specific) is not None
    if general.endswith("*") and "*" not in general[:-1] and "?" not in general:
        return specific.startswith(general[:-1])
    return False


@lru_cache(maxsize=4096)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)
