"""CloudTrail records as rows of only the fields the rules read, for DuckDB: the loader's two fast paths.

**The C scanner** (:mod:`cloudwarden.detect._ctscan`, built from ``_ctscan.c`` when the install had a C
compiler) validates each ``{"Records": [...]}`` document as strict JSON and UTF-8 in one pass without the GIL,
and appends the kept fields as text columns: strings unescaped, other scalars as written, ``userIdentity``'s
kept paths as columns of their own, the JSON members as minified text. DuckDB reads those columns through
the Arrow C stream interface and casts them with the same SQL as below (:meth:`RowCodec.scanned_sql`;
``json()`` normalises a member as DuckDB's JSON reader does), so both paths give the same table. Anything
odd (a document of another shape, bad UTF-8, a number DuckDB would rewrite in a text field, a repeated
key, a missing ``eventID``, ...) is declined whole, and the document goes the JSON Lines way.

**JSON Lines** (the path of a declined document, and the only one without the extension): msgspec decodes
each record into a struct holding only the record fields the rule set reads: each top-level field a raw
JSON token (:class:`msgspec.Raw`, copied, never parsed into Python values) and ``userIdentity`` a struct
of only the identity paths the rules read (raw tokens too). msgspec's encoder writes the structs back out
as one JSON Lines text (null fields left out), and DuckDB's parallel JSON reader, told each column's type,
reads it: strings unescaped as JSON says, the identity paths as struct fields, the JSON members re-written
minified. In both paths the JSON members stay JSON text, NULL outside their scope (the rows of the API
calls whose rules read them).

Both are written by hand because no library turns CloudTrail's files (one JSON object per file, its
records in a list) into DuckDB rows at this speed. Measured on a million CloudTrail events: DuckDB's JSON
reader over the files themselves takes 51 s (it reads one huge object on one thread); pyarrow's and
polars' JSON readers cost 2.6x and 3x msgspec's decode; decoding to Python values and re-encoding JSON
Lines costs 3.5 s of single-threaded Python, plus DuckDB parsing every field of the records again. The C
scanner's load of the same million events: 7.9-8.4 CPU-s against 12.3-12.9 for JSON Lines.

A record neither path takes (a record without ``eventID``, a field of an odd type) is left to the loader's
careful path, which names what it skips.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import msgspec

from cloudwarden.detect.table import COLUMN_NAMES

if TYPE_CHECKING:
    from cloudwarden.detect._ctscan import Builder


def _scanner_class() -> type[Builder] | None:
    try:
        from cloudwarden.detect._ctscan import Builder
    except ImportError:  # installed without a C compiler: the JSON Lines path serves alone
        return None
    return Builder


SCANNER: Final = _scanner_class()
"""The C scanner's builder class (:mod:`cloudwarden.detect._ctscan`), or None where it was not built."""

