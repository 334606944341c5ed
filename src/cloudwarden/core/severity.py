"""Severity labels shared by every finding source, ordered so they compare."""

from __future__ import annotations

from enum import StrEnum

from cloudwarden.core.errors import BadInputError


class Severity(StrEnum):
    """Ordered by rank, not alphabetically (``str`` comparison would be wrong, so all four are defined)."""

    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        return self.rank < _rank(other)

    def __le__(self, other: object) -> bool:
        return self.rank <= _rank(other)

    def __gt__(self, other: object) -> bool:
        return self.rank > _rank(other)

    def __ge__(self, other: object) -> bool:
        return self.rank >= _rank(other)

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


def _rank(other: object) -> int:
    if not isinstance(other, Severity):
        raise TypeError(f"cannot compare Severity with {type(other).__name__}")
    return other.rank
