"""What a detection run says about itself as it goes, for a progress display (the CLI's bar on a terminal).

:func:`cloudwarden.detect.engine.run_chunks` reports to a :class:`RunProgress`: once what there is to read
(objects, bytes as stored, chunks), then each chunk's steps (reading, rules, committing), and the bytes of
every object as a reader thread fetches it (:class:`Meter`). Readers that hand a file to DuckDB without
fetching it themselves (Security Lake's Parquet) advance at the end of each chunk instead, so the bytes always
add up to the total when the run ends.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from cloudwarden.detect.load import LogObject


class RunProgress(Protocol):
    """Receives a run's progress; :meth:`advance` is called from reader threads."""

    def begin(self, logs: str, objects: int, size: int, chunks: int) -> None:
        """The run of ``logs`` (a checkpoint source, e.g. ``detect.cloudtrail``) reads ``objects`` objects of
        ``size`` bytes as stored, in ``chunks`` chunks."""

    def step(self, chunk: int, chunks: int, step: str) -> None:
        """Chunk ``chunk`` (from 1) of ``chunks`` enters ``step``: ``reading``, ``rules`` or ``committing``."""

    def advance(self, size: int) -> None:
        """``size`` more bytes have been read."""

    def end(self) -> None:
        """The run is over (also after an error)."""


class Silent:
    """The :class:`RunProgress` of a run nobody watches."""

    def begin(self, logs: str, objects: int, size: int, chunks: int) -> None:
        pass

    def step(self, chunk: int, chunks: int, step: str) -> None:
        pass

    def advance(self, size: int) -> None:
        pass

    def end(self) -> None:
        pass


SILENT: Final = Silent()


class Meter:
    """Counts the bytes of the objects read, each object once (a re-read for the careful path is not
    counted again), and passes them to a :class:`RunProgress`."""

    def __init__(self, progress: RunProgress) -> None:
        self.progress = progress
        self.done = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def counted(self, objects: Sequence[LogObject]) -> list[LogObject]:
        """``objects`` whose reads advance the meter (equal to them: ``read`` takes no part in comparisons)."""
        return [dataclasses.replace(obj, read=self._reader(obj)) for obj in objects]

    def settle(self, total: int) -> None:
        """Advance to ``total`` bytes (objects read without their reader: the rest of a chunk)."""
        with self._lock:
            missing, self.done = max(0, total - self.done), max(self.done, total)
        if missing:
            self.progress.advance(missing)

    def _reader(self, obj: LogObject) -> Callable[[], bytes]:
        read = obj.read

        def counting() -> bytes:
            data = read()
            with self._lock:
                first = obj.key not in self._seen
                self._seen.add(obj.key)
                if first:
                    self.done += obj.size
            if first:
                self.progress.advance(obj.size)
            return data

        return counting
