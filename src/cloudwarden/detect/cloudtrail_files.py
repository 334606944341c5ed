"""Read CloudTrail log files from disk, in every shape CloudTrail and its exporters deliver them.

Shapes accepted, gzipped or not (gzip is recognised by its magic bytes, not the file name):

* CloudTrail's S3 delivery: one JSON object ``{"Records": [...]}`` per file (``.json.gz``);
* a bare JSON array of records (what ``lookup-events`` exports and Stratus Red Team's detonation logs hold);
* one event per line (JSON Lines; ``.jsonl`` or ``.json``), as Lake exports and log shippers write.

Directories are walked recursively in sorted order. Bad input never stops the read and is never dropped
silently: a file that cannot be read (truncated gzip, not UTF-8, not JSON, not CloudTrail, a digest file) is
skipped whole and named in :class:`ReadReport` with the reason; a record that is not a CloudTrail event
(not an object, no ``eventTime``/``eventSource``/``eventName``) is skipped and named with its file and line or
index. A file is read completely before any of its records is yielded, so a file either contributes all its
good records or none.

Hand-written over DuckDB's ``read_json``: that reader fails a whole query on one bad file and cannot say which
record was wrong. A faster reader (msgspec, checkpoints) will replace the internals behind the same API.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast

from cloudwarden.core.errors import BadInputError

# Intel's ISA-L (``isal``) inflates CloudTrail's files ~2.4x faster than zlib, with the same format and
# checks; where it has no wheel, the standard library's zlib.
_inflate: Callable[[bytes, int, int], bytes] = zlib.decompress
_inflater: Callable[..., Any] = zlib.decompressobj
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
INFLATER = "zlib"  # which of the two inflates (what the benchmark reports)
try:
    from isal import isal_zlib
except ImportError:  # isal is a dependency; this is for a platform it has no wheel for
    pass
else:
    _inflate, _inflater = isal_zlib.decompress, isal_zlib.decompressobj
    _INFLATE_ERRORS = (cast("type[Exception]", isal_zlib.error),)  # its stub types the class as an instance
    INFLATER = "isal"

CloudTrailRecord = dict[str, Any]
"""One CloudTrail event as CloudTrail wrote it (``eventTime``, ``eventSource``, ``userIdentity``, ...)."""

# Names a directory walk picks up; other files there are reported as skipped, never read.
LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
REQUIRED_FIELDS = ("eventTime", "eventSource", "eventName")
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class SkippedRecord:
    path: str
    where: str  # "line 7" (JSON Lines) or "record 3" (index in Records / the array, from 0)
    reason: str


@dataclass
class ReadReport:
    """What a read did: filled in while :func:`iter_records` runs, complete once it is exhausted."""

    files_read: int = 0
    records: int = 0
    files_skipped: list[SkippedFile] = field(default_factory=list)
    records_skipped: list[SkippedRecord] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when nothing was skipped."""
        return not self.files_skipped and not self.records_skipped

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (for ``summary.json`` and ``--json`` output)."""
        return {
            "files_read": self.files_read,
            "records": self.records,
            "files_skipped": [{"path": s.path, "reason": s.reason} for s in self.files_skipped],
            "records_skipped": [{"path": s.path, "where": s.where, "reason": s.reason} for s in self.records_skipped],
        }


def iter_records(paths: Iterable[str | Path], report: ReadReport | None = None) -> Iterator[CloudTrailRecord]:
    """Yield every CloudTrail record under ``paths`` (files or directory trees), in path order.

    Pass a :class:`ReadReport` to learn what was read and skipped. A path that does not exist raises
    :class:`BadInputError` before anything is read; bad files and records are reported and skipped.
    """
    report = report if report is not None else ReadReport()
    files = list_log_files(paths, report)
    return _iter_files(files, report)


def read_records(paths: Iterable[str | Path]) -> tuple[list[CloudTrailRecord], ReadReport]:
    """Read everything into memory: the records and the report. For tests and small inputs."""
    report = ReadReport()
    records = list(iter_records(paths, report))
    return records, report


def list_log_files(paths: Iterable[str | Path], report: ReadReport) -> list[Path]:
    """Expand ``paths`` into the files to read; files a directory walk ignores go into ``report``."""
    given = [Path(p) for p in paths]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise BadInputError(missing[0], "no such file or directory (CloudTrail logs expected here)")
    files: list[Path] = []
    for path in given:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name.lower().endswith(LOG_SUFFIXES):
                    files.append(child)
                else:
                    report.files_skipped.append(
                        SkippedFile(str(child), f"not a log file name (expected one of {', '.join(LOG_SUFFIXES)})")
                    )
        else:
            files.append(path)  # named explicitly: read whatever its name
    return files


def _iter_files(files: list[Path], report: ReadReport) -> Iterator[CloudTrailRecord]:
    for path in files:
        try:
            records = _read_file(path, report)
        except _SkipFile as skip:
            report.files_skipped.append(SkippedFile(str(path), skip.reason))
            continue
        report.files_read += 1
        report.records += len(records)
        yield from records


class _SkipFile(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


SkipFile = _SkipFile
"""Raised by :func:`parse_log_bytes` for an object that is skipped whole; ``reason`` says why."""


def _read_file(path: Path, report: ReadReport) -> list[CloudTrailRecord]:
    """All good records of one file; bad records go into ``report``. Raises ``_SkipFile`` for a bad file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _SkipFile(f"cannot read: {exc.strerror or exc}") from None
    return parse_log_bytes(str(path), raw, report)