_NULL: Final = msgspec.Raw(b"null")
_ENVELOPE: Final = re.compile(rb'^\s*\{\s*"Records"\s*:')
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
    """Decoders, encoder and SQL for one set of kept fields, member scopes and identity columns (:func:`codec`
    caches one per combination)."""

    fields: tuple[str, ...]
    envelope: msgspec.json.Decoder[Any]
    array: msgspec.json.Decoder[Any]
    record: msgspec.json.Decoder[Any]
    scopes: tuple[tuple[str, Scope], ...] = ()
    identity: tuple[str, ...] | None = None  # the identity columns kept from userIdentity (None: all)

    def rows(self, raw: bytes, index: int) -> tuple[bytes, int] | None:
        """``raw``'s records as JSON Lines of the kept fields, each line carrying the file ``index``, and the
        number of records.

        None when the fast path declines the document: not JSON, no records, a record that is not an
        object or has a field of an odd type, or a pretty-printed document (a line break near its start:
        its members would break the lines).
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
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            return None
        if not records:
            return None
        for record in records:
            record.cloudwardenFile = index
        return _ENCODER.encode_lines(records), len(records)

    def select_sql(self) -> str:
        """``SELECT`` of the table's columns (and ``file_idx``) from the JSON Lines file given as parameter ``?``.

        A member with a scope is NULL on the rows outside it.
        """
        types = {name: _field_type(name) for name in self.fields}
        if "userIdentity" in types:
            types["userIdentity"] = identity_struct_type(self.identity)
        types[FILE_FIELD] = "INTEGER"
        columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"
        exprs = self._exprs(lambda field: f'CAST("{field}" AS VARCHAR)', identity_columns_sql(self.identity))
        return (f"SELECT {exprs} FROM read_json(?, format = 'newline_delimited', "
                f"columns = {columns})")

    def scanner(self) -> Builder | None:
        """An empty :class:`~cloudwarden.detect._ctscan.Builder` of this codec's columns, or None without the
        extension (an install that had no C compiler) or with ``CLOUDWARDEN_SCANNER=off``."""
        if SCANNER is None or os.environ.get("CLOUDWARDEN_SCANNER", "").lower() == "off":
            return None
        members = tuple(f for f in self.fields if f in _MEMBERS.values())
        fields = tuple(f for f in self.fields if f not in members and f != "userIdentity")
        paths = tuple(_identity_paths(self._scanned_identity).values())
        # Each member's scope, so that the scanner copies a member only onto the rows that keep it.
        scopes = {member: [(_SCOPE_FIELDS[column.removeprefix("lower(").removesuffix(")")],
                            column.startswith("lower("), values) for column, values in scope]
                  for member, scope in self.scopes if member in members}
        return SCANNER(fields, members, paths, scopes=scopes)

    def scanned_sql(self, relation: str) -> str:
        """``SELECT`` of the table's columns (and ``file_idx``) from ``relation``, a :meth:`scanner`'s rows.

        The same values as :meth:`select_sql` gives for the same records: the scanner hands over text, and
        DuckDB casts it here as it does there. ``json()`` writes a member as DuckDB's JSON reader does
        (minified, numbers and escapes normalised), and only on the rows in its scope.
        """
        identity = identity_columns_sql(self._scanned_identity, lambda path: f'"userIdentity.{path}"')
        exprs = self._exprs(lambda field: 'json("' + field + '")', identity)
        return f"SELECT {exprs} FROM {relation}"

    @property
    def _scanned_identity(self) -> tuple[str, ...] | None:
        """The identity columns the scanner keeps: none when ``userIdentity`` is not kept at all."""
        return self.identity if "userIdentity" in self.fields else ()

    def _exprs(self, member_sql: Callable[[str], str], identity: dict[str, str]) -> str:
        """The select list shared by both row sources: ``member_sql`` reads a JSON member's field, ``identity``
        holds each identity column's SQL (see :func:`identity_columns_sql`)."""
        kept = set(self.fields)
        scopes = dict(self.scopes)
        exprs: list[str] = []
        for column in COLUMN_NAMES:
            if column == "source_file":
                continue
            field = COLUMN_FIELDS[column]
            if field not in kept:
                exprs.append(f"NULL AS {column}")
            elif column == "event_time":
                exprs.append("timezone('UTC', try_cast(\"eventTime\" AS TIMESTAMPTZ)) AS event_time")
            elif column in _SCALARS:
                exprs.append(f'"{field}" AS {column}')
            elif column in _BOOLEANS:
                exprs.append(f'try_cast("{field}" AS BOOLEAN) AS {column}')
            elif column in _MEMBERS:
                scope = scopes.get(field)
                value = member_sql(field)
                if scope is not None:
                    value = f"CASE WHEN {_in_scope(scope)} THEN {value} END"
                exprs.append(f"{value} AS {column}")
            else:
                exprs.append(f"{identity[column]} AS {column}")
        exprs.append(f'"{FILE_FIELD}" AS file_idx')
        return ", ".join(exprs)


_ENCODER: Final = msgspec.json.Encoder()


def identity_columns_sql(identity: tuple[str, ...] | None = None,
                         path_sql: Callable[[str], str] | None = None) -> dict[str, str]:
    """``{column: SQL}`` reading each identity column (in table order): by default from a ``userIdentity``
    struct column of :func:`identity_struct_type`, or through ``path_sql`` (a ``userIdentity`` path to the
    SQL reading it). The columns not in ``identity`` (None: all) are NULL. ``identity_user_name`` falls back
    to the session issuer's name, as CloudTrail's assumed-role records carry it there."""
    read = path_sql or _struct_path_sql
    extracted = _identity_paths(identity)

    def sql(column: str) -> str:
        path = extracted.get(column)
        return "NULL" if path is None else read(path)

    columns = {column: sql(column) for column, _ in _IDENTITY_PATHS if not column.startswith("_")}
    columns["identity_user_name"] = f"coalesce({columns['identity_user_name']}, {sql('_issuer_user_name')})"
    return columns


def identity_struct_type(identity: tuple[str, ...] | None = None) -> str:
    """The DuckDB ``STRUCT`` type of ``userIdentity`` holding the paths of the identity columns in ``identity``
    (None: all)."""
    return _struct_type(_path_tree(_identity_paths(identity).values()))


