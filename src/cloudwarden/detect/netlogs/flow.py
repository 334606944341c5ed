"""Reading VPC flow logs into the ``flow_logs`` table.

Flow logs delivered to S3 start with a header line naming the fields, space-separated: the version 2
default format (``version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes
start end action log-status``) or a custom format whose header names other fields of versions 2 to 5
(``vpc-id``, ``instance-id``, ``tcp-flags``, ``flow-direction``, ``pkt-srcaddr``...). The header decides
which column each field goes to; fields we do not keep are read past. A headerless object (a CloudWatch
Logs export) is taken as the default format when its first line has the default's 14 fields and starts
with ``2``; anything else without a header is skipped whole, with the reason.

A record with the wrong number of fields, a non-numeric port or counter, or an unknown action is
skipped and reported with its object and line; the rest of the object is read. ``-`` is AWS's "no
value" (NODATA/SKIPDATA records, fields that do not apply) and becomes NULL.

Hand-written: the format is a space-separated table whose columns the header names, and DuckDB's CSV
reader cannot say which line was bad without failing or dropping it silently. Each object's good
records are written to a scratch tab-separated file that DuckDB's parallel CSV reader inserts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

import duckdb

from cloudwarden.detect.cloudtrail_files import ReadReport, SkipFile, SkippedFile, SkippedRecord
from cloudwarden.detect.load import LogObject
from cloudwarden.detect.netlogs.sources import read_text, region_from_key
from cloudwarden.detect.netlogs.tables import FLOW_TABLE

DEFAULT_FORMAT: Final = ("version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
                         "protocol", "packets", "bytes", "start", "end", "action", "log-status")

# Field name -> (scratch column, numeric). The scratch columns, in order, are what the INSERT reads.
KEPT_FIELDS: Final[dict[str, tuple[str, bool]]] = {
    "version": ("version", True),
    "account-id": ("account_id", False),
    "region": ("region", False),
    "interface-id": ("interface_id", False),
    "vpc-id": ("vpc_id", False),
    "subnet-id": ("subnet_id", False),
    "instance-id": ("instance_id", False),
    "srcaddr": ("srcaddr", False),
    "dstaddr": ("dstaddr", False),
    "srcport": ("srcport", True),
    "dstport": ("dstport", True),
    "protocol": ("protocol", True),
    "packets": ("packets", True),
    "bytes": ("bytes", True),
    "start": ("start", True),
    "end": ("end", True),
    "action": ("action", False),
    "log-status": ("log_status", False),
    "tcp-flags": ("tcp_flags", True),
    "pkt-srcaddr": ("pkt_srcaddr", False),
    "pkt-dstaddr": ("pkt_dstaddr", False),
    "flow-direction": ("flow_direction", False),
}
# Fields of versions 2-5 that rules do not read: accepted in a header, not stored.
OTHER_FIELDS: Final = frozenset({
    "type", "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service", "pkt-dst-aws-service",
    "traffic-path", "ecs-cluster-arn", "ecs-cluster-name", "ecs-container-instance-arn",
    "ecs-container-instance-id", "ecs-container-id", "ecs-second-container-id", "ecs-service-name",
    "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id", "reject-reason", "resource-id",
    "encryption-status",
})
REQUIRED_FIELDS: Final = ("interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "start",
                          "action")
ACTIONS: Final = frozenset({"ACCEPT", "REJECT", "-"})
LOG_STATUSES: Final = frozenset({"OK", "NODATA", "SKIPDATA", "-"})

_SCRATCH_COLUMNS: Final = ("file", "line", "default_region",
                           *dict.fromkeys(column for column, _ in KEPT_FIELDS.values()))
_NUMERIC: Final = frozenset(column for column, numeric in KEPT_FIELDS.values() if numeric)
_FIELD_NAME: Final = re.compile(r"^[a-z][a-z0-9-]*$")
_BIGINT_COLUMNS: Final = frozenset({"packets", "bytes", "start", "end"})


def _scratch_type(column: str) -> str:
    if column in ("file", "line"):
        return "INTEGER"
    if column in _BIGINT_COLUMNS:
        return "BIGINT"
    return "INTEGER" if column in _NUMERIC else "VARCHAR"


_COLUMNS_ARG: Final = "{" + ", ".join(f"'{c}': '{_scratch_type(c)}'" for c in _SCRATCH_COLUMNS) + "}"
_INSERT: Final = f"""
INSERT INTO {FLOW_TABLE} (event_id, event_time, end_time, version, account_id, region, interface_id, vpc_id,
    subnet_id, srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, action, log_status, tcp_flags,
    pkt_srcaddr, pkt_dstaddr, flow_direction, instance_id, source_file, line)
