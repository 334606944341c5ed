"""CloudTrail records as delimited rows for DuckDB's CSV reader: the loader's fast path.

msgspec decodes each record into a struct of raw JSON tokens (:class:`msgspec.Raw`) holding only the
record fields the rule set reads; each record becomes one line of those tokens joined by the unit
separator ``\\x1f``. Valid JSON text never holds that byte raw (control characters are escaped inside
strings, and outside strings only spaces, tabs and line breaks may appear), so no quoting is needed.
DuckDB's parallel CSV reader reads the lines and SQL turns each token into its column: a string token is
unquoted (and unescaped when it holds a backslash), ``userIdentity`` is read with one JSON extraction,
the JSON members stay JSON text.

Written by hand because no library turns JSON documents into DuckDB rows at this speed: measured on a
million CloudTrail events, decoding to Python values and re-encoding JSON Lines for DuckDB's JSON reader
cost 3.5 s of single-threaded Python (plus DuckDB re-parsing every key), tokens joined into lines cost
2.6 s, and DuckDB's CSV reader never parses the fields the rules do not read. ``pyarrow`` would need a
Python-level pass per value to build columns, which is slower still.

A record the fast path cannot take (a document that is not one line per record, a field of an odd
type, a missing ``eventID``) is left to the loader's careful path, which names what it skips.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import msgspec
from msgspec.structs import astuple

from cloudwarden.detect.table import COLUMN_NAMES

SEPARATOR: Final = b"\x1f"
_NULL: Final = msgspec.Raw(b"null")
_ENVELOPE: Final = re.compile(rb'^\s*\{\s*"Records"\s*:')
FILE_FIELD: Final = "cloudwardenFile"  # the index of the object a row came from (ours, not CloudTrail's)

# Top-level CloudTrail fields the table is built from, in row order.
RECORD_FIELDS: Final = (
    "eventTime", "eventID", "eventVersion", "eventSource", "eventName", "eventType", "eventCategory",
    "awsRegion", "sourceIPAddress", "userAgent", "errorCode", "errorMessage", "readOnly", "managementEvent",
    "recipientAccountId", "requestID", "userIdentity", "requestParameters", "responseElements",
    "additionalEventData", "resources", "tlsDetails",
)
# Fields every row needs: what makes a record an event, and what the loader itself reads.
REQUIRED_FIELDS: Final = frozenset({"eventTime", "eventID", "eventSource", "eventName"})

# userIdentity paths, in the order of the identity columns.
_IDENTITY_PATHS: Final = (
    ("identity_type", "type"),
    ("identity_arn", "arn"),
    ("identity_account_id", "accountId"),
    ("identity_principal_id", "principalId"),
    ("identity_user_name", "userName"),
    ("access_key_id", "accessKeyId"),
    ("invoked_by", "invokedBy"),
    ("session_issuer_arn", "sessionContext.sessionIssuer.arn"),
    ("session_issuer_type", "sessionContext.sessionIssuer.type"),
    ("mfa_authenticated", "sessionContext.attributes.mfaAuthenticated"),
    ("session_created", "sessionContext.attributes.creationDate"),
    ("_issuer_user_name", "sessionContext.sessionIssuer.userName"),
)
_SCALARS: Final = {
    "event_id": "eventID", "event_version": "eventVersion", "event_source": "eventSource",
    "event_name": "eventName", "event_type": "eventType", "event_category": "eventCategory",
    "aws_region": "awsRegion", "source_ip": "sourceIPAddress", "user_agent": "userAgent",
    "error_code": "errorCode", "error_message": "errorMessage", "recipient_account_id": "recipientAccountId",
    "request_id": "requestID",
}
_BOOLEANS: Final = {"read_only": "readOnly", "management_event": "managementEvent"}
_MEMBERS: Final = {
    "request_parameters": "requestParameters", "response_elements": "responseElements",
    "additional_event_data": "additionalEventData", "resources": "resources", "tls_details": "tlsDetails",
}
COLUMN_FIELDS: Final[dict[str, str]] = {
    **_SCALARS, **_BOOLEANS, **_MEMBERS, "event_time": "eventTime",
    **{column: "userIdentity" for column, _ in _IDENTITY_PATHS if not column.startswith("_")},
}
_WORD: Final = re.compile(r"[a-z_]+")


def fields_read_by(sql_texts: Iterable[str]) -> frozenset[str]:
    """The record fields behind every ``cloudtrail`` column named in ``sql_texts``, plus the required ones.

    Conservative by construction: a column name anywhere in the text (even inside a string literal)
    keeps its field.
    """
    words: set[str] = set()
    for text in sql_texts:
        words.update(_WORD.findall(text))
    return frozenset(REQUIRED_FIELDS | {COLUMN_FIELDS[c] for c in words & COLUMN_FIELDS.keys()})


@dataclass(frozen=True)
class RowCodec:
    """Decoders and SQL for one set of kept fields (:func:`codec` caches one per set)."""

    fields: tuple[str, ...]
    envelope: msgspec.json.Decoder[Any]
    array: msgspec.json.Decoder[Any]
    record: msgspec.json.Decoder[Any]

    def rows(self, raw: bytes, index: int) -> tuple[bytes, int] | None:
        """``raw``'s records as lines of tokens (each ending with the file ``index``), and their number.

        None when the fast path declines the document: not JSON, no records, a record that is not an
        object, or a multi-line document (pretty-printed JSON: its members would break the lines).
        """
        try:
            if _ENVELOPE.match(raw):
                if not _one_line(raw):
                    return None
                records = self.envelope.decode(raw).Records
            elif raw.lstrip()[:1] == b"[":
                if not _one_line(raw):
                    return None
                records = self.array.decode(raw)
            else:
                records = self.record.decode_lines(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not records:
            return None
        mark = msgspec.Raw(b"%d" % index)
        for record in records:
            record.cloudwardenFile = mark
        join = SEPARATOR.join
        return b"\n".join([join(astuple(record)) for record in records]) + b"\n", len(records)

    def select_sql(self) -> str:
        """``SELECT`` of the table's columns (and ``file_idx``) from the rows file given as parameter ``?``."""
        kept = set(self.fields)
        exprs: list[str] = []
        identity = dict(_IDENTITY_PATHS)
        for column in COLUMN_NAMES:
            if column == "source_file":
                continue
            field = COLUMN_FIELDS[column]
            if field not in kept:
                exprs.append(f"NULL AS {column}")
            elif column == "event_time":
                exprs.append(f"timezone('UTC', try_cast({_string('eventTime')} AS TIMESTAMPTZ)) AS event_time")
            elif column in _SCALARS:
                exprs.append(f"{_string(field)} AS {column}")
            elif column in _BOOLEANS:
                exprs.append(f"try_cast({_string(field)} AS BOOLEAN) AS {column}")
            elif column in _MEMBERS:
                exprs.append(f"{_member(field)} AS {column}")
            elif column == "identity_user_name":
                exprs.append(f"coalesce({_identity('identity_user_name')}, {_identity('_issuer_user_name')})"
                             " AS identity_user_name")
            else:
                assert column in identity, column
                exprs.append(f"{_identity(column)} AS {column}")
        exprs.append(f"CAST(\"{FILE_FIELD}\" AS INTEGER) AS file_idx")
        names = [*self.fields, FILE_FIELD]
        columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
        paths = "[" + ", ".join(f"'$.{path}'" for _, path in _IDENTITY_PATHS) + "]"
        identity_sql = (f", json_extract_string(\"userIdentity\", {paths}) AS _ui" if "userIdentity" in kept
                        else "")
        delimiter = SEPARATOR.decode()
        return (
            f"SELECT {', '.join(exprs)} FROM (SELECT *{identity_sql} FROM read_csv(?, delim = '{delimiter}', "
            f"quote = '', escape = '', header = false, auto_detect = false, columns = {columns}))"
        )


