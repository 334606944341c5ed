"""Reading Route 53 resolver query logs into the ``dns_logs`` table.

Resolver query logging delivers one JSON object per line (``version``, ``account_id``, ``region``,
``vpc_id``, ``query_timestamp``, ``query_name`` with its trailing dot, ``query_type``, ``rcode``,
``answers`` [{Rdata, Type, Class}], ``srcaddr``, ``srcport``, ``transport``, ``srcids``
{``instance`` or ``resolver_endpoint``}). Each line is decoded with ``msgspec`` into a typed struct of
those fields; a line that is not JSON, lacks ``query_name``/``query_timestamp`` or has a time that is not
ISO 8601 is skipped and reported with its object and line. An object none of whose lines is a query is
skipped whole.

The reader also splits each name into its registered domain and the subdomain left of it and measures
the subdomain (longest label, Shannon entropy), which is what DNS tunnelling detection reads. The
registered domain is the last two labels, or three under the common two-level public suffixes below;
hand-written because the full Public Suffix List would be a download and rules only need a stable
grouping key per domain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import msgspec

from cloudwarden.detect.cloudtrail_files import ReadReport, SkipFile, SkippedFile, SkippedRecord
from cloudwarden.detect.load import LogObject
from cloudwarden.detect.netlogs.sources import read_text
from cloudwarden.detect.netlogs.tables import DNS_TABLE

# Second-level labels under which registrars sell names (``example.co.uk``): the registered domain is
# three labels there.
TWO_LEVEL_SUFFIXES: Final = frozenset({
    "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "co.nz", "co.jp", "ne.jp", "or.jp",
    "com.br", "com.cn", "net.cn", "com.mx", "co.in", "co.za", "com.tr", "com.sg", "com.hk", "co.kr",
    "compute.internal", "ec2.internal",
})


class _Answer(msgspec.Struct):
    Rdata: str | None = None
    Type: str | None = None


class _SrcIds(msgspec.Struct):
    instance: str | None = None
    resolver_endpoint: str | None = None


class Query(msgspec.Struct):
    """The fields of one resolver query log record that ``dns_logs`` keeps."""

    query_name: str | None = None
    query_timestamp: str | None = None
    version: str | float | None = None
    account_id: str | None = None
    region: str | None = None
    vpc_id: str | None = None
    query_type: str | None = None
    query_class: str | None = None
    rcode: str | None = None
    answers: list[_Answer] | None = None
    srcaddr: str | None = None
    srcport: str | int | None = None
    transport: str | None = None
    srcids: _SrcIds | None = None


class _Row(msgspec.Struct, array_like=False):
    file: int
    line: int
    event_time: str
    version: str | None
    account_id: str | None
    region: str | None
    vpc_id: str | None
    query_name: str
    query_type: str | None
    query_class: str | None
    rcode: str | None
    answers: list[str]
    srcaddr: str | None
    srcport: int | None
    transport: str | None
    instance_id: str | None
    resolver_endpoint: str | None
    base_domain: str
    subdomain: str
    max_label_length: int
    subdomain_entropy: float


_DECODER: Final = msgspec.json.Decoder(Query)
_ENCODER: Final = msgspec.json.Encoder()
_SCRATCH: Final = {
    "file": "INTEGER", "line": "INTEGER", "event_time": "TIMESTAMP", "version": "VARCHAR",
    "account_id": "VARCHAR", "region": "VARCHAR", "vpc_id": "VARCHAR", "query_name": "VARCHAR",
    "query_type": "VARCHAR", "query_class": "VARCHAR", "rcode": "VARCHAR", "answers": "VARCHAR[]",
    "srcaddr": "VARCHAR", "srcport": "INTEGER", "transport": "VARCHAR", "instance_id": "VARCHAR",
    "resolver_endpoint": "VARCHAR", "base_domain": "VARCHAR", "subdomain": "VARCHAR",
    "max_label_length": "INTEGER", "subdomain_entropy": "DOUBLE",
}
_COLUMNS_ARG: Final = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _SCRATCH.items()) + "}"
_READ_COLUMNS: Final = [k for k in _SCRATCH if k not in ("file", "line")]
_INSERT: Final = f"""
INSERT INTO {DNS_TABLE} (event_id, source_file, line, {', '.join(_READ_COLUMNS)})
SELECT f.name || ':' || s.line, f.name, s.line, {', '.join('s.' + c for c in _READ_COLUMNS)}
FROM read_json(?, format = 'newline_delimited', columns = {_COLUMNS_ARG}) AS s
JOIN _net_files AS f ON f.idx = s.file
"""


def split_name(name: str) -> tuple[str, str]:
    """``(registered domain, subdomain)`` of a lower-case name without its trailing dot."""
    labels = name.split(".")
    keep = 3 if len(labels) >= 3 and ".".join(labels[-2:]) in TWO_LEVEL_SUFFIXES else 2
    if len(labels) <= keep:
        return name, ""
    return ".".join(labels[-keep:]), ".".join(labels[:-keep])


def entropy(text: str) -> float:
    """Shannon entropy of ``text``'s characters, in bits per character (0 for an empty text)."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _time(value: str) -> str | None:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat()


