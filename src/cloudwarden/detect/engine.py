"""The detection engine: CloudTrail logs in, GuardDuty-style findings out, every rule in one pass.

Public API (stable; the Sigma compiler and the CLI build on it):

* :func:`run_detection` — read logs (files, trees, ``s3://``), load the ``cloudtrail`` table, run every
  rule, group matches into findings; with a store, only unread objects are read and each chunk's
  findings are committed with its checkpoints (:mod:`cloudwarden.detect.checkpoints`).
* :class:`CloudTrailDB` — a loaded ``cloudtrail`` table you can query: :meth:`CloudTrailDB.from_paths`,
  :meth:`CloudTrailDB.from_records`, :meth:`CloudTrailDB.query` (any compiled SQL, rows as dicts),
  :meth:`CloudTrailDB.evaluate` (rules -> findings).
* :func:`run_sql` — run arbitrary compiled rule SQL over CloudTrail files or records (the Sigma
  compiler's test hook): ``run_sql("SELECT event_id FROM cloudtrail WHERE ...", paths=[...])``.
* :func:`validate_rules` — compile every rule against an empty table; errors name the rule's file.
* Rules are :class:`~cloudwarden.detect.rules.model.Rule` objects. A compiled Sigma rule is a ``Rule``
  with ``kind="sigma"`` and ``condition`` set to a boolean SQL expression over ``cloudtrail`` (field
  names through :func:`cloudwarden.detect.table.field_sql`). Rule directories are read by
  :func:`cloudwarden.detect.rules.loader.load_rule_dirs`, which hands YAML files with ``logsource`` and
  ``detection`` to ``cloudwarden.detect.sigma.load_sigma_rules`` and runs each ``CompiledSigmaRule.to_rule()``.
* Dialects: :data:`cloudwarden.detect.dialect.DIALECTS` (``duckdb``, ``spark``); a rule's SQL is written in
  DuckDB's spelling of :data:`~cloudwarden.detect.dialect.PORTABLE_FUNCTIONS` and rendered per dialect.
* ``engine="spark"``: logs are read and checkpointed exactly as for DuckDB (the loaded chunk is handed to
  Spark), rules run on a SparkSession (:mod:`cloudwarden.detect.spark`; ``spark_master`` picks a cluster);
  ``s3a://`` paths are read by Spark itself (no checkpoints). pyspark is the optional extra ``spark``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Generic, Protocol, TypeVar

import duckdb

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core import scratch
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status, finding_id
from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect import carry, checkpoints
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.compile import (
    CONTEXT_COLUMNS,
    MAX_CANDIDATE_SHARE,
    MAX_EVIDENCE_IDS,
    candidate_sources,
    compile_rule,
    compile_rule_set,
    create_cited_table,
    grouped_sql,
    grouped_sql_unique,
    is_windowed,
    member_scopes,
    referenced_columns,
)
from cloudwarden.detect.dialect import DIALECTS, DUCKDB, Dialect
from cloudwarden.detect.load import Loader, LogObject, connect, iter_chunks, list_objects, load_records
from cloudwarden.detect.progress import SILENT, Meter, RunProgress
from cloudwarden.detect.rows import fields_read_by, identity_read_by
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.rules.prerequisite import EVENT_COUNTS_SQL, EventCount
from cloudwarden.detect.table import TABLE
from cloudwarden.detect.threat_intel import ThreatIntel, create_intel_tables
from cloudwarden.store import Store

# A chunk is this many stored bytes of logs: gzipped CloudTrail, ~1.3 million events, whose table (~1.1 KB an
# event) just fits DuckDB's default memory cap, so it does not spill; thresholds and sequences see across
# chunks (detect/carry.py). Measured on 10 million events: 86.5 s and 1.82 GB peak, against 96.7 s and
# 2.02 GB with 1 GiB chunks (~5 million events, spilling) and 88.1 s and 1.67 GB with 192 MiB.
DEFAULT_CHUNK_BYTES: Final = 256 << 20
# DuckDB's memory cap for a chunk unless told otherwise: a million events fit (~1 GB of table); beyond it
# the table spills to a scratch directory, so ten million events still run in under 2 GB.
DEFAULT_MEMORY_LIMIT: Final = "1.5GB"
# The temporary table of rows some rule's prerequisite admits, for the duration of one rule pass.
_CANDIDATES: Final = "cloudtrail_candidates"

__all__ = [
    "CloudTrailDB",
    "DetectionResult",
    "dialect_for",
    "finding_from_row",
    "merge_findings",
    "run_detection",
    "run_sql",
    "validate_rules",
]


@dataclass
class DetectionResult:
    """Findings (merged over chunks), what was read and skipped, and figures (timings, counts)."""

    findings: list[Finding]
    read_report: ReadReport
    stats: dict[str, Any] = field(default_factory=dict)


def dialect_for(engine: str) -> Dialect:
    try:
        return DIALECTS[engine]
    except KeyError:
        raise BadInputError("--engine", f"unknown engine {engine!r} (one of {', '.join(DIALECTS)})") from None


class CloudTrailDB:
    """An in-memory DuckDB holding the ``cloudtrail`` table (and the threat-intel tables rules read)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection | None = None, *, intel: ThreatIntel | None = None,
                 memory_limit: str | None = None) -> None:
        self._spill: ScratchDir | None = None
        if conn is None and memory_limit:
            self._spill = ScratchDir("cw-spill-")
            conn = connect(memory_limit=memory_limit, spill_dir=self._spill.path)
        self.conn = conn if conn is not None else connect()
        self.intel = intel if intel is not None else ThreatIntel()
        # Whether event ids are unique in ``cloudtrail``: None until checked (see event_ids_unique).
        self.unique_event_ids: bool | None = None
        self._unique_checked_rows: int | None = None
        # A rule reads the candidate rows only when its prerequisite admits at most this share of the table.
        self.candidate_share = MAX_CANDIDATE_SHARE
        create_intel_tables(self.conn)
        create_cited_table(self.conn)

    @classmethod
    def from_paths(cls, paths: Sequence[str | Path], *, since: datetime | None = None,
                   until: datetime | None = None, target: AwsTarget | None = None,
                   intel: ThreatIntel | None = None) -> tuple[CloudTrailDB, ReadReport]:
        """Load every object under ``paths``; returns the database and the read report."""
        db = cls(intel=intel)
        report = ReadReport()
        loader = Loader(db.conn, since=since, until=until)
        loader.load(list_objects(paths, report, target=target), report)
        loader.deduplicate()
        db.refresh_intel()
        return db, report

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], *, intel: ThreatIntel | None = None,
                     name: str = "<memory>") -> CloudTrailDB:
        """A database of CloudTrail records given as dicts (tests, other readers)."""
        db = cls(intel=intel)
        load_records(db.conn, records, name)
        db.refresh_intel()
        return db

    def refresh_intel(self) -> int:
        """Match the loaded source addresses against the threat-intel lists; returns the hits."""
        return self.intel.annotate(self.conn)

    def count(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM cloudtrail").fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str, params: Sequence[Any] = (), dialect: Dialect = DUCKDB) -> list[dict[str, Any]]:
        """Run ``sql`` (portable spelling, rendered for ``dialect``); rows as dicts."""
        try:
            cursor = self.conn.execute(dialect.render(sql), list(params))
        except duckdb.Error as exc:
            raise BadInputError("sql", f"{type(exc).__name__}: {exc}") from None
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def evaluate(self, rules: Sequence[Rule], *, allowlist: Allowlist | None = None,
                 dialect: Dialect = DUCKDB) -> list[Finding]:
        """Every enabled rule in one query; the matches grouped into findings (sorted by id).

        The rows some rule's prerequisite admits (:func:`~cloudwarden.detect.compile.candidate_sources`)
        are copied once into a small temporary table, and the rules that have one read it instead of the
        whole table. When the table's event ids are unique (:meth:`event_ids_unique`) the matches are
        grouped by :func:`~cloudwarden.detect.compile.grouped_sql_unique`, else by the general
        :func:`~cloudwarden.detect.compile.grouped_sql`; both give the same rows.
        """
        active = [rule for rule in rules if rule.enabled]
        if not active:
            return []
        try:
            stats = [EventCount(*row) for row in self.conn.execute(EVENT_COUNTS_SQL).fetchall()]
            sources, candidates = candidate_sources(active, _CANDIDATES, stats, self.candidate_share)
            if candidates is not None:
                readers = [compile_rule(rule, DUCKDB, allowlist, _CANDIDATES, context=rule.condition is not None)
                           for rule, source in zip(active, sources, strict=True) if source != TABLE]
                columns = ", ".join(referenced_columns([*readers, ", ".join(CONTEXT_COLUMNS)]))
                # Sorted by API call: each rule's scan of it (one per rule) then costs a third less.
                self.conn.execute(f"CREATE OR REPLACE TEMP TABLE {_CANDIDATES} AS "
                                  f"SELECT {columns} FROM cloudtrail WHERE {dialect.render(candidates)} "
                                  "ORDER BY event_source, event_name")
            if dialect.name == DUCKDB.name and self.event_ids_unique():
                rows = self._grouped_in_halves(active, allowlist, sources)
            else:
                sql = grouped_sql(compile_rule_set(active, dialect, allowlist, sources), dialect)
                rows = [(active[row[0]], row) for row in self.conn.execute(sql).fetchall()]
        except duckdb.Error as exc:
            raise BadInputError("rules", f"the rule set failed to run: {exc}") from None
        finally:
            self.conn.execute(f"DROP TABLE IF EXISTS {_CANDIDATES}")
        findings = [finding_from_row(rule, row) for rule, row in rows]
        return sorted(findings, key=lambda f: f.id)

    def _grouped_in_halves(self, rules: Sequence[Rule], allowlist: Allowlist | None,
                           sources: Sequence[str]) -> list[tuple[Rule, tuple[Any, ...]]]:
        """:func:`grouped_sql_unique` of the rules reading the candidate rows and, at the same time on a
        cursor of its own, of those reading the whole table; each row with its rule.

        Two queries side by side keep both cores busy: the candidate table is smaller than one row group,
        which DuckDB scans on one thread, so the rules reading it alone used ~1.2 cores. The candidate
        table is temporary (a regular one took five times longer to fill next to a large ``cloudtrail``),
        so only this connection sees it: the whole-table half is the one that runs on the cursor.
        """
        whole = [i for i, source in enumerate(sources) if source == TABLE]
        candidate = [i for i, source in enumerate(sources) if source != TABLE]

        def run(conn: duckdb.DuckDBPyConnection, half: list[int]) -> list[tuple[Rule, tuple[Any, ...]]]:
            if not half:
                return []
            sql = grouped_sql_unique([rules[i] for i in half], allowlist, [sources[i] for i in half])
            return [(rules[half[row[0]]], row) for row in conn.execute(sql).fetchall()]

        if not whole or not candidate:
            return run(self.conn, whole or candidate)
        cursor = self.conn.cursor()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-rules") as pool:
                other = pool.submit(run, cursor, whole)
                rows = run(self.conn, candidate)
                return other.result() + rows
        finally:
            cursor.close()

    def event_ids_unique(self) -> bool:
        """Whether no two rows of ``cloudtrail`` share an event id.

        A loader that deduplicated may set ``unique_event_ids`` to True (it is then trusted); otherwise it
        is checked, and checked again when the number of rows has changed since.
        """
        if self.unique_event_ids is None or (self._unique_checked_rows is not None
                                             and self._unique_checked_rows != self.count()):
            row = self.conn.execute("SELECT count(*), count(DISTINCT hash(event_id)) FROM cloudtrail").fetchone()
            total, distinct = (int(row[0]), int(row[1])) if row else (0, 0)
            # Distinct hashes prove distinct ids; a collision only sends the run down the general path.
            self.unique_event_ids = total == distinct
            self._unique_checked_rows = total
        return self.unique_event_ids

    def close(self) -> None:
        self.conn.close()
        if self._spill is not None:
            self._spill.cleanup()


Evaluator = Callable[["CloudTrailDB", Sequence[Rule], Allowlist | None], list[Finding]]
"""Runs rules over a loaded chunk: DuckDB's own query, or the Spark engine's."""

ChunkAnalyzer = Callable[["CloudTrailDB"], list[Finding]]
"""Called with each loaded chunk after the rules ran; its findings join the chunk's (e.g. the baselines of
:mod:`cloudwarden.detect.baselines`, which judge the chunk against history in the store, then learn it)."""


def finding_from_row(rule: Rule, row: tuple[Any, ...]) -> Finding:
    """One grouped row of :func:`~cloudwarden.detect.compile.grouped_sql` (any engine) as a finding."""
    (_, account, region, group_key, principal, resource, count, first, last, event_ids, names, ips,
     agents) = row
    first_seen = first.replace(tzinfo=UTC)
    last_seen = last.replace(tzinfo=UTC)
    details: dict[str, Any] = {"event_names": names or [], "source_ips": ips or [], "user_agents": agents or []}
    if count > len(event_ids):
        details["event_ids_truncated"] = True
    if rule.kind == "sigma":
        details["rule_kind"] = "sigma"
    return Finding(
        id=finding_id(Source.DETECT.value, rule.id, account, region, group_key),
        source=Source.DETECT,
        type=rule.type,
        rule_id=rule.id,
        title=rule.title,
        description=rule.description,
        remediation=rule.remediation,
        status=Status.ACTIVE,
        severity=rule.severity,
        account_id=account,
        region=region,
        resource=ResourceRef(type=rule.resource_type, id=resource or principal),
        principal=principal,
        first_seen=first_seen,
        last_seen=last_seen,
        count=int(count),
        evidence=Evidence(event_ids=list(event_ids), details=details),
        mitre=list(rule.mitre),
    )


DetailsMerge = Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
"""The evidence details of one finding seen in two chunks, from the older sighting's and the newer's."""


def cloudtrail_details(older: Mapping[str, Any], newer: Mapping[str, Any]) -> dict[str, Any]:
    """The newer details, with the event names, addresses and user agents of both (sorted, distinct)."""
    details = dict(newer)
    for key in ("event_names", "source_ips", "user_agents"):
        details[key] = sorted(dict.fromkeys([*older.get(key, []), *newer.get(key, [])]))
    return details


def merge_findings(findings: Iterable[Finding], details: DetailsMerge = cloudtrail_details) -> list[Finding]:
    """One finding per id: counts summed, earliest first_seen, latest last_seen and fields, ids united, and
    the evidence details merged by ``details``."""
    merged: dict[str, Finding] = {}
    for finding in findings:
        seen = merged.get(finding.id)
        if seen is None:
            merged[finding.id] = finding
            continue
        newer, older = (finding, seen) if finding.last_seen >= seen.last_seen else (seen, finding)
        ids = list(dict.fromkeys([*older.evidence.event_ids, *newer.evidence.event_ids]))
        both = details(older.evidence.details, newer.evidence.details)
        if len(ids) > MAX_EVIDENCE_IDS or older.evidence.details.get("event_ids_truncated"):
            both["event_ids_truncated"] = True
        merged[finding.id] = newer.model_copy(update={
            "first_seen": min(seen.first_seen, finding.first_seen),
            "count": seen.count + finding.count,
            "evidence": Evidence(event_ids=ids[:MAX_EVIDENCE_IDS], details=both),
        })
    return sorted(merged.values(), key=lambda f: f.id)


def validate_rules(rules: Sequence[Rule], dialect: Dialect = DUCKDB, allowlist: Allowlist | None = None) -> None:
    """Compile and bind every rule against an empty table; the first failure names its rule file.

    The whole rule set is bound in one ``DESCRIBE`` (parse and bind: unknown columns and functions, wrong
    argument types, unions that do not line up), which costs a third of an ``EXPLAIN`` and a small part
    of binding 100 statements one by one; only when it fails is each rule bound alone, to name the one
    at fault.
    """
    if not rules:
        return
    db = CloudTrailDB()
    try:
        try:
            db.conn.execute("DESCRIBE " + compile_rule_set(rules, dialect, allowlist))
            return
        except duckdb.Error:
            pass  # some rule is at fault: find it below
        for rule in rules:
            try:
                db.conn.execute("DESCRIBE " + compile_rule(rule, dialect, allowlist))
            except duckdb.Error as exc:
                raise BadInputError(rule.where, f"rule {rule.id}: its SQL does not run: {exc}") from None
        try:
            db.conn.execute("DESCRIBE " + compile_rule_set(rules, dialect, allowlist))
        except duckdb.Error as exc:
            raise BadInputError("rules", f"the rules compile alone but not together: {exc}") from None
    finally:
        db.close()


def run_sql(sql: str, *, paths: Sequence[str | Path] = (), records: Iterable[dict[str, Any]] | None = None,
            params: Sequence[Any] = (), dialect: Dialect = DUCKDB,
            intel: ThreatIntel | None = None) -> list[dict[str, Any]]:
    """Run compiled rule SQL over the CloudTrail under ``paths`` (or ``records``); rows as dicts."""
    if records is not None:
        db = CloudTrailDB.from_records(records, intel=intel)
    else:
        db, _ = CloudTrailDB.from_paths(paths, intel=intel)
    try:
        return db.query(sql, params, dialect)
    finally:
        db.close()


def run_detection(
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
    """Detect over ``log_paths`` with ``rules``; see the module docstring.

    Without ``store`` every object is read and nothing is written. With one, objects already read by an
    earlier run are skipped, and each chunk's findings are upserted with its checkpoints (``run_id`` is
    the store run they belong to). ``memory_limit`` (DuckDB's, like ``"1GB"``; default
    :data:`DEFAULT_MEMORY_LIMIT`, None for DuckDB's own 80% of RAM) makes a chunk's table spill to a scratch
    directory beyond it. ``hook`` is called between commit steps (tests simulate crashes).
    With ``engine="spark"`` the rules run on a SparkSession (``spark_master``, default ``local[2]``; an
    active session is reused); ``s3a://`` paths need that engine. ``analyzers`` run on each loaded chunk
    after the rules (not on ``s3a://`` paths, which never become a DuckDB chunk). ``progress`` hears how the
    run goes (:mod:`cloudwarden.detect.progress`; not on ``s3a://`` paths).
    """
    dialect = dialect_for(engine)
    native = [str(p) for p in log_paths if str(p).startswith("s3a://")]
    if native and dialect.name != "spark":
        raise BadInputError(native[0], "s3a:// paths are read by Spark: add --engine spark (or use s3://)")
    if dialect.name == "spark":
        from cloudwarden.detect.spark.session import require_pyspark, spark_session

        require_pyspark()
        validate_rules(rules, DUCKDB, allowlist)  # the portable SQL; Spark checks its rendering when it runs
        from cloudwarden.detect.spark.engine import SparkEvaluator, run_native

        with spark_session(spark_master, spark_conf) as spark:
            if native:
                if len(native) != len(log_paths):
                    raise BadInputError(native[0], "s3a:// paths cannot be mixed with other paths in one run")
                findings, stats = run_native(spark, native, rules, allowlist,
                                             intel if intel is not None else ThreatIntel.load())
                return DetectionResult(findings=findings, read_report=ReadReport(), stats=stats)
            return _run_detection(log_paths, rules, store, since, until, intel, allowlist, dialect, target,
                                  run_id, chunk_bytes, memory_limit, hook, SparkEvaluator(spark), analyzers,
                                  progress=progress)
    validation = Validation(rules, dialect, allowlist)
    result = _run_detection(log_paths, rules, store, since, until, intel, allowlist, dialect, target, run_id,
                            chunk_bytes, memory_limit, hook, validation.before(_duckdb_evaluator(dialect)), analyzers,
                            check=validation.check, progress=progress)
    validation.wait()  # a run that read nothing still says which rule is wrong
    return result


class Validation:
    """:func:`validate_rules` on a thread of its own, so that binding the rule set (a quarter of a second for
    the shipped pack plus SigmaHQ's AWS rules, DuckDB's planner on one core) overlaps reading the first files.

    The loader calls :meth:`check` for every object, so a wrong rule stops the run as soon as it is found;
    every evaluation waits for the verdict first (:meth:`before`), so nothing is evaluated or committed
    with a rule set that did not bind.
    """

    def __init__(self, rules: Sequence[Rule], dialect: Dialect, allowlist: Allowlist | None) -> None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-validate")
        self._verdict = pool.submit(validate_rules, rules, dialect, allowlist)
        pool.shutdown(wait=False)  # the thread ends with its one task

    def check(self) -> None:
        """Raise the validation's error if it has failed by now."""
        if self._verdict.done():
            self._verdict.result()

    def wait(self) -> None:
        """Wait for the verdict; raise its error."""
        self._verdict.result()

    def before(self, evaluator: Evaluator) -> Evaluator:
        """``evaluator``, waiting for the verdict first."""
        def evaluate(db: CloudTrailDB, rules: Sequence[Rule], allowlist: Allowlist | None) -> list[Finding]:
            self.wait()
            return evaluator(db, rules, allowlist)

        return evaluate


def _duckdb_evaluator(dialect: Dialect) -> Evaluator:
    def evaluate(db: CloudTrailDB, rules: Sequence[Rule], allowlist: Allowlist | None) -> list[Finding]:
        return db.evaluate(rules, allowlist=allowlist, dialect=dialect)

    return evaluate


def _run_detection(log_paths: Sequence[str | Path], rules: Sequence[Rule], store: Store | None,
                   since: datetime | None, until: datetime | None, intel: ThreatIntel | None,
                   allowlist: Allowlist | None, dialect: Dialect, target: AwsTarget | None, run_id: str | None,
                   chunk_bytes: int, memory_limit: str | None, hook: checkpoints.Hook | None,
                   evaluator: Evaluator, analyzers: Sequence[ChunkAnalyzer] = (),
                   check: Callable[[], None] | None = None,
                   progress: RunProgress | None = None) -> DetectionResult:
    started = time.perf_counter()
    intel = intel if intel is not None else ThreatIntel.load()
    report = ReadReport()
    stats: dict[str, Any] = {"engine": dialect.name, "rules": sum(1 for r in rules if r.enabled)}
    if store is not None:
        recovered = checkpoints.recover(store)
        if recovered:
            stats["recovered_chunk"] = recovered
    objects = list_objects(log_paths, report, target=target)
    stats["objects_listed"] = len(objects)
    if store is not None:
        objects, already = checkpoints.unread(store, objects)
        stats["objects_already_read"] = already
    # Only what the rules read is loaded; chunk analyzers read the table freely, so with them everything is.
    fields, scopes, identity = (None, (), None) if analyzers else (
        _fields_read(rules, allowlist), member_scopes(rules, allowlist), identity_read_by(_rules_sql(rules, allowlist)))
    timings = {"list": round(time.perf_counter() - started, 3), "load": 0.0, "rules": 0.0, "commit": 0.0}
    totals = {"events": 0, "outside_window": 0, "duplicates": 0, "bytes_read": 0, "chunks": 0, "intel_hits": 0,
              "carried": 0}

    def read(db: CloudTrailDB, chunk: list[LogObject]) -> dict[str, int]:
        loader = Loader(db.conn, since=since, until=until, fields=fields, scopes=scopes, identity=identity,
                        check=check)
        loader.load(chunk, report)
        loader.deduplicate()
        db.unique_event_ids = True  # just deduplicated: no need to check again
        counts = {key: getattr(loader.stats, key) for key in ("events", "outside_window", "duplicates", "bytes_read")}
        counts["objects_scanned"] = loader.stats.scanned
        return {**counts, "intel_hits": db.refresh_intel()}

    run = ChunkRun(rules=rules, allowlist=allowlist, evaluator=evaluator, analyzers=analyzers,
                   open_db=cloudtrail_db(intel, memory_limit), store=store, run_id=run_id, hook=hook, report=report,
                   timings=timings, totals=totals, progress=progress)
    all_findings = run_chunks(objects, read, run, chunk_bytes)
    stats.update(totals)
    stats["records_skipped"] = len(report.records_skipped)
    stats["files_skipped"] = len(report.files_skipped)
    timings["total"] = time.perf_counter() - started
    stats["timings"] = {k: round(v, 3) for k, v in timings.items()}
    findings = merge_findings(all_findings)
    stats["findings"] = len(findings)
    return DetectionResult(findings=findings, read_report=report, stats=stats)


def _fields_read(rules: Sequence[Rule], allowlist: Allowlist | None) -> frozenset[str]:
    """The CloudTrail fields the enabled rules read (with what findings and threat intel always read).

    Only those are loaded: a field no rule names is never decoded into the table (projection pushdown).
    Chunk analyzers read the table freely, so a run with analyzers loads every field.
    """
    return fields_read_by(_rules_sql(rules, allowlist)) | _ALWAYS_READ


def _rules_sql(rules: Sequence[Rule], allowlist: Allowlist | None) -> list[str]:
    """The SQL of every enabled rule (what the projections of the loaded table are read from)."""
    return [compile_rule(rule, DUCKDB, allowlist) for rule in rules if rule.enabled]


# What findings' evidence (names, addresses, agents) and the threat-intel annotation read.
_ALWAYS_READ: Final = frozenset({"eventName", "sourceIPAddress", "userAgent"})


class ChunkDB(Protocol):
    """A database one chunk is read into: :class:`CloudTrailDB`, or the network logs' ``NetworkDB``."""

    @property
    def conn(self) -> duckdb.DuckDBPyConnection: ...

    def refresh_intel(self) -> int:
        """Match the loaded addresses (carried ones too) against the threat-intel lists; returns the hits."""
        ...

    def close(self) -> None: ...


DB = TypeVar("DB", bound=ChunkDB)


def cloudtrail_db(intel: ThreatIntel, memory_limit: str | None) -> Callable[[], CloudTrailDB]:
    """Opens each chunk's :class:`CloudTrailDB` (``memory_limit``: DuckDB's cap, past which the table spills)."""
    return lambda: CloudTrailDB(intel=intel, memory_limit=memory_limit)


@dataclass
class ChunkRun(Generic[DB]):
    """What every chunk of one run shares: how a chunk's database is opened, the rules and how they run, the
    kind of log whose windows are carried, the store, and the run's figures."""

    rules: Sequence[Rule]
    allowlist: Allowlist | None
    evaluator: Callable[[DB, Sequence[Rule], Allowlist | None], list[Finding]]
    analyzers: Sequence[Callable[[DB], list[Finding]]]
    open_db: Callable[[], DB]
    store: Store | None
    run_id: str | None
    hook: checkpoints.Hook | None
    report: ReadReport
    timings: dict[str, float]
    totals: dict[str, int]
    logs: carry.Logs = carry.CLOUDTRAIL
    progress: RunProgress | None = None


def run_chunks(objects: Sequence[LogObject], read: Callable[[DB, list[LogObject]], Mapping[str, int]],
               run: ChunkRun[DB], chunk_bytes: int) -> list[Finding]:
    """Every chunk of ``objects`` read by ``read`` into a database of its own (which returns counts to add to
    ``run.totals``), its rules run with the tail the previous chunk or run left (:func:`evaluate_chunk`), and,
    with a store, its findings committed with its checkpoints (under ``run.logs.source``) and the tail it
    leaves. The chunks' findings.

    One loop for every reader (CloudTrail files, Security Lake Parquet, flow and resolver query logs). It
    starts by removing the scratch directories of runs that were killed (:func:`cloudwarden.core.scratch.sweep`;
    when there were any, ``run.totals`` counts them as ``stale_scratch_removed`` and their bytes as
    ``stale_scratch_bytes``). With ``run.progress``, it reports as it goes (:mod:`cloudwarden.detect.progress`).
    """
    swept = scratch.sweep()
    if swept.directories:
        run.totals["stale_scratch_removed"] = run.totals.get("stale_scratch_removed", 0) + swept.directories
        run.totals["stale_scratch_bytes"] = run.totals.get("stale_scratch_bytes", 0) + swept.bytes
    found: list[Finding] = []
    chunks = list(iter_chunks(objects, chunk_bytes))
    progress = run.progress or SILENT
    meter = Meter(progress)
    progress.begin(run.logs.source, len(objects), sum(obj.size for obj in objects), len(chunks))
    read_bytes = 0
    try:
        with carry.Relay(run.rules, run.store, len(chunks), run.logs) as relay:
            for number, chunk in enumerate(chunks, start=1):
                progress.step(number, len(chunks), "reading")
                db = run.open_db()
                try:
                    tick = time.perf_counter()
                    counts = read(db, meter.counted(chunk))
                    run.timings["load"] += time.perf_counter() - tick
                    read_bytes += sum(obj.size for obj in chunk)
                    meter.settle(read_bytes)
                    progress.step(number, len(chunks), "rules")
                    tick = time.perf_counter()
                    findings, tail = evaluate_chunk(db, run, relay.tail, relay.keep(number))
                    run.timings["rules"] += time.perf_counter() - tick
                finally:
                    db.close()
                if run.store is not None:
                    progress.step(number, len(chunks), "committing")
                _commit_chunk(run, chunk, counts, findings, tail)
                found.extend(findings)
                relay.hand_on(tail)
    finally:
        progress.end()
    return found


def _commit_chunk(run: ChunkRun[DB], chunk: list[LogObject], counts: Mapping[str, int], findings: list[Finding],
                  tail: carry.Carry | None) -> None:
    """Add a chunk's counts to the run's and, with a store, commit its findings, checkpoints and tail."""
    for key, value in counts.items():
        run.totals[key] = run.totals.get(key, 0) + value
    run.totals["chunks"] = run.totals.get("chunks", 0) + 1
    if run.store is not None:
        tick = time.perf_counter()
        skipped = {s.path for s in run.report.files_skipped}
        read_ok = [obj for obj in chunk if obj.key not in skipped]
        checkpoints.commit(run.store, run.run_id, findings, read_ok, run.hook, source=run.logs.source, tail=tail)
        run.timings["commit"] += time.perf_counter() - tick


def evaluate_chunk(db: DB, run: ChunkRun[DB], tail: carry.Carry | None,
                   keep_tail: Path | None) -> tuple[list[Finding], carry.Carry | None]:
    """Rules, then analyzers, over a loaded chunk; and (with ``keep_tail``) the tail it leaves.

    With a ``tail`` from before, the rules that are not windowed run first, the tail's rows join their tables
    for the windowed ones (:mod:`cloudwarden.detect.carry`), and leave them before the analyzers run.
    ``run.totals["carried"]`` counts the rows that joined.
    """
    rules, allowlist, evaluator = run.rules, run.allowlist, run.evaluator
    windowed = carry.windowed_rules(rules)
    if tail is not None and tail.paths and windowed:
        findings = evaluator(db, [rule for rule in rules if not is_windowed(rule)], allowlist)
        put_back = carry.put_back(db.conn, tail, windowed, run.logs)
        if put_back:
            db.refresh_intel()
        findings.extend(evaluator(db, windowed, allowlist))
        run.totals["carried"] = run.totals.get("carried", 0) + put_back
    else:
        findings = evaluator(db, rules, allowlist)
    citing = {finding.rule_id for finding in findings}
    next_tail = (carry.next_tail(db.conn, windowed, allowlist, tail or carry.Carry(), keep_tail, citing, run.logs)
                 if keep_tail is not None else None)
    carry.take_away(db.conn, run.logs)
    for analyze in run.analyzers:
        findings.extend(analyze(db))
    return findings, next_tail
