"""The JSONPath subset of Amazon States Language: parsing, selecting, and ``ResultPath`` placement.

Written by hand rather than on a JSONPath library because ASL's semantics are not a library's: a
*definite* path (names and indices only) yields one value and fails when it is absent, an *indefinite*
one (``[*]``, slices, unions, filters, ``..``) yields a list, ``$$`` addresses the context object, and
``ResultPath`` is a *reference path* that builds the objects it walks through. Those rules are most of
the work; the grammar itself is small::

    path      := ("$" | "$$") segment*
    segment   := "." name | ".*" | ".." name | "['" name "']" | "[" int "]" | "[*]"
               | "[" int? ":" int? "]" | "[" int ("," int)+ "]" | "[?(@.name op literal)]" | "[?(@.name)]"

Filters compare one field of each element with a JSON literal (``==``, ``!=``, ``<``, ``<=``, ``>``,
``>=``) or test that it exists, which covers what playbooks use.
"""

from __future__ import annotations

import copy
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final


class PathSyntaxError(ValueError):
    """A path that is not valid ASL JSONPath; the message says where."""


class PathNotFound(LookupError):
    """A definite path that selects nothing in the document."""


@dataclass(frozen=True)
class Segment:
    kind: str  # name | index | wildcard | slice | union | filter | descend
    name: str = ""
    index: int = 0
    start: int | None = None
    stop: int | None = None
    indices: tuple[int, ...] = ()
    op: str = ""
    literal: Any = None


_DEFINITE: Final = frozenset({"name", "index"})
_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
}


@dataclass(frozen=True)
class Path:
    text: str
    context: bool  # ``$$``: the context object, not the state's input
    segments: tuple[Segment, ...]

    @property
    def definite(self) -> bool:
        return all(s.kind in _DEFINITE for s in self.segments)


