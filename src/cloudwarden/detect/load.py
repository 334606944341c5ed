"""Loading CloudTrail logs (files, directory trees, ``s3://bucket/prefix``) into the ``cloudtrail`` DuckDB table.

The fast paths (:mod:`cloudwarden.detect.rows`) turn each object's records into rows of only the fields the
rules read: the C scanner's Arrow columns where the extension is built and takes the object, else JSON
Lines that DuckDB's parallel JSON reader inserts, in batches either way.
Anything neither fast path takes cleanly (a multi-line document, a record without ``eventID``, a field
of an unexpected type, a bad record) goes through the careful path: msgspec decodes it into
:class:`Event` or, failing that, the plain reader (:mod:`cloudwarden.detect.cloudtrail_files`) reports
what it skipped and why; the good records are loaded as JSON Lines. A file contributes all its good
records or none.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb
import msgspec

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.errors import BadInputError, RuntimeFailure
from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect.cloudtrail_files import (
    LOG_SUFFIXES,
    ReadReport,
    SkipFile,
    SkippedFile,
    gunzip,
    list_log_files,
    parse_log_bytes,
)
from cloudwarden.detect.rows import Scope, codec, identity_columns_sql, identity_struct_type
from cloudwarden.detect.table import COLUMN_NAMES, TABLE, create_table_sql

if TYPE_CHECKING:
    from cloudwarden.detect._ctscan import Builder

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ENVELOPE: Final = re.compile(rb'^\s*\{\s*"Records"\s*:')
# Scratch batches are handed to DuckDB once they hold this many rows (or bytes, for very large events).
# DuckDB writes an insert's row groups (122,880 rows each) in parallel only when it has more than one.
FLUSH_ROWS: Final = 2 * 122_880
FLUSH_BYTES: Final = 512 * 1024 * 1024
DIGEST_MARK: Final = "/CloudTrail-Digest/"


# --- the typed view of a record: only what the table holds --------------------------------------------------

_NULL: Final = msgspec.Raw(b"null")
# The structs hold only strings, dates, raw JSON and each other: they cannot form reference cycles, so they
# opt out of the cycle collector (gc=False), which saves ~10% of load time on a million events.


class _Attributes(msgspec.Struct, omit_defaults=True, gc=False):
    mfaAuthenticated: str | bool | None = None
    creationDate: str | None = None


class _Issuer(msgspec.Struct, omit_defaults=True, gc=False):
    type: str | None = None
    arn: str | None = None
    userName: str | None = None


class _SessionContext(msgspec.Struct, omit_defaults=True, gc=False):
    sessionIssuer: _Issuer | None = None
    attributes: _Attributes | None = None


class _Identity(msgspec.Struct, omit_defaults=True, gc=False):
    type: str | None = None
    arn: str | None = None
    accountId: str | None = None
    principalId: str | None = None
    userName: str | None = None
    accessKeyId: str | None = None
    invokedBy: str | None = None
    sessionContext: _SessionContext | None = None


class Event(msgspec.Struct, omit_defaults=True, gc=False):
    """The fields of a CloudTrail record the ``cloudtrail`` table holds; JSON members kept raw."""

    eventTime: datetime | None = None
    eventID: str | None = None
    eventVersion: str | None = None
    eventSource: str | None = None
    eventName: str | None = None
    eventType: str | None = None
    eventCategory: str | None = None
    awsRegion: str | None = None
    sourceIPAddress: str | None = None
    userAgent: str | None = None
    errorCode: str | None = None
    errorMessage: str | None = None
    readOnly: bool | None = None
    managementEvent: bool | None = None
    recipientAccountId: str | None = None
    requestID: str | None = None
    userIdentity: _Identity | None = None
    requestParameters: msgspec.Raw = _NULL
    responseElements: msgspec.Raw = _NULL
    additionalEventData: msgspec.Raw = _NULL
    resources: msgspec.Raw = _NULL
    tlsDetails: msgspec.Raw = _NULL
    cloudwardenFile: int = -1  # index of the object the event came from (ours, not CloudTrail's)


class _Envelope(msgspec.Struct, gc=False):
    Records: list[Event]


_ENVELOPE_DECODER: Final = msgspec.json.Decoder(_Envelope)
_ARRAY_DECODER: Final = msgspec.json.Decoder(list[Event])
_EVENT_DECODER: Final = msgspec.json.Decoder(Event)
_ENCODER: Final = msgspec.json.Encoder()

# read_json's view of the scratch lines (the JSON members as JSON text).
_IDENTITY_TYPE: Final = identity_struct_type()
_IDENTITY_SELECT: Final = ", ".join(identity_columns_sql().values())
_SCRATCH_COLUMNS: Final = {
    "eventTime": "TIMESTAMPTZ", "eventID": "VARCHAR", "eventVersion": "VARCHAR", "eventSource": "VARCHAR",
    "eventName": "VARCHAR", "eventType": "VARCHAR", "eventCategory": "VARCHAR", "awsRegion": "VARCHAR",
    "sourceIPAddress": "VARCHAR", "userAgent": "VARCHAR", "errorCode": "VARCHAR", "errorMessage": "VARCHAR",
    "readOnly": "BOOLEAN", "managementEvent": "BOOLEAN", "recipientAccountId": "VARCHAR",
    "requestID": "VARCHAR", "userIdentity": _IDENTITY_TYPE, "requestParameters": "JSON",
    "responseElements": "JSON", "additionalEventData": "JSON", "resources": "JSON", "tlsDetails": "JSON",
    "cloudwardenFile": "INTEGER",
}
_INSERT_SELECT: Final = """
SELECT eventID, timezone('UTC', eventTime), eventVersion, eventSource, eventName, eventType, eventCategory, awsRegion,
       sourceIPAddress, userAgent, errorCode, errorMessage, readOnly, managementEvent, recipientAccountId,
       requestID, {identity},
       nullif(requestParameters::VARCHAR, 'null')::JSON, nullif(responseElements::VARCHAR, 'null')::JSON,
       nullif(additionalEventData::VARCHAR, 'null')::JSON, nullif(resources::VARCHAR, 'null')::JSON,
       nullif(tlsDetails::VARCHAR, 'null')::JSON, {source_file}
