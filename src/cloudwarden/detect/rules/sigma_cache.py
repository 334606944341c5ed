"""Compiled Sigma rules kept on disk, so that a run with ``--rules`` neither imports pySigma nor compiles again.

Importing pySigma and compiling SigmaHQ's 57 AWS CloudTrail rules costs ~0.3 s, a quarter of a small
incremental run (a scheduled ``detect`` reading the last few minutes of CloudTrail). The compiled rules (our
:class:`~cloudwarden.detect.rules.model.Rule` model as JSON, with the rules left out and why) are stored
under a key made of everything they depend on: each Sigma file's path and bytes, pySigma's version,
cloudwarden's version and the source of the compiler (the ``cloudwarden.detect.sigma`` package and the rule
model). An edited rule, an upgraded pySigma or a changed compiler therefore compiles afresh; a file that fails
to compile is never stored (its error is raised every time).

Entries live under ``$XDG_CACHE_HOME/cloudwarden/sigma`` (default ``~/.cache/cloudwarden/sigma``), are written
atomically (a temporary file renamed) and the oldest beyond :data:`KEEP` are removed. ``CLOUDWARDEN_CACHE=off``
turns the cache off. A cache that cannot be read or written, or an entry that is not what it should be, is
ignored: the rules are compiled as if there were no cache.

Written here because the rules are our own pydantic model: a general memoizer (joblib, diskcache) would pickle
them, and a pickle read back from a shared directory can run code; this is JSON checked by the model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from importlib import util
from pathlib import Path
from typing import Final

from pydantic import ValidationError

from cloudwarden import __version__
from cloudwarden.detect.rules.model import Rule

FORMAT: Final = 1
KEEP: Final = 16  # entries kept (one per set of Sigma files and versions)
_COMPILER: Final = ("cloudwarden.detect.sigma", "cloudwarden.detect.rules.model")


def cache_dir() -> Path | None:
    """Where entries live; None when ``CLOUDWARDEN_CACHE=off``."""
    if os.environ.get("CLOUDWARDEN_CACHE", "").lower() in {"off", "0", "false", "no"}:
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cloudwarden" / "sigma"


def key(files: Sequence[Path]) -> str | None:
    """The entry key of ``files`` (paths and contents), pySigma's and cloudwarden's versions and the compiler's
    source; None when one of them cannot be read (no caching then)."""
    digest = hashlib.sha256(f"format {FORMAT}\0cloudwarden {__version__}\0pysigma {_pysigma_version()}\0".encode())
    try:
        for source in _compiler_sources():
            digest.update(source.read_bytes() + b"\0")
        for file in files:
            digest.update(str(file).encode() + b"\0" + Path(file).read_bytes() + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


def get(entry: str) -> tuple[list[Rule], list[tuple[str, str]]] | None:
    """The rules and left-out rules stored under ``entry``, or None (absent, unreadable or not valid)."""
    root = cache_dir()
    if root is None:
        return None
    try:
        data = json.loads((root / f"{entry}.json").read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("key") != entry:
            return None
        rules = [Rule.model_validate(rule) for rule in data["rules"]]
        unsupported = [(str(path), str(why)) for path, why in data["unsupported"]]
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None
    return rules, unsupported


def put(entry: str, rules: Sequence[Rule], unsupported: Sequence[tuple[str, str]]) -> None:
    """Store ``rules`` and ``unsupported`` under ``entry`` (quietly not, when the cache cannot be written)."""
    root = cache_dir()
    if root is None:
        return
    document = {"format": FORMAT, "key": entry, "rules": [rule.model_dump(mode="json") for rule in rules],
                "unsupported": [list(item) for item in unsupported]}
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, staged = tempfile.mkstemp(dir=root, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out)
        os.replace(staged, root / f"{entry}.json")
        _prune(root)
    except OSError:
        return


def _prune(root: Path) -> None:
    entries = sorted(root.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _compiler_sources() -> list[Path]:
    sources: list[Path] = []
    for name in _COMPILER:
        spec = util.find_spec(name)
        if spec is None or spec.origin is None:
            raise OSError(f"cannot find {name}")
        origin = Path(spec.origin)
        sources.extend(sorted(origin.parent.glob("*.py")) if origin.name == "__init__.py" else [origin])
    return sources


def _pysigma_version() -> str:
    """pySigma's version from its install's metadata directory name (``pysigma-2.0.1.dist-info``); reading it
    through ``importlib.metadata`` would cost more than the cache saves on a small run."""
    spec = util.find_spec("sigma")
    if spec is None or spec.origin is None:
        return "absent"
    names = sorted(p.name for p in Path(spec.origin).parent.parent.glob("pysigma-*.dist-info"))
    if names:
        return names[-1]
    from importlib import metadata  # an install laid out otherwise (a zip, an egg): the slow way

    try:
        return metadata.version("pysigma")
    except metadata.PackageNotFoundError:
        return "unknown"