def parse_log_bytes(name: str, raw: bytes, report: ReadReport) -> list[CloudTrailRecord]:
    """All good records of one log object's bytes (gzipped or not); bad records go into ``report``.

    Raises :class:`SkipFile` (with the reason) when the object as a whole is not CloudTrail.
    """
    path = name
    if raw.startswith(_GZIP_MAGIC):
        raw = gunzip(raw)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _SkipFile(f"not UTF-8 text (byte {exc.start})") from None
    stripped = text.strip()
    if not stripped:
        raise _SkipFile("empty file")
    if stripped[0] not in "[{":
        raise _SkipFile("not JSON (CloudTrail files hold a JSON object, array or one object per line)")
    try:
        document = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several top-level values: JSON Lines
            return _read_lines(path, stripped, report)
        raise _SkipFile(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return _read_document(path, document, report)


def decompress(raw: bytes) -> bytes:
    """``gzip.decompress(raw)``, faster for the usual file of one gzip member.

    ISA-L (``isal``; zlib where it is not installed) checks the member's CRC as it inflates, where
    ``gzip.decompress`` checks it in a second pass over the output and inflates with zlib (together ~3x
    slower on CloudTrail files). When the file holds one member, the size its trailer gives is the output's:
    it is inflated into one buffer of that size, in one call that releases the GIL while it inflates (zlib
    growing a buffer block by block takes the GIL back for every block, and waits for it while other threads
    decode).
    Anything else (several members, bytes after the member, a truncated or corrupt file) goes to
    ``gzip.decompress``, which reads or rejects it as before.
    """
    size = int.from_bytes(raw[-4:], "little")
    if _MIN_SIZED <= size <= _MAX_SIZED and raw.find(_MEMBER_START, 10) == -1:
        try:
            data = _inflate(raw, 31, size)
        except _INFLATE_ERRORS:
            return gzip.decompress(raw)
        if len(data) == size:  # else bytes follow the member: its trailer is not the file's last 8 bytes
            return data
        return gzip.decompress(raw)
    inflater = _inflater(wbits=31)
    try:
        data = inflater.decompress(raw)
    except _INFLATE_ERRORS:
        return gzip.decompress(raw)
    return data if inflater.eof and not inflater.unused_data else gzip.decompress(raw)


# One buffer of the trailer's size only for sizes a CloudTrail file can have, and when no second member can
# start after the first's header (a member starts with these bytes; found by chance in ~2% of files).
_MIN_SIZED: Final = 1
_MAX_SIZED: Final = 1 << 30
_MEMBER_START: Final = b"\x1f\x8b\x08"


def gunzip(raw: bytes) -> bytes:
    """:func:`decompress`; a bad gzip raises :class:`SkipFile` saying what is wrong with it."""
    try:
        return decompress(raw)
    except EOFError:
        raise _SkipFile("truncated gzip (compressed data ends before the end-of-stream marker)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise _SkipFile(f"corrupt gzip: {exc}") from None


def _read_document(path: str, document: Any, report: ReadReport) -> list[CloudTrailRecord]:
    if isinstance(document, dict):
        if "Records" in document:
            items = document["Records"]
            if not isinstance(items, list):
                raise _SkipFile('not CloudTrail: "Records" is not a list')
        elif "digestStartTime" in document and "logFiles" in document:
            raise _SkipFile("CloudTrail digest file (integrity data, holds no events)")
        elif _record_problem(document) is None:
            items = [document]  # one event on one line
        else:
            raise _SkipFile('not CloudTrail: a JSON object without "Records" that is not an event either')
    elif isinstance(document, list):
        items = document
    else:
        raise _SkipFile(f"not CloudTrail: top-level JSON {type(document).__name__}")
    return _keep_good(path, [(f"record {i}", item) for i, item in enumerate(items)], report)


def _read_lines(path: str, text: str, report: ReadReport) -> list[CloudTrailRecord]:
    items: list[tuple[str, Any]] = []
    bad_json: list[SkippedRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            bad_json.append(SkippedRecord(str(path), f"line {number}", f"not valid JSON: {exc.msg}"))
    if not any(_record_problem(item) is None for _, item in items):
        raise _SkipFile("not CloudTrail: no line holds a CloudTrail event")
    report.records_skipped.extend(bad_json)
    return _keep_good(path, items, report)


def _keep_good(path: str, items: list[tuple[str, Any]], report: ReadReport) -> list[CloudTrailRecord]:
    good: list[CloudTrailRecord] = []
    bad: list[SkippedRecord] = []
    for where, item in items:
        problem = _record_problem(item)
        if problem is None:
            good.append(item)
        else:
            bad.append(SkippedRecord(str(path), where, problem))
    if items and not good:
        raise _SkipFile(f"not CloudTrail: none of its {len(items)} records is an event ({bad[0].reason})")
    report.records_skipped.extend(bad)
    return good


def _record_problem(item: Any) -> str | None:
    """Why ``item`` is not a CloudTrail record, or None when it is one."""
    if not isinstance(item, dict):
        return f"not a JSON object ({type(item).__name__})"
    missing = [name for name in REQUIRED_FIELDS if not isinstance(item.get(name), str) or not item[name]]
    if missing:
        return f"missing or non-string {', '.join(missing)}"
    try:
        datetime.fromisoformat(item["eventTime"])
    except ValueError:
        return f"eventTime {item['eventTime'][:40]!r} is not an ISO 8601 time"
    return None