def _string(field: str) -> str:
    """SQL turning a JSON token into text: a plain string token unquoted, anything else through JSON."""
    x = f'"{field}"'
    return (f"if(starts_with({x}, '\"') AND NOT contains({x}, '\\'), {x}[2:-2], "
            f"json_extract_string({x}, '$'))")


def _member(field: str) -> str:
    """SQL for a JSON member: NULL for ``null``; minified (as DuckDB's JSON reader would) when it holds
    whitespace or ``\\u`` escapes, so rules see one spelling whatever the source's formatting."""
    x = f'"{field}"'
    return (f"CASE WHEN {x} = 'null' THEN NULL WHEN contains({x}, ' ') OR contains({x}, chr(9)) "
            f"OR contains({x}, '\\u') THEN CAST(json({x}) AS VARCHAR) ELSE {x} END")


def _identity(column: str) -> str:
    position = [name for name, _ in _IDENTITY_PATHS].index(column) + 1
    return f"_ui[{position}]"


def _one_line(raw: bytes) -> bool:
    """True when ``raw`` has no line break before its trailing whitespace."""
    for brk in (b"\n", b"\r"):
        at = raw.find(brk)
        if at != -1 and raw[at:].strip():
            return False
    return True


@cache
def codec(fields: frozenset[str] | None = None) -> RowCodec:
    """The :class:`RowCodec` keeping ``fields`` (None: every field the table is built from)."""
    kept = tuple(f for f in RECORD_FIELDS if fields is None or f in fields or f in REQUIRED_FIELDS)
    record = msgspec.defstruct(
        "Record", [(name, msgspec.Raw, _NULL) for name in (*kept, FILE_FIELD)], gc=False)
    envelope = msgspec.defstruct("Envelope", [("Records", list[record])], gc=False)  # type: ignore[valid-type]
    return RowCodec(
        fields=kept,
        envelope=msgspec.json.Decoder(envelope),
        array=msgspec.json.Decoder(list[record]),  # type: ignore[valid-type]
        record=msgspec.json.Decoder(record),
    )
