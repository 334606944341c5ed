"""The normalised ``cloudtrail`` table (and the threat-intel tables) as Spark temporary views.

Two ways in, one table (the columns of :mod:`cloudwarden.detect.table`, same names, same order):

* :func:`from_duckdb` -- files, directory trees and ``s3://`` objects are read by the DuckDB engine's
  loader (msgspec decoding, bad-input reports, ``--since/--until``, de-duplication, checkpoints), and the
  loaded table is handed to Spark as Parquet (local mode) or as rows (a cluster, whose executors cannot
  see the driver's scratch files). The JSON columns therefore hold byte for byte the text DuckDB rules
  read, which is what makes the two engines' findings identical.
* :func:`read_native` -- ``s3a://`` (or any Hadoop path) read by Spark itself, for data that lives next to
  a cluster: CloudTrail's delivery format (gzipped ``{"Records": [...]}``, one JSON document per file),
  with an explicit schema (no inference pass), the JSON members kept as JSON text, and records without
  ``eventTime``/``eventSource``/``eventName`` dropped and counted.

Intel lists are matched on the driver (:class:`~cloudwarden.detect.threat_intel.ThreatIntel`) against the
distinct source addresses, exactly as for DuckDB, and registered as two small views.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb

from cloudwarden.detect.compile import CITED_COLUMNS, CITED_TABLE
from cloudwarden.detect.table import COLUMN_NAMES, COLUMNS, TABLE
from cloudwarden.detect.threat_intel import ThreatIntel

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INTEL_IP: Final = "intel_ip"
INTEL_DOMAIN: Final = "intel_domain"
_INTEL_SCHEMA: Final = "ip STRING, list STRING, category STRING"
_DOMAIN_SCHEMA: Final = "domain STRING, list STRING, category STRING"
_SPARK_TYPES: Final = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP_NTZ", "BOOLEAN": "BOOLEAN", "JSON": "STRING",
                       "INTEGER": "INT", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE", "VARCHAR[]": "ARRAY<STRING>"}


def spark_type(kind: str) -> str:
    """A DuckDB column type (``VARCHAR NOT NULL``, ``VARCHAR[]``, ...) spelled for Spark."""
    return _SPARK_TYPES[kind.split()[0]]


def schema(columns: Sequence[tuple[str, str]]) -> str:
    """A Spark DDL schema for DuckDB ``(name, type)`` columns."""
    return ", ".join(f"{name} {spark_type(kind)}" for name, kind in columns)


def from_duckdb(spark: SparkSession, conn: duckdb.DuckDBPyConnection, scratch: Path) -> DataFrame:
    """The DuckDB ``cloudtrail`` table of ``conn`` as the Spark view ``cloudtrail`` (cached)."""
    return table_from_duckdb(spark, conn, TABLE, COLUMNS, scratch)


def table_from_duckdb(spark: SparkSession, conn: duckdb.DuckDBPyConnection, table: str,
                      columns: Sequence[tuple[str, str]], scratch: Path) -> DataFrame:
    """DuckDB's ``table`` (its ``columns``, in order) as the cached Spark view of the same name.

    Local mode reads a Parquet copy written to ``scratch``; a cluster gets the rows (its executors cannot
    see the driver's scratch files). Either way the columns keep their names and (Spark's) types.
    """
    names = ", ".join(name for name, _ in columns)
    if (spark.sparkContext.master or "").startswith("local"):
        target = scratch / f"{table}.parquet"
        conn.execute(f"COPY (SELECT {names} FROM {table}) TO '{_sql_path(target)}' (FORMAT parquet)")
        frame = spark.read.parquet(str(target))
        frame = frame.select(*[frame[name].cast(spark_type(kind)) for name, kind in columns])
    else:
        rows = conn.execute(f"SELECT {names} FROM {table}").fetchall()
        frame = spark.createDataFrame(rows, schema=schema(columns))
    frame = frame.cache()
    frame.createOrReplaceTempView(table)
    return frame


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def intel_from_duckdb(spark: SparkSession, conn: duckdb.DuckDBPyConnection) -> None:
    """The intel matches a loaded DuckDB chunk holds (its ``intel_ip`` and ``intel_domain``) as Spark views."""
    for view, view_schema in ((INTEL_IP, _INTEL_SCHEMA), (INTEL_DOMAIN, _DOMAIN_SCHEMA)):
        names = ", ".join(column.split()[0] for column in view_schema.split(", "))
        rows: list[Any] = conn.execute(f"SELECT {names} FROM {view}").fetchall()
        spark.createDataFrame(rows, schema=view_schema).createOrReplaceTempView(view)


def cited_from_duckdb(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The (rule id, event id) pairs of carried events the windowed rules already cited, from a loaded chunk."""
    names = ", ".join(name for name, _ in CITED_COLUMNS)
    return [(str(rule), str(event)) for rule, event in conn.execute(f"SELECT {names} FROM {CITED_TABLE}").fetchall()]


def register_cited(spark: SparkSession, cited: Sequence[tuple[str, str]]) -> None:
    """``cited`` as the ``carried_cited`` view the windowed rules read (:mod:`cloudwarden.detect.carry`)."""
    spark.createDataFrame(list(cited), schema=schema(CITED_COLUMNS)).createOrReplaceTempView(CITED_TABLE)