SELECT f.name || ':' || s.line, make_timestamp(s.start * 1000000), make_timestamp(s."end" * 1000000), s.version,
       s.account_id, coalesce(s.region, s.default_region), s.interface_id, s.vpc_id, s.subnet_id, s.srcaddr,
       s.dstaddr, s.srcport, s.dstport, s.protocol, s.packets, s.bytes, s.action, s.log_status, s.tcp_flags,
       s.pkt_srcaddr, s.pkt_dstaddr, lower(s.flow_direction), s.instance_id, f.name, s.line
FROM read_csv(?, delim = '\t', header = false, quote = '', escape = '', nullstr = '',
              columns = {_COLUMNS_ARG}) AS s
JOIN _net_files AS f ON f.idx = s.file
"""


class FlowFormat:
    """The field layout of one object: which position goes to which scratch column."""

    def __init__(self, fields: tuple[str, ...]) -> None:
        self.fields = fields
        self.positions = {KEPT_FIELDS[name][0]: index for index, name in enumerate(fields) if name in KEPT_FIELDS}

    @classmethod
    def from_header(cls, line: str) -> FlowFormat | None:
        """The format a header line names, or None when the line is not a header."""
        names = tuple(line.split())
        if not names or not all(_FIELD_NAME.match(n) for n in names):
            return None
        unknown = [n for n in names if n not in KEPT_FIELDS and n not in OTHER_FIELDS]
        if unknown or len(set(names)) != len(names):
            return None
        return cls(names)

    def missing(self) -> list[str]:
        return [name for name in REQUIRED_FIELDS if name not in self.fields]


def flow_rows(name: str, text: str, file_index: int, report: ReadReport) -> list[str]:
    """The good records of one object as scratch lines; bad records go into ``report``.

    Raises :class:`SkipFile` when the object as a whole is not a flow log.
    """
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise SkipFile("empty file")
    head = lines[first]
    fmt = FlowFormat.from_header(head)
    if fmt is not None:
        start = first + 1
    elif len(head.split()) == len(DEFAULT_FORMAT) and head.split()[0] == "2":
        fmt, start = FlowFormat(DEFAULT_FORMAT), first  # a headerless export of the default format
    else:
        raise SkipFile("not a VPC flow log: no header line naming the fields (version account-id "
                       "interface-id ...) and not the version 2 default format")
    missing = fmt.missing()
    if missing:
        raise SkipFile(f"the header lacks fields detection needs: {', '.join(missing)}")
    region = region_from_key(name) or ""
    expected = len(fmt.fields)
    order = [(column, fmt.positions.get(column)) for column in _SCRATCH_COLUMNS[3:]]
    action_at = fmt.positions["action"]
    status_at = fmt.positions.get("log_status")
    out: list[str] = []
    bad: list[SkippedRecord] = []
    for number in range(start, len(lines)):
        parts = lines[number].split()
        if not parts:
            continue
        where = f"line {number + 1}"
        if len(parts) != expected:
            bad.append(SkippedRecord(name, where, f"{len(parts)} fields, the header names {expected}"))
            continue
        problem = _problem(parts, fmt, action_at, status_at)
        if problem:
            bad.append(SkippedRecord(name, where, problem))
            continue
        values = [str(file_index), str(number + 1), region]
        for _column, at in order:
            value = parts[at] if at is not None else "-"
            values.append("" if value == "-" else value)
        out.append("\t".join(values))
    if not out and bad:
        raise SkipFile(f"not a VPC flow log: none of its {len(bad)} records is valid ({bad[0].reason})")
    report.records_skipped.extend(bad)
    return out


def _problem(parts: list[str], fmt: FlowFormat, action_at: int, status_at: int | None) -> str | None:
    for column, at in fmt.positions.items():
        if column in _NUMERIC:
            value = parts[at]
            if value != "-" and not value.isdigit():
                return f"{column} {value[:20]!r} is not a number"
    if parts[action_at] not in ACTIONS:
        return f"action {parts[action_at][:20]!r} is not ACCEPT or REJECT"
    if status_at is not None and parts[status_at] not in LOG_STATUSES:
        return f"log-status {parts[status_at][:20]!r} is not OK, NODATA or SKIPDATA"
    return None


def load_flow_objects(conn: duckdb.DuckDBPyConnection, objects: Iterable[LogObject], report: ReadReport,
                      scratch: Path, register: Callable[[str], int]) -> int:
    """Read every object into ``flow_logs``; returns the records inserted. ``register(name)`` indexes a file."""
    path = scratch / "flow.tsv"
    inserted = 0
    with path.open("w", encoding="utf-8") as out:
        for obj in objects:
            try:
                rows = flow_rows(obj.key, read_text(obj), register(obj.key), report)
            except SkipFile as skip:
                report.files_skipped.append(SkippedFile(obj.key, skip.reason))
                continue
            report.files_read += 1
            report.records += len(rows)
            inserted += len(rows)
            if rows:
                out.write("\n".join(rows))
                out.write("\n")
    if inserted:
        conn.execute(_INSERT, [str(path)])
    path.unlink(missing_ok=True)
    return inserted
