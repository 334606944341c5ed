"""The normalised ``cloudtrail`` table every rule reads, and the one mapping from CloudTrail field names to it.

One row per event; the columns are those of the detection contract (snake_case, nullable except
``event_id``/``event_time``). Rule authors and the Sigma compiler name CloudTrail fields as CloudTrail
does (``eventName``, ``userIdentity.arn``, ``requestParameters.bucketName``); :func:`field_sql` turns a
field into the SQL that reads it, through :data:`FIELD_COLUMNS` for top-level fields and a JSON
extraction (spelled by the dialect) for anything under a JSON column.
"""

from __future__ import annotations

from typing import Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.detect.dialect import DUCKDB, Dialect

TABLE: Final = "cloudtrail"

# (column, DuckDB type) in table order.
COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "VARCHAR NOT NULL"),
    ("event_time", "TIMESTAMP NOT NULL"),
    ("event_version", "VARCHAR"),
    ("event_source", "VARCHAR"),
    ("event_name", "VARCHAR"),
    ("event_type", "VARCHAR"),
    ("event_category", "VARCHAR"),
    ("aws_region", "VARCHAR"),
    ("source_ip", "VARCHAR"),
    ("user_agent", "VARCHAR"),
    ("error_code", "VARCHAR"),
    ("error_message", "VARCHAR"),
    ("read_only", "BOOLEAN"),
    ("management_event", "BOOLEAN"),
    ("recipient_account_id", "VARCHAR"),
    ("request_id", "VARCHAR"),
    ("identity_type", "VARCHAR"),
    ("identity_arn", "VARCHAR"),
    ("identity_account_id", "VARCHAR"),
    ("identity_principal_id", "VARCHAR"),
    ("identity_user_name", "VARCHAR"),
    ("access_key_id", "VARCHAR"),
    ("invoked_by", "VARCHAR"),
    ("session_issuer_arn", "VARCHAR"),
    ("session_issuer_type", "VARCHAR"),
    ("mfa_authenticated", "VARCHAR"),
    ("session_created", "VARCHAR"),
    ("request_parameters", "JSON"),
    ("response_elements", "JSON"),
    ("additional_event_data", "JSON"),
    ("resources", "JSON"),
    ("tls_details", "JSON"),
    ("source_file", "VARCHAR"),
)
COLUMN_NAMES: Final = tuple(name for name, _ in COLUMNS)

# CloudTrail field path -> column. Case-sensitive, as CloudTrail spells them.
FIELD_COLUMNS: Final[dict[str, str]] = {
    "eventID": "event_id",
    "eventTime": "event_time",
    "eventVersion": "event_version",
    "eventSource": "event_source",
    "eventName": "event_name",
    "eventType": "event_type",
    "eventCategory": "event_category",
    "awsRegion": "aws_region",
    "sourceIPAddress": "source_ip",
    "userAgent": "user_agent",
    "errorCode": "error_code",
    "errorMessage": "error_message",
    "readOnly": "read_only",
    "managementEvent": "management_event",
    "recipientAccountId": "recipient_account_id",
    "requestID": "request_id",
    "userIdentity.type": "identity_type",
    "userIdentity.arn": "identity_arn",
    "userIdentity.accountId": "identity_account_id",
    "userIdentity.principalId": "identity_principal_id",
    "userIdentity.userName": "identity_user_name",
    "userIdentity.accessKeyId": "access_key_id",
    "userIdentity.invokedBy": "invoked_by",
    "userIdentity.sessionContext.sessionIssuer.arn": "session_issuer_arn",
    "userIdentity.sessionContext.sessionIssuer.type": "session_issuer_type",
    "userIdentity.sessionContext.sessionIssuer.userName": "identity_user_name",
    "userIdentity.sessionContext.attributes.mfaAuthenticated": "mfa_authenticated",
    "userIdentity.sessionContext.attributes.creationDate": "session_created",
    "requestParameters": "request_parameters",
    "responseElements": "response_elements",
    "additionalEventData": "additional_event_data",
    "resources": "resources",
    "tlsDetails": "tls_details",
}

# Top-level fields kept as JSON text; a path below one is a JSON extraction.
JSON_FIELDS: Final[dict[str, str]] = {
    "requestParameters": "request_parameters",
    "responseElements": "response_elements",
    "additionalEventData": "additional_event_data",
    "resources": "resources",
    "tlsDetails": "tls_details",
}


def field_sql(field: str, dialect: Dialect = DUCKDB) -> str:
    """SQL reading CloudTrail field ``field`` from the ``cloudtrail`` table, as a string (or the column).

    ``eventName`` -> ``event_name``; ``requestParameters.bucketName`` ->
    ``json_extract_string(request_parameters, '$.bucketName')`` (DuckDB). ``resources[0].ARN`` and
    ``resources.ARN`` read the first element. Unknown fields raise :class:`BadInputError`.
    """
    if field in FIELD_COLUMNS:
        return FIELD_COLUMNS[field]
    head, dot, rest = field.partition(".")
    bracket = head.find("[")
    if bracket > 0:  # resources[0].ARN
        rest = head[bracket:] + (("." + rest) if rest else "")
        head = head[:bracket]
        dot = "."
    if head in JSON_FIELDS and dot and rest:
        if head == "resources" and not rest.startswith("["):
            rest = "[0]." + rest
        path = "$" + (rest if rest.startswith("[") else "." + rest)
        return dialect.json_path(JSON_FIELDS[head], path)
    raise BadInputError(field, "not a CloudTrail field the cloudtrail table holds "
                               f"(top-level fields: {', '.join(sorted(FIELD_COLUMNS))}; or a path under "
                               f"{', '.join(JSON_FIELDS)})")


def create_table_sql(name: str = TABLE, *, temporary: bool = False) -> str:
    """``CREATE TABLE`` for the normalised table (DuckDB types)."""
    columns = ", ".join(f"{column} {kind}" for column, kind in COLUMNS)
    return f"CREATE {'TEMP ' if temporary else ''}TABLE {name} ({columns})"
