"""Read findings back: ``findings.jsonl``, or a file holding one finding (``respond run --finding FILE``).

Bad input stops with :class:`BadInputError` naming the file, the line and the field, and nothing is
half-read: either every finding in the file comes back or none does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding


def read_findings(path: Path | str) -> list[Finding]:
    """Every finding in ``path``: JSON Lines, a single JSON object, or a JSON array of objects."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputError(str(path), "no such file") from None
    except IsADirectoryError:
        raise BadInputError(str(path), "is a directory, not a findings file") from None
    except UnicodeDecodeError as exc:
        raise BadInputError(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        return []
    if path.suffix != ".jsonl":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":  # several documents: fall through to JSON Lines
                raise BadInputError(f"{path}:{exc.lineno}", f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        else:
            if isinstance(whole, list):
                return [_finding(item, f"{path}: item {index}") for index, item in enumerate(whole)]
            return [_finding(whole, f"{path}:1")]
    return _read_lines(path, text)


def _read_lines(path: Path, text: str) -> list[Finding]:
    findings: list[Finding] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(where, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        findings.append(_finding(data, where))
    return findings


def _finding(data: Any, where: str) -> Finding:
    if not isinstance(data, dict):
        raise BadInputError(where, f"expected a JSON object (one finding), got {type(data).__name__}")
    try:
        return Finding.from_json_dict(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(finding)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise BadInputError(where, f"field {field!r}: {first['msg']}{more}") from None
