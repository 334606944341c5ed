"""Amazon Security Lake's CloudTrail records (OCSF) projected onto the ``cloudtrail`` table the rules read.

Security Lake stores CloudTrail management events as OCSF in Parquet: source version 2 writes OCSF 1.1
(*API Activity*, class 6003; sign-ins as *Authentication*, 3002; IAM user changes as *Account Change*,
3001; all in one table), version 1 wrote OCSF 1.0 release candidates. Every rule is written against the
``cloudtrail`` columns (:mod:`cloudwarden.detect.table`), so one SELECT here turns an OCSF row into a
``cloudtrail`` row, and the same rules run unchanged:

* ``time`` (epoch ms) -> ``event_time``; ``metadata.uid`` -> ``event_id``; ``api.service.name`` /
  ``api.operation`` -> ``event_source`` / ``event_name``; ``actor.user.*``, ``actor.session.*``,
  ``src_endpoint.ip`` (or ``.domain`` for an AWS service caller), ``http_request.user_agent``,
  ``api.response.error`` / ``.message``; ``api.request.data`` / ``api.response.data`` (JSON text) ->
  ``request_parameters`` / ``response_elements``; ``resources[]`` rebuilt as CloudTrail's
  ``[{"ARN", "accountId", "type"}]``; what OCSF has no place for comes from ``unmapped``
  (``readOnly``, ``managementEvent``, ``additionalEventData``, ``tlsDetails``), whether ``unmapped`` is a
  map of flattened keys (``additionalEventData.MFAUsed``), a map of JSON members, or JSON text.
* Reconstructed where Security Lake moved a member: a console sign-in's ``status`` becomes
  ``{"ConsoleLogin": "Success"}`` and its ``is_mfa`` ``{"MFAUsed": "Yes"}`` when the originals are gone;
  ``identity_user_name`` and ``session_issuer_type`` of a role session are read off the issuer's ARN.
* Dropped by Security Lake (NULL in the table, see :data:`NULL_COLUMNS`): whatever ``unmapped`` does not
  carry, typically ``read_only``, ``management_event``, ``tls_details`` and ``additional_event_data``.

The SELECT is written once, in the rules' portable spelling (DuckDB's, rendered for Spark by
:mod:`cloudwarden.detect.dialect`). Four constructs have no portable spelling -- epoch milliseconds to a
timestamp, a map lookup that tolerates a missing key, rebuilding a list of structs, a SHA-256 -- so they
are written as ``ocsf_*`` calls and each dialect gets a template for them (:data:`HELPERS`). OCSF fields
are written ``${path}``: files differ in which fields they hold (a field absent everywhere is absent from
the Parquet schema, and naming it fails the query), so :func:`projection_sql` reads the file's schema
(:func:`duckdb_schema` or the Spark reader's) and writes NULL for an absent one.

Hand-written, not through an OCSF library: the mapping is the contract with the rules, small and fixed,
and must render to two SQL engines.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect.dialect import DIALECTS, Dialect
from cloudwarden.detect.table import COLUMN_NAMES

Schema = Mapping[str, str]
"""Dotted field path -> kind (``struct``, ``list``, ``map`` or a scalar type name, lower case). A list's
element fields are named ``path[].field``; the element itself ``path[]``."""

LOG_FORMAT: Final = "security-lake"
"""The ``--log-format`` name of this input."""

# Columns every Security Lake CloudTrail file holds; a Parquet file without them is some other data.
REQUIRED_FIELDS: Final = ("time", "api", "metadata")

# Security Lake keeps these CloudTrail members only where ``unmapped`` carries them (or never): rules reading
# them see NULL. Reported to users in docs/spark.md.
NULL_COLUMNS: Final = {
    "read_only": "readOnly: only in unmapped",
    "management_event": "managementEvent: only in unmapped",
    "additional_event_data": "additionalEventData: only in unmapped (a console sign-in's MFAUsed is rebuilt "
                             "from is_mfa)",
    "tls_details": "tlsDetails: only in unmapped",
    "event_type": "eventType: metadata.event_code in OCSF 1.1, unmapped in 1.0",
    "session_created": "sessionContext.attributes.creationDate: actor.session.created_time",
    "mfa_authenticated": "sessionContext.attributes.mfaAuthenticated: actor.session.is_mfa",
}

# Calls the portable subset lacks, per dialect ({0}, {1}: the call's arguments; literal braces doubled).
HELPERS: Final[dict[str, dict[str, str]]] = {
    "duckdb": {
        "ocsf_ms_to_timestamp": "make_timestamp(CAST({0} AS BIGINT) * 1000)",
        "ocsf_to_timestamp": "CAST({0} AS TIMESTAMP)",
        "ocsf_ms_to_iso": "strftime(make_timestamp(CAST({0} AS BIGINT) * 1000), '%Y-%m-%dT%H:%M:%SZ')",
        "ocsf_to_iso": "strftime(CAST({0} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%SZ')",
        "ocsf_sha256": "sha256({0})",
        "ocsf_map_get": "{0}[{1}]",
        "ocsf_map_object": ("CASE WHEN len(list_filter(map_entries({0}), lambda _e: starts_with(_e.key, {1}))) > 0 "
                            "THEN CAST(to_json(map_from_entries(list_transform(list_filter(map_entries({0}), "
                            "lambda _e: starts_with(_e.key, {1})), lambda _e: {{'key': substr(_e.key, "
                            "length({1}) + 1), 'value': _e.value}}))) AS VARCHAR) END"),
        "ocsf_resources": ("CASE WHEN len({0}) > 0 THEN CAST(to_json(list_transform({0}, lambda _r: "
                           "{{'accountId': {2}, 'type': {3}, 'ARN': {1}}})) AS VARCHAR) END"),
        "ocsf_json": "CASE WHEN json_valid(nullif({0}, 'null')) THEN nullif({0}, 'null') END",
        "ocsf_to_json": "CAST(to_json({0}) AS VARCHAR)",
    },
    "spark": {
        "ocsf_ms_to_timestamp": "CAST(timestamp_millis(CAST({0} AS BIGINT)) AS TIMESTAMP_NTZ)",
        "ocsf_to_timestamp": "CAST({0} AS TIMESTAMP_NTZ)",
        "ocsf_ms_to_iso": "date_format(timestamp_millis(CAST({0} AS BIGINT)), \"yyyy-MM-dd'T'HH:mm:ss'Z'\")",
        "ocsf_to_iso": "date_format(CAST({0} AS TIMESTAMP_NTZ), \"yyyy-MM-dd'T'HH:mm:ss'Z'\")",
        "ocsf_sha256": "sha2({0}, 256)",
        "ocsf_map_get": "try_element_at({0}, {1})",
        "ocsf_map_object": ("CASE WHEN size(filter(map_entries({0}), _e -> startswith(_e.key, {1}))) > 0 "
                            "THEN to_json(map_from_entries(transform(filter(map_entries({0}), "
                            "_e -> startswith(_e.key, {1})), _e -> named_struct('key', substr(_e.key, "
                            "length({1}) + 1), 'value', _e.value)))) END"),
        "ocsf_resources": ("CASE WHEN size({0}) > 0 THEN to_json(transform({0}, _r -> named_struct("
                           "'accountId', {2}, 'type', {3}, 'ARN', {1}))) END"),
        "ocsf_json": "CASE WHEN try_parse_json(nullif({0}, 'null')) IS NOT NULL THEN nullif({0}, 'null') END",
        "ocsf_to_json": "to_json({0})",
    },
}

# Field names that mean the same thing in OCSF 1.0 (Security Lake source version 1) and 1.1 (version 2).
_LAYOUTS: Final[dict[str, dict[str, str]]] = {
    "1.1": {"@identity_arn": "${actor.user.uid}", "@principal_id": "${actor.user.uid_alt}",
            "@account_id": "${actor.user.account.uid}", "@is_mfa": "${actor.session.is_mfa}"},
    "1.0": {"@identity_arn": "${actor.user.uuid}", "@principal_id": "${actor.user.uid}",
            "@account_id": "${actor.user.account_uid}", "@is_mfa": "${actor.session.mfa}"},
}

_ISSUER_NAME: Final = "nullif(regexp_extract(${actor.session.issuer}, '/([^/]+)$', 1), '')"

# The projection: one expression per ``cloudtrail`` column, in table order. ``${path}`` is an OCSF field
# (NULL where the file lacks it), ``${@name}`` a field whose spelling depends on the file (see projection_sql).
PROJECTION: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "coalesce(${metadata.uid}, 'cw-' || substr(ocsf_sha256(concat_ws('|', CAST(${time} AS VARCHAR), "
                 "${api.service.name}, ${api.operation}, ${@identity_arn}, ${src_endpoint.ip}, "
                 "${api.request.uid}, ${api.request.data})), 1, 32))"),
    ("event_time", "${@time}"),
    ("event_version", "${metadata.product.version}"),
    ("event_source", "${api.service.name}"),
    ("event_name", "${api.operation}"),
    ("event_type", "coalesce(${metadata.event_code}, ${unmapped.eventType})"),
    ("event_category", "coalesce(${metadata.product.feature.name}, ${unmapped.eventCategory})"),
    ("aws_region", "coalesce(${cloud.region}, CAST(${region} AS VARCHAR))"),
    ("source_ip", "coalesce(${src_endpoint.ip}, ${src_endpoint.domain})"),
    ("user_agent", "${http_request.user_agent}"),
    ("error_code", "${api.response.error}"),
    ("error_message", "${api.response.message}"),
    ("read_only", "${@bool:readOnly}"),
    ("management_event", "${@bool:managementEvent}"),
    ("recipient_account_id", "coalesce(${cloud.account.uid}, ${unmapped.recipientAccountId}, "
                             "CAST(${accountid} AS VARCHAR))"),
    ("request_id", "${api.request.uid}"),
    ("identity_type", "${actor.user.type}"),
    ("identity_arn", "${@identity_arn}"),
    ("identity_account_id", "${@account_id}"),
    ("identity_principal_id", "${@principal_id}"),
    ("identity_user_name", f"coalesce(${{actor.user.name}}, {_ISSUER_NAME})"),
    ("access_key_id", "${actor.user.credential_uid}"),
    ("invoked_by", "${actor.invoked_by}"),
    ("session_issuer_arn", "${actor.session.issuer}"),
    ("session_issuer_type", "CASE WHEN ${actor.session.issuer} LIKE '%:role/%' THEN 'Role' "
                            "WHEN ${actor.session.issuer} LIKE '%:user/%' THEN 'IAMUser' "
                            "WHEN ${actor.session.issuer} LIKE '%:root' THEN 'Root' END"),
    ("mfa_authenticated", "lower(CAST(${@is_mfa} AS VARCHAR))"),
    ("session_created", "${@session_created}"),
    ("request_parameters", "coalesce(${@json:api.request.data}, ${@object:requestParameters})"),
    ("response_elements", "coalesce(${@json:api.response.data}, ${@object:responseElements}, "
                          "CASE WHEN ${api.operation} = 'ConsoleLogin' AND ${status} IN ('Success', 'Failure') "
                          "THEN '{\"ConsoleLogin\":\"' || ${status} || '\"}' END)"),
    ("additional_event_data", "coalesce(${@object:additionalEventData}, "
                              "CASE WHEN ${api.operation} = 'ConsoleLogin' AND ${is_mfa} IS NOT NULL "
                              "THEN '{\"MFAUsed\":\"' || CASE WHEN ${is_mfa} THEN 'Yes' ELSE 'No' END || '\"}' END)"),
    ("resources", "${@resources}"),
    ("tls_details", "${@object:tlsDetails}"),
    ("source_file", "${@source_file}"),
)
assert tuple(name for name, _ in PROJECTION) == COLUMN_NAMES, "the projection must follow the table's columns"

# A row is an event only with these; the others are counted as skipped records.
VALID_ROW: Final = "event_time IS NOT NULL AND event_source IS NOT NULL AND event_name IS NOT NULL"

_TOKEN: Final = re.compile(r"\$\{([@A-Za-z_][A-Za-z0-9_.:\[\]]*)\}")
_NUMERIC: Final = frozenset({"bigint", "integer", "int", "long", "hugeint", "ubigint", "uinteger", "smallint",
                             "double", "float", "decimal"})
_TEXT: Final = frozenset({"varchar", "string"})


def dialect_for(engine: str) -> Dialect:
    """The engine's dialect with the ``ocsf_*`` helper templates added."""
    base = DIALECTS[engine]
    return dataclasses.replace(base, call_templates={**base.call_templates, **HELPERS[engine]})


