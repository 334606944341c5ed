"""What every finding writer shares: the :class:`Writer` record the registry holds, and an atomic file write.

A writer is a name, a default file name and a pure ``write(findings, path)``; the registry maps format names
to writers, so adding a format is one module and one entry. Files are written to a temporary sibling and
renamed into place, so a crash never leaves half a report where a pipeline expects a whole one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from cloudwarden.core.errors import RuntimeFailure
from cloudwarden.core.finding import Finding

PRODUCT_NAME = "cloudwarden"
PRODUCT_VENDOR = "cloudwarden"


def product_version() -> str:
    """The installed package's version (read lazily: no import-time work)."""
    from cloudwarden import __version__

    return str(__version__)


@dataclass(frozen=True)
class Writer:
    """One output format: ``write(findings, path)`` writes them all to ``path``."""

    name: str
    filename: str
    write: Callable[[Sequence[Finding], Path], None]
    description: str = ""


@contextmanager
def atomic_text(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path`` for text; on success it replaces ``path`` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise RuntimeFailure(f"{path}: cannot write ({exc.strerror or exc})") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
