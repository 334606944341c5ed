"""Security Lake (OCSF Parquet) read by Spark itself, for data next to a cluster (``s3a://``, ``file://``).

``spark.read.parquet`` over the locations (recursively, schemas merged), the projection of
:mod:`cloudwarden.detect.ocsf` rendered for Spark over the file's schema, rows without a time, service or
operation dropped and counted, ``--since/--until`` applied, each ``event_id`` kept once: the result is the
``cloudtrail`` view, and the rules run on it as for CloudTrail (:func:`.engine.evaluate`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.detect import ocsf
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.spark import engine, load
from cloudwarden.detect.spark.session import error_text
from cloudwarden.detect.table import COLUMN_NAMES, TABLE
from cloudwarden.detect.threat_intel import ThreatIntel

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

RAW_VIEW: Final = "_cw_ocsf_raw"
_PARTITION_TYPES: Final = "spark.sql.sources.partitionColumnTypeInference.enabled"


def read_security_lake(spark: SparkSession, paths: Sequence[str], *, since: datetime | None = None,
                       until: datetime | None = None) -> tuple[DataFrame, dict[str, Any]]:
    """The OCSF Parquet under ``paths`` as the (cached) ``cloudtrail`` view, and read figures."""
    # Partition directories (accountId=123456789012) stay strings, or they clash with the rows' own columns.
    previous = spark.conf.get(_PARTITION_TYPES, "true")
    spark.conf.set(_PARTITION_TYPES, "false")
    try:
        raw = (spark.read.option("mergeSchema", "true").option("recursiveFileLookup", "true")
               .option("pathGlobFilter", "*.parquet").parquet(*paths))
    except Exception as exc:  # pyspark raises AnalysisException (path missing, not Parquet), Py4JJavaError, ...
        raise BadInputError(paths[0], f"Spark cannot read Security Lake Parquet here: {error_text(exc)}") from None
    finally:
        spark.conf.set(_PARTITION_TYPES, previous or "true")
    schema = ocsf.spark_schema(raw.schema.fields)
    raw.createOrReplaceTempView(RAW_VIEW)
    select = ocsf.projection_sql(schema, "spark", source=RAW_VIEW, source_file="input_file_name()")
    projected = spark.sql(select).cache()
    rows = projected.count()
    valid = projected.where(ocsf.VALID_ROW)
    window = valid
    if since is not None:
        window = window.where(valid.event_time >= _naive_utc(since))
    if until is not None:
        window = window.where(valid.event_time < _naive_utc(until))
    good = valid.count()
    kept_window = window.count()
    frame = window.dropDuplicates(["event_id"]).select(*COLUMN_NAMES).cache()
    events = frame.count()
    frame.createOrReplaceTempView(TABLE)
    projected.unpersist()
    return frame, {"records": rows, "records_skipped": rows - good, "outside_window": good - kept_window,
                   "duplicates": kept_window - events, "events": events}


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def run_security_lake(spark: SparkSession, paths: Sequence[str], rules: Sequence[Rule],
                      allowlist: Allowlist | None, intel: ThreatIntel, *, since: datetime | None = None,
                      until: datetime | None = None) -> tuple[list[Finding], dict[str, Any]]:
    """Rules over Security Lake Parquet Spark reads itself: findings and the run's figures."""
    started = time.perf_counter()
    frame, figures = read_security_lake(spark, paths, since=since, until=until)
    try:
        hits = load.register_intel(spark, intel, load.distinct_source_ips(frame))
        loaded = time.perf_counter()
        findings = engine.evaluate(spark, rules, allowlist)
    finally:
        frame.unpersist()
    stats: dict[str, Any] = {"engine": "spark", "reader": "spark", "log_format": ocsf.LOG_FORMAT,
                             "rules": sum(1 for r in rules if r.enabled), **figures, "intel_hits": hits,
                             "findings": len(findings),
                             "timings": {"load": round(loaded - started, 3),
                                         "rules": round(time.perf_counter() - loaded, 3),
                                         "total": round(time.perf_counter() - started, 3)}}
    return findings, stats
