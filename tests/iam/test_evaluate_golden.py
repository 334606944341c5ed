"""Golden cases written from the AWS documentation (``tests/iam/golden/*.jsonl``; each case names its doc page in
``doc``): the evaluator must reproduce every ``expect``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.iam import evaluate, read_cases

GOLDEN = Path(__file__).parent / "golden"


def _expected() -> list[tuple[str, dict[str, Any], str]]:
    out = []
    for path in sorted(GOLDEN.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                out.append((f"{path.stem}:{case['id']}", case["expect"], case["doc"]))
    return out


def _decisions() -> dict[str, dict[str, Any]]:
    got: dict[str, dict[str, Any]] = {}
    for path in sorted(GOLDEN.glob("*.jsonl")):
        for case in read_cases(path):
            if case.request is None:
                got[f"{path.stem}:{case.id}"] = {"decision": "error", "blocked_by": [], "error": case.error}
            else:
                got[f"{path.stem}:{case.id}"] = evaluate(case.request).to_json(case.id)
    return got


DECISIONS = _decisions()
EXPECTED = _expected()


def test_golden_files_are_substantial() -> None:
    assert len(EXPECTED) >= 150
    assert all(doc.strip() for _, _, doc in EXPECTED)


@pytest.mark.parametrize(("name", "expect", "doc"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_golden(name: str, expect: dict[str, Any], doc: str) -> None:
    got = DECISIONS[name]
    for field, value in expect.items():
        assert got[field] == value, f"{name} ({doc}): {field} {got[field]!r} != {value!r}; full: {got}"
    if expect["decision"] == "error":
        assert got.get("error"), "an error decision carries its reason"