FROM read_json(?, format = 'newline_delimited', columns = {columns}) AS e
"""


_COLUMNS_ARG: Final = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _SCRATCH_COLUMNS.items()) + "}"
READ_THREADS: Final = 2
READ_AHEAD: Final = 8


# --- what to read --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogObject:
    """One log file or S3 object: its checkpoint key (path or ``s3://`` URI), position, size and reader."""

    key: str
    position: str
    size: int
    read: Callable[[], bytes] = field(compare=False, repr=False)


def list_objects(
    paths: Sequence[str | Path], report: ReadReport, *, target: AwsTarget | None = None
) -> list[LogObject]:
    """Expand ``paths`` (files, directories, ``s3://bucket/prefix``) into the objects to read, in order.

    Names a directory walk or an S3 listing ignores go into ``report`` as skipped. A local path that does
    not exist is a :class:`BadInputError`; an S3 listing that fails is a :class:`RuntimeFailure`.
    """
    objects: list[LogObject] = []
    local = [p for p in paths if not str(p).startswith("s3://")]
    if local:
        for path in list_log_files(local, report):
            resolved = path.resolve()
            try:
                stat = resolved.stat()
            except OSError as exc:
                report.files_skipped.append(SkippedFile(str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            objects.append(LogObject(
                key=str(resolved), position=f"size={stat.st_size}", size=stat.st_size,
                read=_file_reader(resolved),
            ))
    for uri in (str(p) for p in paths if str(p).startswith("s3://")):
        objects.extend(_list_s3(uri, report, target or AwsTarget()))
    return objects


def _file_reader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def _list_s3(uri: str, report: ReadReport, target: AwsTarget) -> list[LogObject]:
    return list_s3(uri, report, target, _not_cloudtrail)


def _not_cloudtrail(key: str) -> str | None:
    if DIGEST_MARK in f"/{key}":
        return "CloudTrail digest file (holds no events)"
    if not key.lower().endswith(LOG_SUFFIXES):
        return f"not a log file name (expected one of {', '.join(LOG_SUFFIXES)})"
    return None


def list_s3(uri: str, report: ReadReport, target: AwsTarget, why_skip: Callable[[str], str | None],
            session: Any = None) -> list[LogObject]:
    """The objects under ``s3://bucket/prefix`` (checkpointed by ETag); a key ``why_skip`` gives a reason for
    goes into ``report`` as skipped. ``session`` (a boto3 session) defaults to one made for ``target``. A
    missing bucket is a :class:`BadInputError`, any other failure to list a :class:`RuntimeFailure`."""
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    if not bucket:
        raise BadInputError(uri, "an S3 location is s3://BUCKET or s3://BUCKET/PREFIX")
    import botocore.exceptions  # local: only S3 reads need boto3 (a local run starts ~0.1 s sooner)

    from cloudwarden.aws.session import make_client, make_session

    client = make_client(session or make_session(target), "s3", target)
    objects: list[LogObject] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                name = f"s3://{bucket}/{key}"
                reason = why_skip(key)
                if reason is not None:
                    report.files_skipped.append(SkippedFile(name, reason))
                    continue
                etag = str(item.get("ETag", "")).strip('"')
                objects.append(LogObject(key=name, position=f"etag={etag}", size=int(item.get("Size", 0)),
                                         read=_s3_reader(client, bucket, key)))
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            raise BadInputError(uri, f"no such bucket ({code})") from None
        raise RuntimeFailure(f"{uri}: cannot list the objects ({exc})") from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise RuntimeFailure(f"{uri}: cannot reach S3 ({exc})") from None
    return objects


def _s3_reader(client: Any, bucket: str, key: str) -> Callable[[], bytes]:
    def read() -> bytes:
        data: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    return read


# --- decoding ------------------------------------------------------------------------------------------------


class _Fallback(Exception):
    """The fast path declines this object; the plain reader takes it."""


def decode_object(name: str, raw: bytes, report: ReadReport) -> list[Event]:
    """Every good event of one object, as :class:`Event`. Bad records and objects go into ``report``.

    Raises :class:`SkipFile` when the whole object is skipped (the caller records it).
    """
    if raw.startswith(_GZIP_MAGIC):
        raw = gunzip(raw)
    try:
        return _fast_decode(raw)
    except _Fallback:
        pass
    records = parse_log_bytes(name, raw, report)
    events: list[Event] = []
    for index, record in enumerate(records):
        event = event_from_dict(record)
        if event is None:
            from cloudwarden.detect.cloudtrail_files import SkippedRecord

            report.records_skipped.append(SkippedRecord(name, f"record {index}", "fields of unexpected types"))
        else:
            events.append(event)
    return events


def _fast_decode(raw: bytes) -> list[Event]:
    try:
        if _ENVELOPE.match(raw):
            events = _ENVELOPE_DECODER.decode(raw).Records
        elif raw.lstrip()[:1] == b"[":
            events = _ARRAY_DECODER.decode(raw)
        else:
            events = _EVENT_DECODER.decode_lines(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):  # msgspec raises the last itself
        raise _Fallback from None
    if not events:
        raise _Fallback
    # A pretty-printed document's raw members hold line breaks; the scratch JSON Lines must not.
    multiline = b"\n" in raw or b"\r" in raw
    for event in events:
        if not (event.eventSource and event.eventName and event.eventTime is not None):
            raise _Fallback  # the plain reader says which record and why
        if not event.eventID:
            _normalise(event)
        if multiline:
            _one_line(event)
    return events


_RAW_FIELDS: Final = ("requestParameters", "responseElements", "additionalEventData", "resources", "tlsDetails")


def _one_line(event: Event) -> None:
    """Put raw JSON members on one line (line breaks in JSON are whitespace outside strings)."""
    for name in _RAW_FIELDS:
        raw = bytes(getattr(event, name))
        if b"\n" in raw or b"\r" in raw:
            setattr(event, name, msgspec.Raw(raw.replace(b"\r", b" ").replace(b"\n", b" ")))


def _normalise(event: Event) -> None:
    """An event id for the rare record without one (stable: derived from its content)."""
    if not event.eventID:
        digest = hashlib.sha256(_ENCODER.encode(event)).hexdigest()[:32]
        event.eventID = f"cw-{digest}"


def event_from_dict(record: dict[str, Any]) -> Event | None:
    """A plain-reader record as :class:`Event`; scalars of unexpected types are coerced, else None."""
    try:
        event = _EVENT_DECODER.decode(_ENCODER.encode(record))
    except (msgspec.ValidationError, msgspec.DecodeError):
        try:
            event = _EVENT_DECODER.decode(_ENCODER.encode(_coerce(record)))
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
    if event.eventTime is None:
        return None
    _normalise(event)
    _one_line(event)
    return event


_STRING_FIELDS: Final = frozenset(
    name for name, kind in _SCRATCH_COLUMNS.items() if kind == "VARCHAR"
) | {"eventTime"}


def _coerce(record: dict[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for name in ("readOnly", "managementEvent"):
        value = out.get(name)
        if isinstance(value, str):
            out[name] = {"true": True, "false": False}.get(value.lower())
        elif value is not None and not isinstance(value, bool):
            out[name] = None
    for name in _STRING_FIELDS:
        value = out.get(name)
        if value is not None and not isinstance(value, str):
            out[name] = str(value)
    if not isinstance(out.get("userIdentity"), dict | None):
        out["userIdentity"] = None
    return out


# --- loading -------------------------------------------------------------------------------------------------


@dataclass
class LoadStats:
    objects: int = 0
    events: int = 0
    outside_window: int = 0
    duplicates: int = 0
    bytes_read: int = 0
    scanned: int = 0  # objects whose rows the C scanner made (the rest went the JSON Lines ways)


def connect(*, threads: int | None = None, memory_limit: str | None = None,
            spill_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with an empty ``cloudtrail`` table; beyond ``memory_limit`` it spills to ``spill_dir``."""
    conn = duckdb.connect(":memory:")
    if threads:
        conn.execute(f"SET threads = {int(threads)}")
    cap_memory(conn, memory_limit, spill_dir)
    conn.execute("SET preserve_insertion_order = false")
    # The table lives for one chunk: DuckDB's automatic checkpoint would compress it mid-run (1.3-1.7 s per
    # 500,000 events, when a statement happens to cross the threshold), which saves memory it does not need.
    conn.execute("SET checkpoint_threshold = '1TB'")
    conn.execute("SET TimeZone = 'UTC'")  # a time without an offset is UTC, as CloudTrail's are
    create_table(conn)
    return conn


def cap_memory(conn: duckdb.DuckDBPyConnection, memory_limit: str | None, spill_dir: Path | None) -> None:
    """Cap ``conn``'s memory at ``memory_limit`` (None: DuckDB's own 80% of RAM); beyond it, spill to ``spill_dir``."""
    if memory_limit:
        conn.execute(f"SET memory_limit = '{_setting(memory_limit)}'")
    if spill_dir is not None:
        conn.execute(f"SET temp_directory = '{_setting(str(spill_dir))}'")


def _setting(value: str) -> str:
    return value.replace("'", "''")


def create_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(create_table_sql())
    conn.execute("CREATE TABLE _cw_files (idx INTEGER, name VARCHAR)")


class Loader:
    """Appends objects' events to the ``cloudtrail`` table of ``conn``, keeping only ``since <= t < until``.

    Three things overlap: reading and gunzipping the next objects (threads: inflating and file reads release the
    GIL), turning records into rows (this thread; :mod:`cloudwarden.detect.rows`), and DuckDB inserting the
    previous batch (a thread on its own cursor: DuckDB releases the GIL). ``fields`` are the record fields
    to keep (see :func:`cloudwarden.detect.rows.fields_read_by`; None keeps all); the others are NULL, and
    so are the JSON members named in ``scopes`` outside their scope (:func:`cloudwarden.detect.compile.member_scopes`)
    and the identity columns not in ``identity`` (:func:`cloudwarden.detect.rows.identity_read_by`; None keeps all).

    An object the fast path declines, or whose rows DuckDB finds incomplete (no ``eventID``, no
    ``eventTime``, ...), goes through the careful path (:func:`decode_object`), which says what it skips.
    An object contributes all its good records or none. ``check`` is called before each object (it may
    raise to stop the load).
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection, *, since: datetime | None = None,
                 until: datetime | None = None, scratch_dir: Path | None = None,
                 flush_bytes: int = FLUSH_BYTES, flush_rows: int = FLUSH_ROWS,
                 fields: frozenset[str] | None = None, scopes: tuple[tuple[str, Scope], ...] = (),
                 identity: tuple[str, ...] | None = None, check: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.check = check
        self.since = _aware_utc(since)
        self.until = _aware_utc(until)
        self.stats = LoadStats()
        self.flush_bytes = flush_bytes
        self.flush_rows = flush_rows
        self._scratch_parent = scratch_dir
        self._codec = codec(fields, scopes, identity)
        self._rows_sql = self._codec.select_sql()
        self._scanned_sql = self._codec.scanned_sql("_cw_scanned")
        self._spare: deque[Builder] = deque()  # emptied scanners, their buffers kept (the insert thread adds)
        row = conn.execute("SELECT coalesce(max(idx) + 1, 0) FROM _cw_files").fetchone()
        self._next_file = int(row[0]) if row else 0

    def load(self, objects: Iterable[LogObject], report: ReadReport) -> int:
        """Read and insert every object; returns the number of events inserted. Bad ones go into ``report``."""
        before = self.stats.events
        with ScratchDir("cw-ct-", parent=self._scratch_parent) as scratch, \
                ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="cw-read") as readers, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-insert") as inserter:
            batch = self._batch(scratch)
            inserting: Future[_Inserted] | None = None
            for obj, raw in _prefetch(readers, objects):
                if self.check is not None:
                    self.check()
                self._add(batch, obj, raw, report)
                # The first batch is handed over at half size, so that DuckDB starts inserting sooner.
                share = 1 if inserting is not None else 2
                if batch.size * share >= self.flush_bytes or batch.records * share >= self.flush_rows:
                    if inserting is not None:
                        self._settle(inserting.result(), batch, report)
                    inserting = inserter.submit(self._insert, batch)
                    batch = self._batch(scratch)
            if inserting is not None:
                self._settle(inserting.result(), batch, report)
            while batch.names:  # the careful path never hands an object back, so this ends
                done = self._insert(batch)
                batch = self._batch(scratch)
                self._settle(done, batch, report)
        return self.stats.events - before

    def load_events(self, name: str, events: list[Event]) -> int:
        """Insert already-decoded events as coming from ``name`` (tests and in-memory sources)."""
        with ScratchDir("cw-ct-", parent=self._scratch_parent) as tmp:
            batch = _Batch(tmp)
            kept = self._keep(self._register(batch, name), events)
            batch.add_events(_ENCODER.encode_lines(kept))
            self.stats.events += self._insert(batch).events
        return len(kept)

    # --- the main thread: objects into batches ----------------------------------------------------------------

    def _batch(self, scratch: Path) -> _Batch:
        try:
            scanner: Builder | None = self._spare.pop()
        except IndexError:
            scanner = self._codec.scanner()
        return _Batch(scratch, scanner)

    def _add(self, batch: _Batch, obj: LogObject, raw: bytes | OSError, report: ReadReport) -> None:
        """One object into ``batch``: by the C scanner, else as JSON Lines, else by the careful path."""
        if isinstance(raw, OSError):
            report.files_skipped.append(SkippedFile(obj.key, f"cannot read: {raw.strerror or raw}"))
            return
        self.stats.bytes_read += len(raw)
        index = self._register(batch, obj.key)
        if raw.startswith(_GZIP_MAGIC):  # a gzip that would not inflate: the careful path names the problem
            self._careful(batch, obj, raw, report, index)
        elif not batch.scan(obj, index, raw):
            rows = self._codec.rows(raw, index)
            if rows is None:
                self._careful(batch, obj, raw, report, index)
            else:
                batch.add_rows(obj, index, *rows)

    def _careful(self, batch: _Batch, obj: LogObject, raw: bytes | OSError, report: ReadReport,
                 index: int) -> None:
        if isinstance(raw, OSError):
            report.files_skipped.append(SkippedFile(obj.key, f"cannot read: {raw.strerror or raw}"))
            return
        try:
            events = decode_object(obj.key, raw, report)
        except SkipFile as skip:
            report.files_skipped.append(SkippedFile(obj.key, skip.reason))
            return
        report.files_read += 1
        report.records += len(events)
        self.stats.objects += 1
        batch.add_events(_ENCODER.encode_lines(self._keep(index, events)))

    def _settle(self, done: _Inserted, batch: _Batch, report: ReadReport) -> None:
        """Count an inserted batch; objects it hands back go into ``batch`` by the careful path."""
        self.stats.events += done.events
        self.stats.outside_window += done.outside_window
        self.stats.scanned += done.scanned
        for _, records in done.read:
            report.files_read += 1
            report.records += records
            self.stats.objects += 1
        for obj in done.redo:
            self._careful(batch, obj, _read_unzipped(obj), report, self._register(batch, obj.key))

    def _register(self, batch: _Batch, name: str) -> int:
        index = self._next_file
        self._next_file += 1
        batch.names.append((index, name))
        return index

    def _keep(self, index: int, events: list[Event]) -> list[Event]:
        since, until = self.since, self.until
        if since is not None or until is not None:
            kept = [e for e in events if _inside(e.eventTime, since, until)]
            self.stats.outside_window += len(events) - len(kept)
            events = kept
        for event in events:
            event.cloudwardenFile = index
        return events

    # --- the insert thread: batches into the table ------------------------------------------------------------

    def _insert(self, batch: _Batch) -> _Inserted:
        """Insert one batch on a cursor of its own (so it can run in a thread); touches no report."""
        batch.close()
        done = _Inserted()
        cursor = self.conn.cursor()
        try:
            if batch.names:
                cursor.execute("INSERT INTO _cw_files SELECT unnest(?::INTEGER[]), unnest(?::VARCHAR[])",
                               [[i for i, _ in batch.names], [n for _, n in batch.names]])
            if batch.events_size:
                source_file, names = batch.source_file("e.cloudwardenFile")
                select = _INSERT_SELECT.format(columns=_COLUMNS_ARG, identity=_IDENTITY_SELECT, source_file=source_file)
                done.events += _count(cursor.execute(f"INSERT INTO {TABLE} {select}", [names, str(batch.events_path)]))
            if batch.rows:
                self._insert_from(cursor, batch, done, self._rows_sql, [str(batch.rows_path)], batch.rows)
            if batch.scanned and batch.scanner is not None:
                cursor.register("_cw_scanned", batch.scanner)
                try:
                    done.scanned += self._insert_from(cursor, batch, done, self._scanned_sql, [], batch.scanned)
                finally:
                    cursor.unregister("_cw_scanned")
                if batch.scanner.reset():  # DuckDB let go of its columns: reuse the buffers for a later batch
                    self._spare.append(batch.scanner)
        finally:
            cursor.close()
            batch.remove()
        return done

    def _insert_from(self, cursor: duckdb.DuckDBPyConnection, batch: _Batch, done: _Inserted, rows_sql: str,
                     paths: list[str], objects: list[tuple[LogObject, int, int]]) -> int:
        """Insert the rows ``rows_sql`` selects (its parameters: ``paths``), those of ``objects``; an object
        with an incomplete row (no time, ...) is taken out again and handed back for the careful path.
        Returns the number of objects inserted whole."""
        window, params = self._window_sql()
        expected = sum(records for _, _, records in objects)
        source_file, source_names = batch.source_file("r.file_idx")
        try:
            inserted = _count(cursor.execute(
                f"INSERT INTO {TABLE} SELECT {_TABLE_COLUMNS}, {source_file} FROM ({rows_sql}) AS r "
                f"WHERE {_COMPLETE} AND {window}", [source_names, *paths, *params]))
        except duckdb.Error:  # not expected (every token is valid JSON): let the careful path say what is wrong
            done.redo.extend(obj for obj, _, _ in objects)
            return 0
        done.events += inserted
        incomplete: set[int] = set()
        if inserted != expected:
            for index, bad, outside in cursor.execute(
                    f"SELECT file_idx, count(*) FILTER (WHERE NOT ({_COMPLETE})), "
                    f"count(*) FILTER (WHERE {_COMPLETE} AND NOT ({window})) FROM ({rows_sql}) AS r GROUP BY ALL",
                    [*params, *paths]).fetchall():  # the window's parameters come first in this text
                if bad:
                    incomplete.add(int(index))
                else:
                    done.outside_window += int(outside)
        if incomplete:
            names = [name for index, name in batch.names if index in incomplete]
            done.events -= _count(cursor.execute(
                f"DELETE FROM {TABLE} WHERE source_file IN (SELECT unnest(?::VARCHAR[]))", [names]))
        for obj, index, records in objects:
            if index in incomplete:
                done.redo.append(obj)
            else:
                done.read.append((obj, records))
        return len(objects) - len(incomplete)

    def _window_sql(self) -> tuple[str, list[datetime]]:
        terms, params = ["TRUE"], []
        if self.since is not None:
            terms.append("r.event_time >= ?")
            params.append(self.since.replace(tzinfo=None))
        if self.until is not None:
            terms.append("r.event_time < ?")
            params.append(self.until.replace(tzinfo=None))
        return " AND ".join(terms), params

    def deduplicate(self) -> int:
        """Drop repeated events (the same eventID delivered twice); returns how many were dropped."""
        row = self.conn.execute(f"SELECT count(*), count(DISTINCT event_id) FROM {TABLE}").fetchone()
        total, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
        if total == distinct:
            return 0
        self.conn.execute(
            f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM {TABLE} "
            "QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY source_file) = 1"
        )
        self.stats.duplicates += total - distinct
        return total - distinct


_TABLE_COLUMNS: Final = ", ".join(f"r.{name}" for name in COLUMN_NAMES if name != "source_file")
_COMPLETE: Final = ("r.event_id IS NOT NULL AND r.event_time IS NOT NULL AND r.event_source IS NOT NULL "
                    "AND r.event_name IS NOT NULL")


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


@dataclass
class _Inserted:
    """What inserting a batch did: rows inserted, objects read whole, objects handed back to the careful path."""

    events: int = 0
    outside_window: int = 0
    scanned: int = 0
    read: list[tuple[LogObject, int]] = field(default_factory=list)
    redo: list[LogObject] = field(default_factory=list)


class _Batch:
    """What awaits one insert: the C scanner's rows of the objects it took (in memory), then scratch files of
    JSON Lines: the kept fields' rows (objects the scanner declined) and whole events (careful path)."""

    _serial = 0

    def __init__(self, scratch: Path, scanner: Builder | None = None) -> None:
        _Batch._serial += 1
        self.rows_path = scratch / f"rows-{_Batch._serial}.jsonl"
        self.events_path = scratch / f"events-{_Batch._serial}.jsonl"
        self.names: list[tuple[int, str]] = []
        self.rows: list[tuple[LogObject, int, int]] = []
        self.scanner = scanner
        self.scanned: list[tuple[LogObject, int, int]] = []
        self.size = 0
        self.records = 0
        self.events_size = 0
        self._rows: Any = None
        self._events: Any = None

    def scan(self, obj: LogObject, index: int, raw: bytes) -> bool:
        """Add an object's records through the C scanner; False when there is none or it declines the object."""
        if self.scanner is None or not _ENVELOPE.match(raw):
            return False
        records = self.scanner.add(raw, index)  # releases the GIL while it scans
        if records < 0:
            return False
        self.scanned.append((obj, index, records))
        # The document's size bounds what it added (a reused scanner's buffers need not grow at all).
        self.size += len(raw)
        self.records += records
        return True

    def add_rows(self, obj: LogObject, index: int, data: bytes, records: int) -> None:
        """Append an object's rows (:meth:`~cloudwarden.detect.rows.RowCodec.rows`)."""
        if self._rows is None:
            self._rows = self.rows_path.open("wb")
        self._rows.write(data)
        self.rows.append((obj, index, records))
        self.size += len(data)
        self.records += records

    def source_file(self, index: str) -> tuple[str, list[str | None]]:
        """SQL naming the object of the row whose file index is ``index``, and its parameter (the names).

        A lookup in a list rather than a join with ``_cw_files``: the join carried every wide row through
        a hash table, which cost ~1.2 CPU-s and ~1.5 s of an insert's wall time per million events.
        """
        base = min((i for i, _ in self.names), default=0)
        names: list[str | None] = [None] * (max((i for i, _ in self.names), default=-1) - base + 1)
        for i, name in self.names:
            names[i - base] = name
        return f"list_extract(?::VARCHAR[], {index} - {base} + 1)", names

    def add_events(self, data: bytes) -> None:
        if not data:
            return
        if self._events is None:
            self._events = self.events_path.open("wb")
        self._events.write(data)
        self.size += len(data)
        self.events_size += len(data)

    def close(self) -> None:
        for handle in (self._rows, self._events):
            if handle is not None:
                handle.close()
        self._rows = self._events = None

    def remove(self) -> None:
        self.close()
        self.scanner = None
        self.rows_path.unlink(missing_ok=True)
        self.events_path.unlink(missing_ok=True)


def _prefetch(pool: ThreadPoolExecutor, objects: Iterable[LogObject]) -> Iterator[tuple[LogObject, bytes | OSError]]:
    """``(object, its bytes gunzipped, or the OSError reading it)`` in order, reading ahead on ``pool``."""
    window: deque[tuple[LogObject, Future[bytes | OSError]]] = deque()
    for obj in objects:
        window.append((obj, pool.submit(_read_unzipped, obj)))
        if len(window) > READ_AHEAD:
            head, future = window.popleft()
            yield head, future.result()
    while window:
        head, future = window.popleft()
        yield head, future.result()


def _read_unzipped(obj: LogObject) -> bytes | OSError:
    """The object's bytes, gunzipped when they are gzip and whole (a bad gzip is left for the decoder to name)."""
    try:
        raw = obj.read()
    except OSError as exc:
        return exc
    if raw.startswith(_GZIP_MAGIC):
        try:
            return gunzip(raw)
        except SkipFile:
            return raw
    return raw


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _inside(when: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if when is None:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # CloudTrail times are UTC
    return (since is None or when >= since) and (until is None or when < until)


def load_records(conn: duckdb.DuckDBPyConnection, records: Iterable[dict[str, Any]], name: str = "<memory>",
                 report: ReadReport | None = None) -> int:
    """Insert CloudTrail records given as dicts (tests, other readers); returns how many were inserted."""
    events: list[Event] = []
    for index, record in enumerate(records):
        event = event_from_dict(record) if isinstance(record, dict) else None
        if event is None or not (event.eventSource and event.eventName):
            if report is not None:
                from cloudwarden.detect.cloudtrail_files import SkippedRecord

                report.records_skipped.append(SkippedRecord(name, f"record {index}", "not a CloudTrail event"))
            continue
        events.append(event)
    return Loader(conn).load_events(name, events)


def iter_chunks(objects: Sequence[LogObject], chunk_bytes: int) -> Iterator[list[LogObject]]:
    """``objects`` in order, cut into runs of about ``chunk_bytes`` (stored size); never splits an object.

    Deterministic for a given list, so a run resumed after a crash at a chunk boundary cuts the rest of
    the list exactly as the uninterrupted run would have.
    """
    chunk: list[LogObject] = []
    size = 0
    for obj in objects:
        chunk.append(obj)
        size += obj.size
        if size >= chunk_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
