"""The one place format names resolve to writers (``--format json,asff,...``).

``html`` is a format name too, but the report package renders it and the caller dispatches it:
:func:`write_findings` skips it, and rejects any other name it does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.findings import asff, csv, jsonl, ocsf, sarif
from cloudwarden.findings.base import Writer

WRITERS: Final[dict[str, Writer]] = {
    writer.name: writer for writer in (jsonl.WRITER, asff.WRITER, ocsf.WRITER, sarif.WRITER, csv.WRITER)
}
# Format names that are valid but written by someone else (the report package).
CALLER_FORMATS: Final = frozenset({"html"})


def write_findings(findings: Sequence[Finding], output_dir: Path, formats: Iterable[str]) -> dict[str, Path]:
    """Write ``findings`` in each format into ``output_dir``; returns format name -> file written.

    Unknown names fail before anything is written; ``html`` is skipped (see module docstring).
    """
    names = list(dict.fromkeys(name.strip().lower() for name in formats if name.strip()))
    unknown = [name for name in names if name not in WRITERS and name not in CALLER_FORMATS]
    if unknown:
        known = ",".join([*WRITERS, *sorted(CALLER_FORMATS)])
        raise BadInputError("--format", f"unknown format {','.join(unknown)} (one of {known})")
    written: dict[str, Path] = {}
    for name in names:
        writer = WRITERS.get(name)
        if writer is None:
            continue
        path = output_dir / writer.filename
        writer.write(findings, path)
        written[name] = path
    return written