def register_intel(spark: SparkSession, intel: ThreatIntel, source_ips: Sequence[str]) -> int:
    """The ``intel_ip`` and ``intel_domain`` views for ``source_ips``; returns how many addresses matched."""
    hits = intel.match_ips(source_ips)
    spark.createDataFrame(hits, schema=_INTEL_SCHEMA).createOrReplaceTempView(INTEL_IP)
    spark.createDataFrame(intel.domain_rows(), schema=_DOMAIN_SCHEMA).createOrReplaceTempView(INTEL_DOMAIN)
    return len(hits)


def distinct_source_ips(frame: DataFrame) -> list[str]:
    return [str(row[0]) for row in frame.select("source_ip").where("source_ip IS NOT NULL").distinct().collect()]


# --- Spark's own reader (s3a:// and other Hadoop paths) -------------------------------------------------------

_ENVELOPE_SCHEMA: Final = (
    "Records ARRAY<STRUCT<eventID: STRING, eventTime: STRING, eventVersion: STRING, eventSource: STRING, "
    "eventName: STRING, eventType: STRING, eventCategory: STRING, awsRegion: STRING, sourceIPAddress: STRING, "
    "userAgent: STRING, errorCode: STRING, errorMessage: STRING, readOnly: STRING, managementEvent: STRING, "
    "recipientAccountId: STRING, requestID: STRING, userIdentity: STRUCT<type: STRING, arn: STRING, "
    "accountId: STRING, principalId: STRING, userName: STRING, accessKeyId: STRING, invokedBy: STRING, "
    "sessionContext: STRUCT<sessionIssuer: STRUCT<type: STRING, arn: STRING, userName: STRING>, "
    "attributes: STRUCT<mfaAuthenticated: STRING, creationDate: STRING>>>, requestParameters: STRING, "
    "responseElements: STRING, additionalEventData: STRING, resources: STRING, tlsDetails: STRING>>, "
    "_corrupt_record STRING"
)
_NATIVE_SELECT: Final = (
    # An event without an id gets one derived from its content, as the DuckDB loader does.
    "coalesce(r.eventID, 'cw-' || substr(sha2(to_json(r), 256), 1, 32)) AS event_id",
    "CAST(try_to_timestamp(r.eventTime) AS TIMESTAMP_NTZ) AS event_time",
    "r.eventVersion AS event_version", "r.eventSource AS event_source", "r.eventName AS event_name",
    "r.eventType AS event_type", "r.eventCategory AS event_category", "r.awsRegion AS aws_region",
    "r.sourceIPAddress AS source_ip", "r.userAgent AS user_agent", "r.errorCode AS error_code",
    "r.errorMessage AS error_message", "try_cast(r.readOnly AS BOOLEAN) AS read_only",
    "try_cast(r.managementEvent AS BOOLEAN) AS management_event",
    "r.recipientAccountId AS recipient_account_id", "r.requestID AS request_id",
    "r.userIdentity.type AS identity_type", "r.userIdentity.arn AS identity_arn",
    "r.userIdentity.accountId AS identity_account_id", "r.userIdentity.principalId AS identity_principal_id",
    "coalesce(r.userIdentity.userName, r.userIdentity.sessionContext.sessionIssuer.userName) AS identity_user_name",
    "r.userIdentity.accessKeyId AS access_key_id", "r.userIdentity.invokedBy AS invoked_by",
    "r.userIdentity.sessionContext.sessionIssuer.arn AS session_issuer_arn",
    "r.userIdentity.sessionContext.sessionIssuer.type AS session_issuer_type",
    "r.userIdentity.sessionContext.attributes.mfaAuthenticated AS mfa_authenticated",
    "r.userIdentity.sessionContext.attributes.creationDate AS session_created",
    "r.requestParameters AS request_parameters", "r.responseElements AS response_elements",
    "r.additionalEventData AS additional_event_data", "r.resources AS resources", "r.tlsDetails AS tls_details",
    "source_file",
)


def read_native(spark: SparkSession, paths: Sequence[str]) -> tuple[DataFrame, dict[str, Any]]:
    """CloudTrail delivery files under ``paths`` read by Spark, as the ``cloudtrail`` view; and read figures.

    Files that are not CloudTrail JSON are counted (``files_skipped``), as are records missing a required
    field (``records_skipped``); repeated ``eventID`` values are kept once.
    """
    raw = (spark.read.schema(_ENVELOPE_SCHEMA).option("multiLine", "true").option("mode", "PERMISSIVE")
           .option("columnNameOfCorruptRecord", "_corrupt_record").option("recursiveFileLookup", "true")
           .json(list(paths)))
    raw = raw.selectExpr("*", "input_file_name() AS source_file").cache()
    bad_files = raw.where("_corrupt_record IS NOT NULL OR Records IS NULL").count()
    records = raw.where("Records IS NOT NULL").selectExpr("explode(Records) AS r", "source_file")
    required = "r.eventTime IS NOT NULL AND r.eventSource IS NOT NULL AND r.eventName IS NOT NULL"
    good = records.where(required).selectExpr(*_NATIVE_SELECT).where("event_time IS NOT NULL")
    total = records.count()
    frame = good.dropDuplicates(["event_id"]).select(*COLUMN_NAMES).cache()
    kept = frame.count()
    frame.createOrReplaceTempView(TABLE)
    raw.unpersist()
    good_count = good.count()
    return frame, {"files_skipped": bad_files, "records": total, "records_skipped": total - good_count,
                   "duplicates": good_count - kept, "events": kept}
