"""A read-only view of a raw policy document that remembers where each value sits (its JSON pointer).

The grammar and the checks both look at the document exactly as written: a single statement object or a list,
an action string or a list, because IAM's messages and the issue locations depend on that. The typed policy model
(``iam/model.py``) normalises those forms away, so the validator keeps this thin view of its own instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cloudwarden.iam.validate.locate import escape_token

STRING_LIST_KEYS = ("Action", "NotAction", "Resource", "NotResource")


@dataclass(frozen=True, slots=True)
class Value:
    """One entry of a string-or-list element, with its pointer (``None`` for a JSON null in a list)."""

    text: str | None
    pointer: str


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement object and its pointer (``/Statement`` or ``/Statement/3``)."""

    raw: dict[str, Any]
    pointer: str
    index: int

    def at(self, *tokens: str | int) -> str:
        return self.pointer + "".join("/" + escape_token(str(t)) for t in tokens)

    @property
    def sid(self) -> str | None:
        sid = self.raw.get("Sid")
        return sid if isinstance(sid, str) else None

    @property
    def effect(self) -> str | None:
        effect = self.raw.get("Effect")
        return effect if isinstance(effect, str) else None

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    @property
    def is_deny(self) -> bool:
        return self.effect == "Deny"

    def values(self, key: str) -> list[Value]:
        """The entries of a string-or-list element (``Action``, ``Resource``...); [] when absent."""
        raw = self.raw.get(key)
        if isinstance(raw, str):
            return [Value(raw, self.at(key))]
        if isinstance(raw, list):
            return [Value(v if isinstance(v, str) else None, self.at(key, i)) for i, v in enumerate(raw)]
        return []

    def texts(self, key: str) -> list[str]:
        return [v.text for v in self.values(key) if v.text is not None]

    def conditions(self) -> Iterator[tuple[str, str, Any, str]]:
        """``(operator, key, value, pointer)`` for each condition entry (value as written: str, bool, list...)."""
        block = self.raw.get("Condition")
        if not isinstance(block, dict):
            return
        for operator, entries in block.items():
            if not isinstance(entries, dict):
                continue
            for key, value in entries.items():
                yield operator, key, value, self.at("Condition", operator, key)

    def condition_keys(self) -> set[str]:
        """Every condition key the statement tests, lower-cased."""
        return {key.lower() for _, key, _, _ in self.conditions()}


def statements(document: Any) -> list[Statement]:
    """The statement objects of a document with their pointers; non-objects are skipped."""
    if not isinstance(document, dict):
        return []
    raw = document.get("Statement")
    if isinstance(raw, dict):
        return [Statement(raw, "/Statement", 0)]
    if isinstance(raw, list):
        return [Statement(s, f"/Statement/{i}", i) for i, s in enumerate(raw) if isinstance(s, dict)]
    return []


def condition_values(value: Any) -> list[Any]:
    """A condition entry's values as a list (a scalar is a list of one)."""
    return value if isinstance(value, list) else [value]
