"""The ``json`` format: one finding per line in the contract's JSON shape (``findings.jsonl``).

This is the lossless format: every other format is a projection of it, and :mod:`.reader` reads it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from cloudwarden.core.finding import Finding
from cloudwarden.findings.base import Writer, atomic_text


def finding_line(finding: Finding) -> str:
    """One finding as one line of JSON (secrets redacted, keys in contract order)."""
    return json.dumps(finding.redacted().to_json_dict(), ensure_ascii=False, separators=(",", ":"))


def write(findings: Sequence[Finding], path: Path) -> None:
    with atomic_text(path, newline="\n") as out:
        for finding in findings:
            out.write(finding_line(finding))
            out.write("\n")


WRITER = Writer("json", "findings.jsonl", write, "JSON Lines, one finding per line (the contract's shape)")