def projection_sql(schema: Schema, engine: str, *, source: str, source_file: str) -> str:
    """``SELECT <the cloudtrail columns> FROM source`` for rows of ``schema``, in ``engine``'s SQL.

    ``source`` is a table, view or table function; ``source_file`` the SQL of the column naming each
    row's file. Rows are not filtered: wrap the query and keep :data:`VALID_ROW`.
    """
    missing = [name for name in REQUIRED_FIELDS if name not in schema]
    if missing:
        raise BadInputError(source, f"not Security Lake CloudTrail (OCSF) data: no {', '.join(missing)} column")
    layout = _LAYOUTS["1.0" if "actor.user.uuid" in schema or "actor.user.account_uid" in schema else "1.1"]
    quote = "`" if engine == "spark" else '"'

    def field(path: str) -> str:
        if path not in schema:
            return "NULL"
        head, dot, rest = path.partition(".")
        return f"{quote}{head}{quote}{dot}{rest}"

    def special(name: str) -> str:
        kind, _, arg = name.partition(":")
        if kind in layout:
            return expand(layout[kind])
        if kind == "@time":
            return _time(schema, "time", field, iso=False)
        if kind == "@session_created":
            if "actor.session.created_time" in schema:
                return _time(schema, "actor.session.created_time", field, iso=True)
            return _time(schema, "actor.session.created_time_dt", field, iso=True)
        if kind == "@bool":
            text = f"lower(CAST({unmapped(arg)} AS VARCHAR))"
            return f"CASE WHEN {text} = 'true' THEN true WHEN {text} = 'false' THEN false END"
        if kind == "@json":
            return _json(schema, arg, field)
        if kind == "@object":
            return f"coalesce({_json_text(unmapped(arg))}, {flattened(arg)})"
        if kind == "@resources":
            if schema.get("resources") != "list":
                return "NULL"
            return (f"ocsf_resources({field('resources')}, {element('uid')}, "
                    f"coalesce({element('owner.account.uid')}, {element('account_uid')}), {element('type')})")
        if kind == "@source_file":
            return source_file
        raise ValueError(f"unknown projection token {name!r}")

    def element(name: str) -> str:
        return f"_r.{name}" if f"resources[].{name}" in schema else "NULL"

    def unmapped(key: str) -> str:
        kind = schema.get("unmapped")
        literal = "'" + key.replace("'", "''") + "'"
        if kind == "map":
            return f"ocsf_map_get({field('unmapped')}, {literal})"
        if kind in _TEXT:
            return f"json_extract_string({field('unmapped')}, '$.{key}')"
        return field(f"unmapped.{key}")

    def flattened(prefix: str) -> str:
        if schema.get("unmapped") != "map":
            return "NULL"
        return f"ocsf_map_object({field('unmapped')}, '{prefix}.')"

    def expand(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("@"):
                return special(name)
            if name.startswith("unmapped."):
                return unmapped(name.removeprefix("unmapped."))
            return field(name)

        return _TOKEN.sub(one, text)

    columns = ",\n       ".join(f"{expand(sql)} AS {column}" for column, sql in PROJECTION)
    return dialect_for(engine).render(f"SELECT {columns}\nFROM {source}")


def _time(schema: Schema, path: str, field: Callable[[str], str], *, iso: bool) -> str:
    kind = schema.get(path)
    if kind is None:
        return "NULL"
    if kind in _NUMERIC:
        return f"ocsf_ms_to_{'iso' if iso else 'timestamp'}({field(path)})"
    if kind in _TEXT and not iso:
        return f"ocsf_to_timestamp({field(path)})"
    if kind in _TEXT:
        return field(path)  # already ISO 8601 text
    return f"ocsf_to_{'iso' if iso else 'timestamp'}({field(path)})"


def _json(schema: Schema, path: str, field: Callable[[str], str]) -> str:
    """A JSON member as JSON text: text is checked (invalid JSON is NULL), structs are serialised."""
    kind = schema.get(path)
    if kind is None:
        return "NULL"
    if kind in _TEXT:
        return f"ocsf_json({field(path)})"
    return f"ocsf_to_json({field(path)})"


def _json_text(sql: str) -> str:
    return "NULL" if sql == "NULL" else f"ocsf_json({sql})"


# --- schemas -------------------------------------------------------------------------------------------------


def duckdb_schema(names: Sequence[str], types: Sequence[Any]) -> dict[str, str]:
    """The :data:`Schema` of a DuckDB relation (``relation.columns``, ``relation.types``)."""
    schema: dict[str, str] = {}
    for name, kind in zip(names, types, strict=True):
        _walk_duckdb(schema, name, kind)
    return schema


def _walk_duckdb(schema: dict[str, str], path: str, kind: Any) -> None:
    ident = str(kind.id).lower()
    schema[path] = ident
    if ident == "struct":
        for name, child in kind.children:
            _walk_duckdb(schema, f"{path}.{name}", child)
    elif ident == "list":
        _walk_duckdb(schema, f"{path}[]", kind.children[0][1])


def spark_schema(fields: Iterable[Any]) -> dict[str, str]:
    """The :data:`Schema` of a Spark ``StructType`` (its fields)."""
    schema: dict[str, str] = {}
    for item in fields:
        _walk_spark(schema, item.name, item.dataType)
    return schema


def _walk_spark(schema: dict[str, str], path: str, kind: Any) -> None:
    name = type(kind).__name__
    if name == "StructType":
        schema[path] = "struct"
        for item in kind.fields:
            _walk_spark(schema, f"{path}.{item.name}", item.dataType)
    elif name == "ArrayType":
        schema[path] = "list"
        _walk_spark(schema, f"{path}[]", kind.elementType)
    elif name == "MapType":
        schema[path] = "map"
    else:
        schema[path] = kind.simpleString().split("(")[0].lower()
