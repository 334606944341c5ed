"""Detection over Amazon Security Lake's CloudTrail data (OCSF Parquet): ``detect --log-format security-lake``.

The same rules, findings, checkpoints and crash safety as CloudTrail's own files
(:func:`cloudwarden.detect.engine.run_detection`); only the reading differs. Parquet objects are listed
from files, directory trees and ``s3://`` prefixes (S3 through boto3: each object is downloaded to a
scratch file, so no DuckDB extension is needed), checked one by one (a file that is not Parquet, or not
Security Lake CloudTrail data, is reported and skipped), and read with DuckDB's ``read_parquet`` through
the OCSF projection of :mod:`cloudwarden.detect.ocsf` into the ``cloudtrail`` table, one query per group
of files sharing a schema (partition directories such as ``region=us-east-1`` are not read as columns:
the rows carry their region and account). Rows without a time, service or operation are counted as skipped records.

With a store, each Parquet object gets a checkpoint (source ``detect.cloudtrail``, key = path or
``s3://`` URI, position = size or ETag) committed with its chunk's findings by
:func:`cloudwarden.detect.checkpoints.commit`, so a re-run reads only new objects and a killed run ends,
on the next one, with the same findings. ``engine="spark"`` runs the rules on Spark over the loaded chunk;
``s3a://`` (and ``file://``) locations are read by Spark itself through the same projection
(:func:`cloudwarden.detect.spark.ocsf.run_security_lake`), without checkpoints.

Written beside ``engine.run_detection`` rather than inside it: the CloudTrail load path is its own module;
this one shares its public pieces (``CloudTrailDB``, ``merge_findings``, the checkpoint API).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect import checkpoints, ocsf
from cloudwarden.detect.cloudtrail_files import ReadReport, SkippedFile, SkippedRecord
from cloudwarden.detect.engine import (
    DEFAULT_CHUNK_BYTES,
    DEFAULT_MEMORY_LIMIT,
    ChunkAnalyzer,
    ChunkRun,
    CloudTrailDB,
    DetectionResult,
    Evaluator,
    cloudtrail_db,
    dialect_for,
    merge_findings,
    run_chunks,
    validate_rules,
)
from cloudwarden.detect.load import Loader, LogObject, list_s3
from cloudwarden.detect.progress import RunProgress
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.table import TABLE
from cloudwarden.detect.threat_intel import ThreatIntel
from cloudwarden.store import Store

PARQUET_SUFFIX: Final = ".parquet"
_PARQUET_MAGIC: Final = b"PAR1"
_NATIVE_SCHEMES: Final = ("s3a://", "file://")


# --- what to read --------------------------------------------------------------------------------------------


def list_parquet(paths: Sequence[str | Path], report: ReadReport, *,
                 target: AwsTarget | None = None) -> list[LogObject]:
    """Parquet objects under ``paths`` (files, directories, ``s3://BUCKET/PREFIX``), in order.

    A directory walk or S3 listing takes ``*.parquet`` and reports other names as skipped; a file named
    explicitly is read whatever its name. A missing local path is a :class:`BadInputError`.
    """
    objects: list[LogObject] = []
    for given in (str(p) for p in paths if not str(p).startswith("s3://")):
        path = Path(given)
        if not path.exists():
            raise BadInputError(given, "no such file or directory (Security Lake Parquet files expected here)")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if path.is_dir() and not file.name.lower().endswith(PARQUET_SUFFIX):
                report.files_skipped.append(SkippedFile(str(file), "not a Parquet file name (*.parquet)"))
                continue
            resolved = file.resolve()
            size = resolved.stat().st_size
            objects.append(LogObject(key=str(resolved), position=f"size={size}", size=size,
                                     read=resolved.read_bytes))
    for uri in (str(p) for p in paths if str(p).startswith("s3://")):
        objects.extend(_list_s3(uri, report, target or AwsTarget()))
    return objects


def _list_s3(uri: str, report: ReadReport, target: AwsTarget) -> list[LogObject]:
    return list_s3(uri, report, target, _not_parquet)


def _not_parquet(key: str) -> str | None:
    return None if key.lower().endswith(PARQUET_SUFFIX) else "not a Parquet file name (*.parquet)"


# --- loading -------------------------------------------------------------------------------------------------


@dataclass
class OcsfLoadStats:
    events: int = 0
    rows: int = 0
    records_skipped: int = 0
    outside_window: int = 0
    duplicates: int = 0
    bytes_read: int = 0


def load_parquet(conn: duckdb.DuckDBPyConnection, objects: Sequence[LogObject], report: ReadReport, *,
                 since: datetime | None = None, until: datetime | None = None) -> OcsfLoadStats:
    """Append the events of ``objects`` to the ``cloudtrail`` table of ``conn`` (see the module docstring).

    Objects that cannot be read go into ``report.files_skipped``; rows that are not events into
    ``report.records_skipped`` (one entry per file, with the count). Only ``since <= time < until`` is kept.
    """
    stats = OcsfLoadStats()
    with ScratchDir("cw-ocsf-") as scratch:
        groups: dict[tuple[tuple[str, str], ...], list[tuple[str, LogObject]]] = {}
        for index, obj in enumerate(objects):
            local = _local_copy(obj, scratch / f"{index}.parquet", report, stats)
            if local is None:
                continue
            schema = _file_schema(conn, local, obj, report)
            if schema is not None:
                groups.setdefault(tuple(sorted(schema.items())), []).append((local, obj))
        for signature, files in groups.items():
            _insert_group(conn, dict(signature), files, report, stats, since, until)
    stats.duplicates = Loader(conn).deduplicate()
    stats.events -= stats.duplicates
    return stats


def _local_copy(obj: LogObject, scratch: Path, report: ReadReport, stats: OcsfLoadStats) -> str | None:
    """A local path DuckDB can read for ``obj``: the file itself, or the S3 object written to ``scratch``."""
    if not obj.key.startswith("s3://"):
        stats.bytes_read += obj.size
        return obj.key
    try:
        data = obj.read()
    except OSError as exc:
        report.files_skipped.append(SkippedFile(obj.key, f"cannot read: {exc}"))
        return None
    stats.bytes_read += len(data)
    scratch.write_bytes(data)
    return str(scratch)


def _file_schema(conn: duckdb.DuckDBPyConnection, local: str, obj: LogObject,
                 report: ReadReport) -> dict[str, str] | None:
    """The file's OCSF schema, or None (reported) when it is not Security Lake CloudTrail Parquet."""
    try:
        with open(local, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        report.files_skipped.append(SkippedFile(obj.key, f"cannot read: {exc.strerror or exc}"))
        return None
    if magic != _PARQUET_MAGIC:
        report.files_skipped.append(SkippedFile(obj.key, "not a Parquet file (no PAR1 magic bytes)"))
        return None
    try:
        relation = conn.sql(f"SELECT * FROM read_parquet({_literal(local)}, hive_partitioning = false)")
        schema = ocsf.duckdb_schema(relation.columns, relation.types)
    except duckdb.Error as exc:
        report.files_skipped.append(SkippedFile(obj.key, f"unreadable Parquet: {str(exc).splitlines()[0]}"))
        return None
    missing = [name for name in ocsf.REQUIRED_FIELDS if name not in schema]
    if missing:
        report.files_skipped.append(SkippedFile(
            obj.key, f"not Security Lake CloudTrail (OCSF) data: no {', '.join(missing)} column"))
        return None
    return schema


def _insert_group(conn: duckdb.DuckDBPyConnection, schema: dict[str, str], files: list[tuple[str, LogObject]],
                  report: ReadReport, stats: OcsfLoadStats, since: datetime | None, until: datetime | None) -> None:
    conn.execute("CREATE OR REPLACE TEMP TABLE _cw_ocsf_files (_cw_path VARCHAR, _cw_key VARCHAR)")
    conn.execute("INSERT INTO _cw_ocsf_files SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                 [[path for path, _ in files], [obj.key for _, obj in files]])
    paths = "[" + ", ".join(_literal(path) for path, _ in files) + "]"
    source = (f"read_parquet({paths}, filename = true, hive_partitioning = false) AS _cw_o "
              "JOIN _cw_ocsf_files AS _cw_f ON _cw_f._cw_path = _cw_o.filename")
    select = ocsf.projection_sql(schema, "duckdb", source=source, source_file="_cw_f._cw_key")
    window, params = _window(since, until)
    try:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE _cw_ocsf AS {select}")
        rows = conn.execute("SELECT source_file, count(*), count(*) FILTER (WHERE NOT coalesce("
                            f"{ocsf.VALID_ROW}, false)), count(*) FILTER (WHERE coalesce({ocsf.VALID_ROW}, false) "
                            f"AND NOT ({window})) FROM _cw_ocsf GROUP BY source_file", params).fetchall()
        conn.execute(f"INSERT INTO {TABLE} SELECT * FROM _cw_ocsf WHERE {ocsf.VALID_ROW} AND {window}", params)
    except duckdb.Error as exc:
        for _, obj in files:
            report.files_skipped.append(SkippedFile(obj.key, f"cannot project OCSF rows: {str(exc).splitlines()[0]}"))
        return
    finally:
        conn.execute("DROP TABLE IF EXISTS _cw_ocsf")
    counts = {str(row[0]): (int(row[1]), int(row[2]), int(row[3])) for row in rows}
    for _, obj in files:
        total, invalid, outside = counts.get(obj.key, (0, 0, 0))
        report.files_read += 1
        report.records += total - invalid
        stats.rows += total
        stats.records_skipped += invalid
        stats.outside_window += outside
        stats.events += total - invalid - outside
        if invalid:
            report.records_skipped.append(SkippedRecord(
                obj.key, f"{invalid} rows", "no time, api.service.name or api.operation (not an event)"))


def _window(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    clauses, params = ["true"], []
    if since is not None:
        clauses.append("event_time >= ?")
        params.append(_naive_utc(since))
    if until is not None:
        clauses.append("event_time < ?")
        params.append(_naive_utc(until))
    return " AND ".join(clauses), params


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- detection -----------------------------------------------------------------------------------------------


def run_security_lake_detection(
    log_paths: Sequence[str | Path],
    *,
    rules: Sequence[Rule],
    store: Store | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    intel: ThreatIntel | None = None,
    allowlist: Allowlist | None = None,
    engine: str = "duckdb",
    target: AwsTarget | None = None,
    run_id: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    hook: checkpoints.Hook | None = None,
    spark_master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    analyzers: Sequence[ChunkAnalyzer] = (),
    progress: RunProgress | None = None,
) -> DetectionResult:
    """:func:`~cloudwarden.detect.engine.run_detection` for Security Lake Parquet (same arguments, same result).

    ``s3a://`` and ``file://`` locations are read by Spark itself (``engine="spark"`` only; no checkpoints,
    no analyzers); everything else goes through DuckDB's Parquet reader with per-object checkpoints.
    """
    dialect = dialect_for(engine)
    native = [str(p) for p in log_paths if str(p).startswith(_NATIVE_SCHEMES)]
    if native and dialect.name != "spark":
        raise BadInputError(native[0], "s3a:// and file:// paths are read by Spark: add --engine spark (or use s3://)")
    if dialect.name == "spark":
        from cloudwarden.detect.spark.session import require_pyspark, spark_session

        require_pyspark()
        validate_rules(rules, dialect_for("duckdb"), allowlist)
        from cloudwarden.detect.spark.engine import SparkEvaluator
        from cloudwarden.detect.spark.ocsf import run_security_lake

        with spark_session(spark_master, spark_conf) as spark:
            if native:
                if len(native) != len(log_paths):
                    raise BadInputError(native[0], "s3a:// or file:// paths cannot be mixed with other paths")
                findings, stats = run_security_lake(spark, native, rules, allowlist,
                                                    intel if intel is not None else ThreatIntel.load(),
                                                    since=since, until=until)
                return DetectionResult(findings=findings, read_report=ReadReport(), stats=stats)
            return _run(log_paths, rules, store, since, until, intel, allowlist, "spark", target, run_id,
                        chunk_bytes, memory_limit, hook, SparkEvaluator(spark), analyzers, progress)
    validate_rules(rules, dialect, allowlist)

    def evaluate(db: CloudTrailDB, active: Sequence[Rule], allow: Allowlist | None) -> list[Finding]:
        return db.evaluate(active, allowlist=allow, dialect=dialect)

    return _run(log_paths, rules, store, since, until, intel, allowlist, dialect.name, target, run_id, chunk_bytes,
                memory_limit, hook, evaluate, analyzers, progress)


def _run(log_paths: Sequence[str | Path], rules: Sequence[Rule], store: Store | None, since: datetime | None,
         until: datetime | None, intel: ThreatIntel | None, allowlist: Allowlist | None, engine: str,
         target: AwsTarget | None, run_id: str | None, chunk_bytes: int, memory_limit: str | None,
         hook: checkpoints.Hook | None, evaluator: Evaluator, analyzers: Sequence[ChunkAnalyzer],
         progress: RunProgress | None) -> DetectionResult:
    started = time.perf_counter()
    intel = intel if intel is not None else ThreatIntel.load()
    report = ReadReport()
    stats: dict[str, Any] = {"engine": engine, "log_format": ocsf.LOG_FORMAT,
                             "rules": sum(1 for r in rules if r.enabled)}
    if store is not None and (recovered := checkpoints.recover(store)):
        stats["recovered_chunk"] = recovered
    objects = list_parquet(log_paths, report, target=target)
    stats["objects_listed"] = len(objects)
    if store is not None:
        objects, already = checkpoints.unread(store, objects)
        stats["objects_already_read"] = already
    timings = {"list": round(time.perf_counter() - started, 3), "load": 0.0, "rules": 0.0, "commit": 0.0}
    totals = {"events": 0, "outside_window": 0, "duplicates": 0, "bytes_read": 0, "chunks": 0, "intel_hits": 0,
              "records_skipped": 0, "carried": 0}

    def read(db: CloudTrailDB, chunk: list[LogObject]) -> dict[str, int]:
        loaded = load_parquet(db.conn, chunk, report, since=since, until=until)
        counts = {key: getattr(loaded, key)
                  for key in ("events", "outside_window", "duplicates", "bytes_read", "records_skipped")}
        return {**counts, "intel_hits": db.refresh_intel()}

    run = ChunkRun(rules=rules, allowlist=allowlist, evaluator=evaluator, analyzers=analyzers,
                   open_db=cloudtrail_db(intel, memory_limit), store=store, run_id=run_id, hook=hook, report=report,
                   timings=timings, totals=totals, progress=progress)
    all_findings = run_chunks(objects, read, run, chunk_bytes)
    stats.update(totals)
    stats["files_skipped"] = len(report.files_skipped)
    timings["total"] = time.perf_counter() - started
    stats["timings"] = {k: round(v, 3) for k, v in timings.items()}
    merged = merge_findings(all_findings)
    stats["findings"] = len(merged)
    return DetectionResult(findings=merged, read_report=report, stats=stats)