def _identity_paths(identity: tuple[str, ...] | None) -> dict[str, str]:
    """``{column: userIdentity path}`` of the identity columns kept (None: all), with the fallback of
    ``identity_user_name`` when it is kept."""
    wanted = {column for column, _ in _IDENTITY_PATHS} if identity is None else set(identity)
    if "identity_user_name" in wanted:
        wanted.add("_issuer_user_name")
    return {column: path for column, path in _IDENTITY_PATHS if column in wanted}


def _field_type(field: str) -> str:
    """The JSON reader's type for a top-level field: JSON members stay JSON, everything else is text (a
    time or boolean is cast by SQL, so that a bad one is NULL, not an error)."""
    return "JSON" if field in _MEMBERS.values() else "VARCHAR"


def _struct_path_sql(path: str) -> str:
    """SQL reading one ``userIdentity`` path (``sessionContext.sessionIssuer.arn``) from the struct column."""
    return '"userIdentity".' + ".".join(f'"{part}"' for part in path.split("."))


PathTree = dict[str, "PathTree"]


def _path_tree(paths: Iterable[str]) -> PathTree:
    """Dotted paths as nested dicts, leaves empty: ``["a", "b.c"]`` is ``{"a": {}, "b": {"c": {}}}``."""
    tree: PathTree = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})
    return tree


def _struct_type(tree: PathTree) -> str:
    """The DuckDB ``STRUCT`` type of a path tree (leaves are text)."""
    members = ", ".join(f'"{name}" {_struct_type(child) if child else "VARCHAR"}' for name, child in tree.items())
    return f"STRUCT({members})"


def _struct(name: str, tree: PathTree) -> type[msgspec.Struct]:
    """A msgspec struct holding only the paths of ``tree``: leaves raw JSON tokens, branches structs (absent:
    None). Fields equal to their default are left out when encoding."""
    fields: list[tuple[str, Any, Any]] = []
    for key, child in tree.items():
        if child:
            fields.append((key, _struct(f"{name}_{key}", child) | None, None))
        else:
            fields.append((key, msgspec.Raw, _NULL))
    return msgspec.defstruct(name, fields, omit_defaults=True, gc=False)


def _in_scope(scope: Scope) -> str:
    """SQL testing whether a row is in ``scope`` (see :meth:`RowCodec.select_sql`)."""
    terms = []
    for column, values in scope:
        field = _SCOPE_FIELDS[column.removeprefix("lower(").removesuffix(")")]
        tested = f'"{field}"' if column in _SCOPE_FIELDS else f'lower("{field}")'
        listed = ", ".join("'" + value.replace("'", "''") + "'" for value in values)
        terms.append(f"{tested} IN ({listed})")
    return " OR ".join(terms) or "false"


def _pretty(raw: bytes) -> bool:
    """True when ``raw`` breaks a line near its start, as pretty-printed JSON does.

    Only the start is read: scanning a whole object for line breaks cost ~0.2 s a million events. A
    one-line document with a line break inside a member further on is still caught: the JSON reader
    rejects the broken line, and the loader reads the batch's objects again by the careful path.
    """
    head = raw[:_HEAD].rstrip()
    return b"\n" in head or b"\r" in head


@cache
def codec(fields: frozenset[str] | None = None, scopes: tuple[tuple[str, Scope], ...] = (),
          identity: tuple[str, ...] | None = None) -> RowCodec:
    """The :class:`RowCodec` keeping ``fields`` (None: every field the table is built from), each member named
    in ``scopes`` (``(field, scope)`` pairs, e.g. ``("requestParameters", ...)``) only on the rows in its scope,
    and of the identity columns only ``identity`` (:func:`identity_read_by`; None: all of them)."""
    identity_tree = _path_tree(_identity_paths(identity).values())
    kept = tuple(f for f in RECORD_FIELDS if (fields is None or f in fields or f in REQUIRED_FIELDS)
                 and (f != "userIdentity" or identity_tree))  # no identity column wanted: no userIdentity
    members: list[tuple[str, Any, Any]] = []
    for name in kept:
        if name == "userIdentity":
            members.append((name, _struct("Identity", identity_tree) | None, None))
        else:
            members.append((name, msgspec.Raw, _NULL))
    members.append((FILE_FIELD, int, -1))
    record = msgspec.defstruct("Record", members, omit_defaults=True, gc=False)
    envelope = msgspec.defstruct("Envelope", [("Records", list[record])], gc=False)  # type: ignore[valid-type]
    return RowCodec(
        fields=kept,
        envelope=msgspec.json.Decoder(envelope),
        array=msgspec.json.Decoder(list[record]),  # type: ignore[valid-type]
        record=msgspec.json.Decoder(record),
        scopes=scopes,
        identity=identity,
    )