def parse_path(text: str) -> Path:
    """Parse ``text``; :class:`PathSyntaxError` says what is wrong and where."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"{text!r}: a path starts with '$'")
    context = text.startswith("$$")
    pos = 2 if context else 1
    segments: list[Segment] = []
    while pos < len(text):
        segment, pos = _segment(text, pos)
        segments.append(segment)
    return Path(text, context, tuple(segments))


def is_reference_path(text: str) -> bool:
    """A reference path: names and indices only (what ``ResultPath`` and ``Variable`` accept)."""
    try:
        path = parse_path(text)
    except PathSyntaxError:
        return False
    return not path.context and path.definite


def _segment(text: str, pos: int) -> tuple[Segment, int]:
    if text.startswith("..", pos):
        name, end = _name(text, pos + 2)
        return Segment("descend", name=name), end
    if text[pos] == ".":
        if text.startswith(".*", pos):
            return Segment("wildcard"), pos + 2
        name, end = _name(text, pos + 1)
        return Segment("name", name=name), end
    if text[pos] == "[":
        close = _closing(text, pos)
        inner = text[pos + 1:close].strip()
        return _bracket(text, pos, inner), close + 1
    raise PathSyntaxError(f"{text!r}: unexpected {text[pos]!r} at position {pos}")


def _name(text: str, pos: int) -> tuple[str, int]:
    end = pos
    while end < len(text) and text[end] not in ".[":
        end += 1
    name = text[pos:end]
    if not name or any(ch.isspace() for ch in name):
        raise PathSyntaxError(f"{text!r}: expected a field name at position {pos}")
    return name, end


def _closing(text: str, pos: int) -> int:
    quote: str | None = None
    for index in range(pos + 1, len(text)):
        ch = text[index]
        if quote:
            if ch == "\\":
                continue
            if ch == quote and text[index - 1] != "\\":
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "]":
            return index
    raise PathSyntaxError(f"{text!r}: '[' at position {pos} is never closed")


def _bracket(text: str, pos: int, inner: str) -> Segment:
    where = f"{text!r}: bracket at position {pos}"
    if inner == "*":
        return Segment("wildcard")
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return Segment("name", name=inner[1:-1].replace("\\" + inner[0], inner[0]))
    if inner.startswith("?(") and inner.endswith(")"):
        return _filter(inner[2:-1].strip(), where)
    try:
        if ":" in inner:
            start, _, stop = inner.partition(":")
            return Segment("slice", start=int(start) if start.strip() else None,
                           stop=int(stop) if stop.strip() else None)
        if "," in inner:
            return Segment("union", indices=tuple(int(part) for part in inner.split(",")))
        return Segment("index", index=int(inner))
    except ValueError:
        raise PathSyntaxError(f"{where}: {inner!r} is not an index, slice, name or filter") from None


def _filter(expression: str, where: str) -> Segment:
    if not expression.startswith("@."):
        raise PathSyntaxError(f"{where}: a filter tests a field of '@' (like @.name == 'x')")
    for symbol in ("==", "!=", "<=", ">=", "<", ">"):
        left, found, right = expression.partition(symbol)
        if found:
            try:
                literal = json.loads(_double_quoted(right.strip()))
            except json.JSONDecodeError:
                raise PathSyntaxError(f"{where}: {right.strip()!r} is not a JSON literal") from None
            return Segment("filter", name=left.strip()[2:], op=symbol, literal=literal)
    return Segment("filter", name=expression[2:].strip(), op="exists")


def _double_quoted(literal: str) -> str:
    if len(literal) >= 2 and literal[0] == literal[-1] == "'":
        return json.dumps(literal[1:-1])
    return literal


# --- selecting -------------------------------------------------------------------------------------------


def select(path: Path | str, data: Any, context: Any = None) -> Any:
    """The value ``path`` selects: one value for a definite path (else :class:`PathNotFound`), a list for
    an indefinite one."""
    if isinstance(path, str):
        path = parse_path(path)
    nodes = [context if path.context else data]
    for segment in path.segments:
        nodes = [found for node in nodes for found in _step(segment, node)]
        if path.definite and not nodes:
            raise PathNotFound(f"the path {path.text!r} selects nothing")
    if path.definite:
        return nodes[0]
    return nodes


def _step(segment: Segment, node: Any) -> list[Any]:
    kind = segment.kind
    if kind == "name":
        return [node[segment.name]] if isinstance(node, dict) and segment.name in node else []
    if kind == "index":
        if isinstance(node, list) and -len(node) <= segment.index < len(node):
            return [node[segment.index]]
        return []
    if kind == "wildcard":
        if isinstance(node, dict):
            return list(node.values())
        return list(node) if isinstance(node, list) else []
    if kind == "slice":
        return list(node[segment.start:segment.stop]) if isinstance(node, list) else []
    if kind == "union":
        return [node[i] for i in segment.indices if isinstance(node, list) and -len(node) <= i < len(node)]
    if kind == "filter":
        items = node if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else []
        return [item for item in items if _keep(segment, item)]
    return _descend(segment.name, node)


def _keep(segment: Segment, item: Any) -> bool:
    if not isinstance(item, dict) or segment.name not in item:
        return False
    if segment.op == "exists":
        return True
    try:
        return bool(_OPS[segment.op](item[segment.name], segment.literal))
    except TypeError:
        return False


def _descend(name: str, node: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(node, dict):
        if name in node:
            found.append(node[name])
        for value in node.values():
            found.extend(_descend(name, value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_descend(name, value))
    return found


# --- placing (ResultPath) ----------------------------------------------------------------------------------


class ResultPathMismatch(ValueError):
    """``ResultPath`` walks through something that is not an object (``States.ResultPathMatchFailure``)."""


def place(result_path: str | None, raw_input: Any, result: Any) -> Any:
    """ASL ``ResultPath``: ``None`` keeps the input, ``"$"`` is the result, else the input with the result
    set at the reference path (intermediate objects created; the input itself is not modified)."""
    if result_path is None:
        return raw_input
    path = parse_path(result_path)
    if path.context or not path.definite:
        raise PathSyntaxError(f"{result_path!r}: ResultPath must be a reference path (names and indices)")
    if not path.segments:
        return result
    if not isinstance(raw_input, dict):
        raise ResultPathMismatch(f"cannot apply ResultPath {result_path!r}: the state's input is not an object")
    document = copy.deepcopy(raw_input)
    node: Any = document
    for position, segment in enumerate(path.segments):
        last = position == len(path.segments) - 1
        if segment.kind == "name":
            if not isinstance(node, dict):
                raise ResultPathMismatch(f"cannot apply ResultPath {result_path!r}: {segment.name!r} is "
                                         "inside something that is not an object")
            if last:
                node[segment.name] = result
            else:
                node = node.setdefault(segment.name, {})
        else:
            if not isinstance(node, list) or not -len(node) <= segment.index < len(node):
                raise ResultPathMismatch(f"cannot apply ResultPath {result_path!r}: no element {segment.index}")
            if last:
                node[segment.index] = result
            else:
                node = node[segment.index]
    return document
