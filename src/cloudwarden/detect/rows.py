"""CloudTrail records as delimited rows for DuckDB's CSV reader: the loader's fast path.

msgspec decodes each record into a struct of raw JSON tokens (:class:`msgspec.Raw`) holding only the
record fields the rule set reads; each record becomes one line of those tokens, each token preceded by
the unit separator ``\\x1f`` (so a line starts with an empty column, and one join writes every line).
Valid JSON text never holds that byte raw (control characters are escaped inside strings, and outside
strings only spaces, tabs and line breaks may appear), so the separator needs no quoting.

DuckDB's parallel CSV reader, told that ``"`` quotes and ``\\`` escapes, then unquotes the string tokens
itself: a JSON string without escapes, or with only ``\\"`` and ``\\\\``, means exactly what the CSV
reader makes of it. Tokens that do not start with a quote (objects, arrays, numbers, ``true``) are kept
verbatim, and an unquoted ``null`` is SQL NULL. A line holding any other escape (``\\n``, ``\\u00e9``,
...) would be read wrongly that way, so it goes to a second file that is read unquoted, each token
turned into text by SQL (:func:`_string`): rare in CloudTrail (92 lines in 250,000 of the benchmark's).
``userIdentity`` is read with one JSON extraction (of the parts the rules read); the JSON members stay JSON
text, NULL outside their scope (the rows of the API calls whose rules read them).

Written by hand because no library turns JSON documents into DuckDB rows at this speed: measured on a
million CloudTrail events, decoding to Python values and re-encoding JSON Lines for DuckDB's JSON reader
cost 3.5 s of single-threaded Python (plus DuckDB re-parsing every key), tokens joined into lines cost
2.6 s, and DuckDB's CSV reader never parses the fields the rules do not read. Letting the CSV reader
unquote the strings instead of SQL saves DuckDB ~1.2 CPU-s per million events. ``pyarrow`` would need a
Python-level pass per value to build columns, which is slower still.

A record the fast path cannot take (a document that is not one line per record, a field of an odd
type, a missing ``eventID``) is left to the loader's careful path, which names what it skips.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import Any, Final

import msgspec
from msgspec.structs import astuple

from cloudwarden.detect.table import COLUMN_NAMES

SEPARATOR: Final = b"\x1f"
_NULL: Final = msgspec.Raw(b"null")
_ENVELOPE: Final = re.compile(rb'^\s*\{\s*"Records"\s*:')
_CSV_ESCAPES: Final = frozenset(b'"\\')  # the escapes the CSV reader undoes as JSON does
Piece = bytes | memoryview  # a run of whole lines (a view into a document's joined lines)
_LEAD: Final = "_"  # each line's empty first column (see RowCodec.rows)
_LINE_START: Final = (b"",)
_HEAD: Final = 256  # how far into a document a pretty-printed one has broken a line (see _pretty)
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
MEMBER_COLUMNS: Final = tuple(_MEMBERS)
# The columns a member's scope tests, and the fields they come from.
_SCOPE_FIELDS: Final = {"event_name": "eventName", "event_source": "eventSource"}
Scope = tuple[tuple[str, tuple[str, ...]], ...]
"""Where a JSON member is loaded: ``((column, values), ...)``; a row is in scope when its ``event_name``,
``lower(event_name)``, ``event_source`` or ``lower(event_source)`` is among the values listed for that
column (see :func:`cloudwarden.detect.compile.member_scopes`)."""
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


def identity_read_by(sql_texts: Iterable[str]) -> tuple[str, ...]:
    """The identity columns (``identity_arn``, ``session_issuer_type``, ...) named in ``sql_texts``, in table order.

    Conservative like :func:`fields_read_by`; extracting only these from ``userIdentity`` spares DuckDB the
    others (the rule pack and SigmaHQ's rules read 8 of the 11).
    """
    words: set[str] = set()
    for text in sql_texts:
        words.update(_WORD.findall(text))
    return tuple(column for column, _ in _IDENTITY_PATHS if column in words)


@dataclass(frozen=True)
class RowCodec:
    """Decoders and SQL for one set of kept fields, member scopes and identity columns (:func:`codec` caches
    one per combination)."""

    fields: tuple[str, ...]
    envelope: msgspec.json.Decoder[Any]
    array: msgspec.json.Decoder[Any]
    record: msgspec.json.Decoder[Any]
    scopes: tuple[tuple[str, Scope], ...] = ()
    identity: tuple[str, ...] | None = None  # the identity columns extracted from userIdentity (None: all)

    def rows(self, raw: bytes, index: int) -> tuple[list[Piece], list[Piece], int] | None:
        """``raw``'s records as lines of tokens (each ending with the file ``index``): the pieces of the lines
        the CSV reader may unquote, the pieces of those holding other escapes (usually none), and the number
        of records. Written out in order, each list's pieces are its lines.

        None when the fast path declines the document: not JSON, no records, a record that is not an
        object, or a pretty-printed document (a line break near its start: its members would break the lines).
        """
        try:
            if _ENVELOPE.match(raw):
                if _pretty(raw):
                    return None
                records = self.envelope.decode(raw).Records
            elif raw.lstrip()[:1] == b"[":
                if _pretty(raw):
                    return None
                records = self.array.decode(raw)
            else:
                records = self.record.decode_lines(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if not records:
            return None
        mark = msgspec.Raw(b"%d\n" % index)  # the last token of a line ends it
        for record in records:
            record.cloudwardenFile = mark
        # One join over every token: each line starts with a separator (an empty first column), so joining
        # the records' tokens end to end writes every line at once, copying each token once.
        data = SEPARATOR.join(chain(_LINE_START, chain.from_iterable(map(astuple, records))))
        return (*_split_escaped(data), len(records))

    def select_sql(self, *, quoted: bool = True) -> str:
        """``SELECT`` of the table's columns (and ``file_idx``) from the rows file given as parameter ``?``.

        ``quoted``: the file :meth:`rows` returns first (the CSV reader unquotes strings); else the second.
        A member with a scope is NULL on the rows outside it.
        """
        kept = set(self.fields)
        scopes = dict(self.scopes)
        exprs: list[str] = []
        identity = dict(_IDENTITY_PATHS)
        wanted = set(identity if self.identity is None else self.identity)
        if "identity_user_name" in wanted:
            wanted.add("_issuer_user_name")  # its fallback
        extracted = [(column, path) for column, path in _IDENTITY_PATHS if column in wanted]
        position = {column: index for index, (column, _) in enumerate(extracted, start=1)}

        def from_identity(column: str) -> str:
            return f"_ui[{position[column]}]" if column in position else "NULL"
        string = _quoted_string if quoted else _string
        member = _quoted_member if quoted else _member
        for column in COLUMN_NAMES:
            if column == "source_file":
                continue
            field = COLUMN_FIELDS[column]
            if field not in kept:
                exprs.append(f"NULL AS {column}")
            elif column == "event_time":
                exprs.append(f"timezone('UTC', try_cast({string('eventTime')} AS TIMESTAMPTZ)) AS event_time")
            elif column in _SCALARS:
                exprs.append(f"{string(field)} AS {column}")
            elif column in _BOOLEANS:
                exprs.append(f"try_cast({string(field)} AS BOOLEAN) AS {column}")
            elif column in _MEMBERS:
                scope = scopes.get(field)
                value = member(field)
                if scope is not None:
                    value = f"CASE WHEN {_in_scope(scope, string)} THEN {value} END"
                exprs.append(f"{value} AS {column}")
            elif column == "identity_user_name":
                exprs.append(f"coalesce({from_identity(column)}, {from_identity('_issuer_user_name')})"
                             " AS identity_user_name")
            else:
                assert column in identity, column
                exprs.append(f"{from_identity(column)} AS {column}")
        exprs.append(f"CAST(\"{FILE_FIELD}\" AS INTEGER) AS file_idx")
        names = [_LEAD, *self.fields, FILE_FIELD]
        columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in names) + "}"
        paths = "[" + ", ".join(f"'$.{path}'" for _, path in extracted) + "]"
        identity_sql = (f", json_extract_string(\"userIdentity\", {paths}) AS _ui"
                        if "userIdentity" in kept and extracted else "")
        delimiter = SEPARATOR.decode()
        quoting = ("quote = '\"', escape = '\\', strict_mode = true, nullstr = 'null', allow_quoted_nulls = false"
                   if quoted else "quote = '', escape = ''")
        return (
            f"SELECT {', '.join(exprs)} FROM (SELECT *{identity_sql} FROM read_csv(?, delim = '{delimiter}', "
            f"{quoting}, new_line = '\\n', header = false, auto_detect = false, columns = {columns}))"
        )


def _quoted_string(field: str) -> str:
    """A token the CSV reader already unquoted (and an unquoted ``null`` made NULL)."""
    return f'"{field}"'


def _quoted_member(field: str) -> str:
    """:func:`_member` of a token the CSV reader read: objects and arrays arrive verbatim. A member that is
    a JSON string (CloudTrail writes none) arrives unquoted; unless its text is itself JSON it is quoted
    again, so the column always holds valid JSON."""
    x = f'"{field}"'
    return f"CASE WHEN json_valid({x}) THEN {_minified(x)} ELSE CAST(to_json({x}) AS VARCHAR) END"


def _string(field: str) -> str:
    """SQL turning a JSON token into text: a plain string token unquoted, anything else through JSON."""
    x = f'"{field}"'
    return (f"if(starts_with({x}, '\"') AND NOT contains({x}, '\\'), {x}[2:-2], "
            f"json_extract_string({x}, '$'))")


def _member(field: str) -> str:
    """SQL for a JSON member: NULL for ``null``; minified (as DuckDB's JSON reader would) when it holds
    whitespace or ``\\u`` escapes, so rules see one spelling whatever the source's formatting."""
    x = f'"{field}"'
    return f"CASE WHEN {x} = 'null' THEN NULL ELSE {_minified(x)} END"


def _minified(x: str) -> str:
    return (f"CASE WHEN contains({x}, ' ') OR contains({x}, chr(9)) OR contains({x}, chr(13)) OR contains({x}, '\\u') "
            f"THEN CAST(json({x}) AS VARCHAR) ELSE {x} END")


def _in_scope(scope: Scope, string: Callable[[str], str]) -> str:
    """SQL testing whether a row is in ``scope``; ``string`` spells a field's text (see :meth:`RowCodec.select_sql`)."""
    terms = []
    for column, values in scope:
        field = _SCOPE_FIELDS[column.removeprefix("lower(").removesuffix(")")]
        tested = string(field) if column in _SCOPE_FIELDS else f"lower({string(field)})"
        listed = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
        terms.append(f"{tested} IN ({listed})")
    return " OR ".join(terms) or "false"


def _split_escaped(data: bytes) -> tuple[list[Piece], list[Piece]]:
    """Pieces of ``data``'s lines without, and with, a JSON escape other than ``\\"`` and ``\\\\`` (which the
    CSV reader undoes as JSON does); the pieces are views of ``data``, nothing is copied.

    A loop over ``find`` rather than a regular expression or a test per line: backslashes are rare, and
    ``find`` skips to the next one at memory speed (a regex search was 2% of the whole load).
    """
    cuts: list[tuple[int, int]] = []
    at = data.find(b"\\")
    while at != -1:
        if data[at + 1] in _CSV_ESCAPES:
            at = data.find(b"\\", at + 2)
            continue
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at) + 1 or len(data)
        cuts.append((start, end))
        at = data.find(b"\\", end)  # escapes never cross a line: go on from the next one
    if not cuts:
        return [data], []
    view = memoryview(data)
    kept = zip([0, *(end for _, end in cuts)], [*(start for start, _ in cuts), len(data)], strict=True)
    return [view[a:b] for a, b in kept if b > a], [view[a:b] for a, b in cuts]


def _pretty(raw: bytes) -> bool:
    """True when ``raw`` breaks a line near its start, as pretty-printed JSON does.

    Only the start is read: scanning a whole object for line breaks cost ~0.2 s a million events. A
    one-line document with a line break inside a member further on is still caught: its line reaches
    DuckDB in two pieces of the wrong width, the strict CSV reader rejects the batch, and the loader
    reads its objects again by the careful path.
    """
    head = raw[:_HEAD].rstrip()
    return b"\n" in head or b"\r" in head


@cache
def codec(fields: frozenset[str] | None = None, scopes: tuple[tuple[str, Scope], ...] = (),
          identity: tuple[str, ...] | None = None) -> RowCodec:
    """The :class:`RowCodec` keeping ``fields`` (None: every field the table is built from), each member named
    in ``scopes`` (``(field, scope)`` pairs, e.g. ``("requestParameters", ...)``) only on the rows in its scope,
    and of the identity columns only ``identity`` (:func:`identity_read_by`; None: all of them)."""
    kept = tuple(f for f in RECORD_FIELDS if fields is None or f in fields or f in REQUIRED_FIELDS)
    record = msgspec.defstruct(
        "Record", [(name, msgspec.Raw, _NULL) for name in (*kept, FILE_FIELD)], gc=False)
    envelope = msgspec.defstruct("Envelope", [("Records", list[record])], gc=False)  # type: ignore[valid-type]
    return RowCodec(
        fields=kept,
        envelope=msgspec.json.Decoder(envelope),
        array=msgspec.json.Decoder(list[record]),  # type: ignore[valid-type]
        record=msgspec.json.Decoder(record),
        scopes=scopes,
        identity=identity,
    )
