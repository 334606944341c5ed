"""IAM policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'default'}``, ``${*}``, ``${?}``, ``${$}``.

A string in a ``Resource``/``NotResource`` element or in a ``String*``/``Arn*`` condition value of a
``"Version": "2012-10-17"`` policy is split once, at parse time, into a :class:`Template`: literal text, wildcard
tokens (``*``/``?``, meaningful only where the element or operator globs) and variable references. At evaluation
the variables are looked up in the request context and substituted **literally**: a ``*`` inside a substituted value
is an asterisk, never a wildcard (IAM User Guide, "IAM policy elements: Variables and tags"). ``${*}``, ``${?}`` and
``${$}`` are literal characters for the same reason.

A variable naming a key the request does not carry, and no default, makes the element unusable: AWS says "any
attempt to match it fails and causes the statement to be invalid", so the evaluator treats the statement as not
applying (neither allowing nor denying) and reports the key as missing. Multivalued keys cannot be variables.

In policies without ``"Version": "2012-10-17"`` (``2008-10-17`` or none) ``${...}`` is plain text.
Hand-written: the syntax is small and the literal-substitution rule is what matters; no library implements it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "Literal",
    "MultivaluedVariable",
    "Template",
    "UnresolvedVariable",
    "Variable",
    "Wildcard",
    "parse_template",
]

# ${key} or ${key, 'default'}; the key is anything up to "}" or ","; the default is quoted with single quotes.
_VARIABLE = re.compile(r"\$\{\s*([^},']+?)\s*(?:,\s*'([^']*)'\s*)?\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Literal:
    text: str


@dataclass(frozen=True, slots=True)
class Wildcard:
    char: str  # "*" or "?"


@dataclass(frozen=True, slots=True)
class Variable:
    key: str  # as written, e.g. "aws:PrincipalTag/team"
    lower_key: str
    default: str | None


Part = Literal | Wildcard | Variable


class UnresolvedVariable(Exception):
    """A variable's key is absent from the request context and it has no default."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


class MultivaluedVariable(Exception):
    """A variable names a multivalued key; AWS does not allow it, so nothing exact can be said."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed string: the original text plus its parts. ``has_variables`` is False for most policy strings."""

    text: str
    parts: tuple[Part, ...]
    has_variables: bool
    has_wildcards: bool

    def variable_keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.parts if isinstance(p, Variable))

    def resolve(self, context: Mapping[str, str | Sequence[str]]) -> tuple[tuple[str, bool], ...]:
        """Substitute variables; returns ``(text, is_wildcard)`` runs. Raises :class:`UnresolvedVariable`."""
        runs: list[tuple[str, bool]] = []
        for part in self.parts:
            if isinstance(part, Literal):
                runs.append((part.text, False))
            elif isinstance(part, Wildcard):
                runs.append((part.char, True))
            else:
                value = context.get(part.lower_key)
                if value is None or (not isinstance(value, str) and len(value) == 0):
                    if part.default is None:
                        raise UnresolvedVariable(part.key)
                    runs.append((part.default, False))
                elif isinstance(value, str):
                    runs.append((value, False))
                elif len(value) == 1:
                    runs.append((value[0], False))
                else:
                    raise MultivaluedVariable(part.key)
        return tuple(runs)

    def resolve_text(self, context: Mapping[str, str | Sequence[str]]) -> str:
        """The substituted string with wildcard characters kept as they are (for non-glob comparisons)."""
        return "".join(text for text, _ in self.resolve(context))


def parse_template(text: str, *, variables: bool, wildcards: bool) -> Template:
    """Split ``text`` into parts. ``variables``: the policy is 2012-10-17; ``wildcards``: ``*``/``?`` glob here."""
    parts: list[Part] = []
    buf: list[str] = []
    has_var = False
    has_wild = False

    def flush() -> None:
        if buf:
            parts.append(Literal("".join(buf)))
            buf.clear()

    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if variables and c == "$" and text.startswith("${", i):
            special = text[i + 2 : i + 4]
            if len(special) == 2 and special[1] == "}" and special[0] in _SPECIAL:
                buf.append(_SPECIAL[special[0]])
                i += 4
                continue
            m = _VARIABLE.match(text, i)
            if m is not None:
                flush()
                key = m.group(1)
                parts.append(Variable(key=key, lower_key=key.lower(), default=m.group(2)))
                has_var = True
                i = m.end()
                continue
        if wildcards and c in "*?":
            flush()
            parts.append(Wildcard(c))
            has_wild = True
            i += 1
            continue
        buf.append(c)
        i += 1
    flush()
    return Template(text=text, parts=tuple(parts), has_variables=has_var, has_wildcards=has_wild)
