"""Map JSON pointers to line and column numbers in the JSON text they came from.

Issues carry an RFC 6901 pointer (``/Statement/1/Resource/0``); CI annotations need a line. The standard
``json`` module forgets positions, and the PyPI source-map packages are unmaintained, so this is a small scanner
of our own (about a hundred lines) that walks the text once and records where every value starts. It runs only
after ``json.loads`` accepted the text, so it can assume the text is valid JSON.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null|NaN|-?Infinity")


def escape_token(token: str) -> str:
    """One reference token of a pointer (``~`` -> ``~0``, ``/`` -> ``~1``)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    """A pointer from tokens: ``pointer("Statement", 0, "Action")`` -> ``/Statement/0/Action``."""
    return "".join("/" + escape_token(str(t)) for t in tokens)


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters


class Locator:
    """Where each value of one JSON text starts. Build with :meth:`from_text`."""

    def __init__(self, offsets: dict[str, int], line_starts: list[int]) -> None:
        self._offsets = offsets
        self._line_starts = line_starts

    @classmethod
    def from_text(cls, text: str) -> Locator:
        line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        offsets: dict[str, int] = {}
        _Scanner(text, offsets).value(_WS.match(text, 0).end(), "")  # type: ignore[union-attr]
        return cls(offsets, line_starts)

    def offset_position(self, offset: int) -> Position:
        index = bisect_right(self._line_starts, offset) - 1
        return Position(index + 1, offset - self._line_starts[index] + 1)

    def position(self, ptr: str) -> Position | None:
        """The start of the value at ``ptr``, or of its nearest existing ancestor; None for an empty text."""
        probe = ptr
        while True:
            offset = self._offsets.get(probe)
            if offset is not None:
                return self.offset_position(offset)
            if not probe:
                return None
            probe = probe[: probe.rfind("/")]


class _Scanner:
    def __init__(self, text: str, offsets: dict[str, int]) -> None:
        self.text = text
        self.offsets = offsets

    def _skip(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int, ptr: str) -> int:
        """Record ``ptr`` at ``pos`` and return the offset just past the value."""
        self.offsets[ptr] = pos
        char = self.text[pos : pos + 1]
        if char == "{":
            return self._object(pos + 1, ptr)
        if char == "[":
            return self._array(pos + 1, ptr)
        match = (_STRING if char == '"' else _SCALAR).match(self.text, pos)
        if match is None:
            raise ValueError(f"not JSON at offset {pos}")
        return match.end()

    def _object(self, pos: int, ptr: str) -> int:
        pos = self._skip(pos)
        if self.text[pos] == "}":
            return pos + 1
        while True:
            match = _STRING.match(self.text, pos)
            if match is None:
                raise ValueError(f"not JSON at offset {pos}")
            key = json.loads(match.group())
            pos = self._skip(match.end())
            pos = self._skip(pos + 1)  # the colon
            pos = self._skip(self.value(pos, f"{ptr}/{escape_token(key)}"))
            if self.text[pos] == "}":
                return pos + 1
            pos = self._skip(pos + 1)  # the comma

    def _array(self, pos: int, ptr: str) -> int:
        pos = self._skip(pos)
        if self.text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            pos = self._skip(self.value(pos, f"{ptr}/{index}"))
            index += 1
            if self.text[pos] == "]":
                return pos + 1
            pos = self._skip(pos + 1)
