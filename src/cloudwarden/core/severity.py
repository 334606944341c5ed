"""Severity labels shared by every finding source, ordered so they compare."""

from __future__ import annotations

from enum import Enum
from functools import total_ordering

from cloudwarden.core.errors import BadInputError


@total_ordering
class Severity(str, Enum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    @classmethod
    def parse(cls, text: str, where: str = "severity") -> Severity:
        """Case-insensitive parse; ``INFO`` is accepted for ``INFORMATIONAL``."""
        key = text.strip().upper()
        if key == "INFO":
            key = "INFORMATIONAL"
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise BadInputError(where, f"unknown severity {text!r} (one of {names})") from None


_ORDER = [Severity.INFORMATIONAL, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
