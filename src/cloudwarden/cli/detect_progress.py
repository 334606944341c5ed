"""The bar ``cloudwarden detect`` shows while it works: the bytes of logs read (as stored) of the total, the chunk
and its step, the time spent and the time left.

On stderr, and only when stderr is a terminal and ``--quiet`` is not given, so piped output, CI logs and
tests see none of it (:meth:`DetectProgress.for_terminal` is None then, and Rich's progress is not even
imported). One bar per run: CloudTrail (or Security Lake), then flow and query logs; it disappears when the
run ends, leaving the summary.
"""

from __future__ import annotations

from typing import Any, Final

from rich.console import Console

_LABELS: Final = {"detect.cloudtrail": "CloudTrail", "detect.netlogs": "flow and DNS logs"}


class DetectProgress:
    """A :class:`~cloudwarden.detect.progress.RunProgress` drawn with Rich on ``console``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Any = None
        self._task: Any = None
        self._label = ""

    @classmethod
    def for_terminal(cls, quiet: bool) -> DetectProgress | None:
        console = Console(stderr=True)
        return cls(console) if not quiet and console.is_terminal else None

    def begin(self, logs: str, objects: int, size: int, chunks: int) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._label = f"{_LABELS.get(logs, logs)}, {objects} files"
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                  TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=size)

    def step(self, chunk: int, chunks: int, step: str) -> None:
        where = f" · chunk {chunk}/{chunks}" if chunks > 1 else ""
        self._progress.update(self._task, description=f"{self._label}{where} · {step}")

    def advance(self, size: int) -> None:
        self._progress.advance(self._task, size)

    def end(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
