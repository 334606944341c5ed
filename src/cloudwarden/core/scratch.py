"""Scratch directories that a later run can tell are abandoned, and the sweep that removes them.

A detection run keeps its scratch in the temporary directory: the loader's JSON Lines batches (up to 512 MiB
at a time), DuckDB's spill files (gigabytes when a chunk outgrows ``--memory-limit``), the carried tail. The
run removes them when it ends, but a run killed by SIGKILL (the OOM killer, a scheduler's timeout,
``kill -9``) cannot, and a job that keeps being killed fills the disk.

Each scratch directory therefore holds a lock file (:data:`LOCK_NAME`) that its process keeps locked with
``flock`` for as long as the directory lives. The kernel releases the lock when the process dies, however it
dies, so :func:`sweep` (run when a detection run starts) removes exactly the directories whose lock it can
take. A lock rather than a process id: ids are reused, and a process in another PID namespace sharing the
temporary directory (containers) would see a live run's id as dead. The lock file is locked before it gets
its name, so no sweep can ever see it unlocked while its run is alive. Directories without a lock file
(someone else's, or scratch from a version without locks) are left alone.

Written here because :class:`tempfile.TemporaryDirectory` has no notion of an owner that died. Where
``fcntl`` is missing (Windows), directories get no lock and the sweep removes nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

try:
    import fcntl
except ImportError:  # Windows: no flock; scratch is still removed by the run that made it
    fcntl = None  # type: ignore[assignment]

LOCK_NAME: Final = ".cloudwarden-lock"
PREFIX: Final = "cw-"  # every scratch directory's name starts with it


class ScratchDir:
    """A temporary directory (``prefix`` + random, in ``parent`` or the temporary directory) locked as this
    process's until :meth:`cleanup`; used like :class:`tempfile.TemporaryDirectory`, but ``with`` gives its
    :attr:`path`."""

    def __init__(self, prefix: str, parent: str | Path | None = None) -> None:
        if not prefix.startswith(PREFIX):
            raise ValueError(f"scratch prefixes start with {PREFIX!r}: {prefix!r}")
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        self._lock: int | None = None
        if fcntl is not None:
            staged = self.path / f"{LOCK_NAME}.{os.getpid()}"
            try:
                self._lock = os.open(staged, os.O_CREAT | os.O_RDWR, 0o600)
                fcntl.flock(self._lock, fcntl.LOCK_EX)
                os.rename(staged, self.path / LOCK_NAME)  # appears already locked
            except OSError:
                self.cleanup()
                raise

    def cleanup(self) -> None:
        """Remove the directory and everything in it (again: a no-op)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.cleanup()


@dataclass(frozen=True)
class Swept:
    """What :func:`sweep` removed: directories and the bytes they held."""

    directories: int = 0
    bytes: int = 0


def sweep(parent: str | Path | None = None) -> Swept:
    """Remove this user's scratch directories in ``parent`` (default: the temporary directory) whose process has
    died."""
    if fcntl is None:
        return Swept()
    root = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    directories = size = 0
    try:
        candidates = [entry for entry in os.scandir(root) if entry.name.startswith(PREFIX)]
    except OSError:
        return Swept()
    for entry in candidates:
        try:
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue  # another user's: not ours to remove (nor could we, in a sticky /tmp)
            fd = os.open(Path(entry.path) / LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:  # no lock file (not ours, or not yet named), or not a directory
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its run is alive
            os.close(fd)
            continue
        try:
            size += _size(Path(entry.path))
            shutil.rmtree(entry.path, ignore_errors=True)
            directories += 1
        finally:
            os.close(fd)
    return Swept(directories, size)


def _size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # gone meanwhile
                total += os.lstat(os.path.join(folder, name)).st_size
    return total
