"""Table-driven control cases: (control, subject document, context documents, expected status, reason part)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.posture import docs as d


@dataclass(frozen=True)
class Case:
    control: str
    subject: Callable[[], dict[str, Any]]
    expected: str | None  # PASSED | FAILED | NOT_AVAILABLE | None (does not apply)
    reason: str = ""
    context: Callable[[], Sequence[dict[str, Any]]] = field(default=lambda: ())

    @property
    def id(self) -> str:
        return f"{self.control}-{self.expected}-{self.reason[:30]}"


def check(case: Case) -> None:
    found = d.verdict_of(case.control, case.subject(), *case.context())
    status = None if found is None else found.status.value
    assert status == case.expected, f"{case.control}: {status} ({found.reason if found else ''})"
    if found is not None and case.reason:
        assert case.reason in found.reason, found.reason


def covered(cases: Sequence[Case], prefix: str | tuple[str, ...]) -> dict[str, set[str | None]]:
    out: dict[str, set[str | None]] = {}
    for case in cases:
        if case.control.startswith(prefix):
            out.setdefault(case.control, set()).add(case.expected)
    return out