def _port(value: str | int | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _row(query: Query, file_index: int, line: int) -> _Row | str:
    """The scratch row of a decoded query, or why it is not one."""
    if not query.query_name or not query.query_name.strip("."):
        return "missing query_name"
    if not query.query_timestamp:
        return "missing query_timestamp"
    when = _time(query.query_timestamp)
    if when is None:
        return f"query_timestamp {query.query_timestamp[:40]!r} is not an ISO 8601 time"
    name = query.query_name.strip().rstrip(".").lower()
    base, sub = split_name(name)
    labels = sub.split(".") if sub else []
    srcids = query.srcids or _SrcIds()
    return _Row(
        file=file_index, line=line, event_time=when,
        version=None if query.version is None else str(query.version),
        account_id=query.account_id, region=query.region, vpc_id=query.vpc_id, query_name=name,
        query_type=query.query_type, query_class=query.query_class, rcode=query.rcode,
        answers=[a.Rdata for a in query.answers or [] if a.Rdata], srcaddr=query.srcaddr,
        srcport=_port(query.srcport), transport=query.transport, instance_id=srcids.instance,
        resolver_endpoint=srcids.resolver_endpoint, base_domain=base, subdomain=sub,
        max_label_length=max((len(label) for label in labels), default=0),
        subdomain_entropy=round(entropy(sub.replace(".", "")), 4),
    )


def dns_rows(name: str, text: str, file_index: int, report: ReadReport) -> list[_Row]:
    """The good queries of one object; bad lines go into ``report``. Raises :class:`SkipFile` for a bad object."""
    if not text.strip():
        raise SkipFile("empty file")
    if text.lstrip()[:1] != "{":
        raise SkipFile("not a Route 53 resolver query log (one JSON object a line)")
    rows: list[_Row] = []
    bad: list[SkippedRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            query = _DECODER.decode(line)
        except msgspec.ValidationError as exc:
            bad.append(SkippedRecord(name, where, f"a field of an unexpected type: {exc}"))
            continue
        except msgspec.DecodeError as exc:
            bad.append(SkippedRecord(name, where, f"not a JSON object: {exc}"))
            continue
        row = _row(query, file_index, number)
        if isinstance(row, str):
            bad.append(SkippedRecord(name, where, row))
        else:
            rows.append(row)
    if not rows:
        reason = bad[0].reason if bad else "no records"
        raise SkipFile(f"not a Route 53 resolver query log: none of its lines is a query ({reason})")
    report.records_skipped.extend(bad)
    return rows


def load_dns_objects(conn: duckdb.DuckDBPyConnection, objects: Iterable[LogObject], report: ReadReport,
                     scratch: Path, register: Callable[[str], int]) -> int:
    """Read every object into ``dns_logs``; returns the queries inserted. ``register(name)`` indexes a file."""
    path = scratch / "dns.jsonl"
    inserted = 0
    with path.open("wb") as out:
        for obj in objects:
            try:
                rows = dns_rows(obj.key, read_text(obj), register(obj.key), report)
            except SkipFile as skip:
                report.files_skipped.append(SkippedFile(obj.key, skip.reason))
                continue
            report.files_read += 1
            report.records += len(rows)
            inserted += len(rows)
            out.write(_ENCODER.encode_lines(rows))
    if inserted:
        conn.execute(_INSERT, [str(path)])
    path.unlink(missing_ok=True)
    return inserted
