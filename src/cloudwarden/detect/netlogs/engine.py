"""Network detection: flow logs and resolver query logs in, GuardDuty-style EC2 findings out.

The rules are the native rule model (:class:`~cloudwarden.detect.rules.model.Rule`, ``sql`` form, YAML
in ``pack/`` read by the native loader) compiled by the same compiler as CloudTrail rules
(:func:`~cloudwarden.detect.compile.compile_rule_set`: thresholds over sliding windows, every rule in
one ``UNION ALL``), so they run in one pass over ``flow_logs`` and ``dns_logs``. What differs from
CloudTrail is the evidence a finding carries (record counts, ports, peers, query names, the
interface and instance, instead of event names and user agents) and how trusted addresses are left out
(peers, in :mod:`~cloudwarden.detect.netlogs.enrich`, rather than callers), so grouping is written here.

Public API:

* :func:`load_network_pack` — the shipped network rules.
* :class:`NetworkDB` — an in-memory DuckDB: :meth:`~NetworkDB.load_flow_logs`, :meth:`~NetworkDB.load_dns_logs`,
  :meth:`~NetworkDB.prepare` (instances, direction, intel, trust), :meth:`~NetworkDB.evaluate`,
  :meth:`~NetworkDB.query`.
* :func:`run_network_detection` — all of it from paths (files, trees, ``s3://``) to a ``DetectionResult``;
  with a store, incremental and crash-safe like CloudTrail (below); ``engine="spark"`` runs each chunk's
  rules on Spark (:mod:`cloudwarden.detect.spark.network`).
* :func:`grouped_sql`, :func:`finding_from_row` — the grouping query (in either dialect) and its rows as
  findings, shared by both engines.

Chunks and checkpoints: the unread objects (flow logs, then query logs) are read in chunks of about
:data:`DEFAULT_CHUNK_BYTES` stored bytes by the loop CloudTrail uses
(:func:`~cloudwarden.detect.engine.run_chunks`), so a large run stays within memory. With a ``store``,
each object read is checkpointed under :data:`CHECKPOINT_SOURCE` through :mod:`cloudwarden.detect.checkpoints`
(the same journal as CloudTrail's, kept apart under its own source), and each chunk's findings are upserted
together with those checkpoints: a re-run reads only objects it has not read, and a run killed at any point
and run again ends with the same findings as one that was not (no finding lost, none counted twice; a kill
loses at most the chunk being read).

Windows across chunks and runs: after each chunk, the rows a windowed rule (the thresholds) could still need
are kept as the tail (:mod:`cloudwarden.detect.carry`, :data:`NETWORK_LOGS`): per table, the rows of the last
window plus :data:`LATENESS` before its latest record. The tail goes back into ``flow_logs`` and ``dns_logs``
before the next chunk's windowed rules run, and with a store it is committed with the chunk's checkpoints
(under this source, apart from CloudTrail's tail), so a port scan split over two runs is found when its
second half is read, citing the records of both; a scan that already fired and goes on adds only its new
records to the finding. Direction is inferred per chunk (:mod:`~cloudwarden.detect.netlogs.enrich`); a
carried record keeps what was derived when it was read.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Final

import boto3
import duckdb

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status, finding_id
from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect import carry, checkpoints
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.compile import MAX_EVIDENCE_IDS, compile_rule_set, create_cited_table
from cloudwarden.detect.dialect import DUCKDB, Dialect
from cloudwarden.detect.engine import DEFAULT_MEMORY_LIMIT, ChunkRun, DetectionResult, merge_findings, run_chunks
from cloudwarden.detect.load import LogObject, cap_memory
from cloudwarden.detect.netlogs.dns import load_dns_objects
from cloudwarden.detect.netlogs.enrich import ADDRESS_VIEW, enrich
from cloudwarden.detect.netlogs.flow import load_flow_objects
from cloudwarden.detect.netlogs.instances import InstanceMap
from cloudwarden.detect.netlogs.sources import list_log_objects
from cloudwarden.detect.netlogs.tables import (
    DNS_COLUMNS,
    DNS_TABLE,
    EVIDENCE_COLUMNS,
    EVIDENCE_VIEW,
    FLOW_COLUMNS,
    FLOW_TABLE,
    create_tables,
)
from cloudwarden.detect.progress import RunProgress
from cloudwarden.detect.rules.loader import load_rule_dirs
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.threat_intel import ThreatIntel, create_intel_tables
from cloudwarden.store import Store

ENGINES: Final = ("duckdb", "spark")
# The checkpoint source of flow and resolver query log objects (CloudTrail's is ``detect.cloudtrail``).
CHECKPOINT_SOURCE: Final = "detect.netlogs"
# How much earlier than the latest record read a record read later may start. A flow record's start is the
# beginning of its aggregation interval (at most 10 minutes); flow logs then take about 10 minutes to reach
# S3, on a best-effort basis, and each interface's records travel on their own, so a run can read one
# interface's records up to ~20 minutes past another's that are still on their way. 30 minutes leaves
# 10 for the best effort; resolver query logs, delivered at the same pace, are covered by it too.
LATENESS: Final = timedelta(minutes=30)
# What network detection carries across chunks and runs (detect/carry.py), under its checkpoint source.
NETWORK_LOGS: Final = carry.Logs(
    source=CHECKPOINT_SOURCE,
    tables=(carry.CarriedTable(FLOW_TABLE, FLOW_COLUMNS), carry.CarriedTable(DNS_TABLE, DNS_COLUMNS)),
    lateness=LATENESS,
    context=EVIDENCE_COLUMNS,
)
# A chunk is this many stored bytes of flow or query logs. Measured on 370,000 generated flow records: ~18
# bytes a record gzipped, ~310 bytes a record of ``flow_logs`` in DuckDB and ~190 more while enrichment
# updates it; so 32 MiB is ~1.8 million records and about 0.9 GB at its peak.
DEFAULT_CHUNK_BYTES: Final = 32 << 20
# How many values of each list a finding's evidence details quote (``distinct_ports`` and
# ``distinct_query_names`` say how many there were).
LISTED: Final = {"peer_addresses": 20, "ports": 50, "query_names": 20, "interface_ids": 10, "directions": 2}
_DISTINCT: Final = {"ports": "distinct_ports", "query_names": "distinct_query_names"}
_SUMMED: Final = ("records", "accepted", "rejected", "packets", "bytes")
_LOWER_BOUND: Final = "distinct_lower_bound"
_NO_CALLER_ALLOWLIST: Final = Allowlist(trusted_intel=False)


def pack_dir() -> Path:
    """The shipped network rules' directory."""
    return Path(str(resources.files("cloudwarden.detect.netlogs") / "pack"))


def load_network_pack() -> list[Rule]:
    """The shipped network rules (parsed once per process)."""
    return list(_pack())


@functools.cache
def _pack() -> tuple[Rule, ...]:
    return tuple(network_rules(load_rule_dirs([pack_dir()], compile_sigma=False).rules))


def network_rules(rules: Sequence[Rule]) -> list[Rule]:
    """``rules`` ready for the network tables: ``sql`` rules only, without CloudTrail caller allowlists.

    CloudTrail allowlists name callers (principals, user agents, source addresses); network records
    have peers instead, which the shared allowlist's ``source_ips`` and trusted intel cover in
    ``peer_trusted``. A network rule with an allowlist of its own is bad input, said where.
    """
    out = []
    for rule in rules:
        if rule.sql is None:
            raise BadInputError(rule.where, f"rule {rule.id}: a network rule is an `sql` rule over flow_logs "
                                            "or dns_logs")
        if not rule.allowlist.empty:
            raise BadInputError(rule.where, f"rule {rule.id}: network rules take no allowlist of their own; "
                                            "list trusted peers under the shared allowlist's source_ips")
        out.append(rule.model_copy(update={"allowlist": _NO_CALLER_ALLOWLIST}))
    return out


class NetworkDB:
    """An in-memory DuckDB holding ``flow_logs``, ``dns_logs``, the instance map and the intel tables."""

    def __init__(self, *, intel: ThreatIntel | None = None, memory_limit: str | None = None) -> None:
        self._spill: ScratchDir | None = None
        self.conn = duckdb.connect(":memory:")
        if memory_limit:  # beyond it, tables and queries spill to a scratch directory of their own
            self._spill = ScratchDir("cw-spill-")
            cap_memory(self.conn, memory_limit, self._spill.path)
        self.conn.execute("SET TimeZone = 'UTC'")
        self.intel = intel if intel is not None else ThreatIntel()
        create_tables(self.conn)
        create_intel_tables(self.conn)
        create_cited_table(self.conn)  # windowed rules read it: carried records they cited already
        InstanceMap().create_table(self.conn)
        self.conn.execute("CREATE TABLE _net_files (idx INTEGER, name VARCHAR)")
        self._next_file = 0
        self._seen: set[str] = set()

    def _register(self, name: str) -> int:
        index = self._next_file
        self._next_file += 1
        self.conn.execute("INSERT INTO _net_files VALUES (?, ?)", [index, name])
        return index

    def load_flow_logs(self, paths: Sequence[str | Path], report: ReadReport, *, target: AwsTarget | None = None,
                       session: boto3.Session | None = None) -> int:
        """Read flow logs under ``paths`` (an object already read is not read again); returns records added."""
        return self.read_flow_objects(list_log_objects(paths, report, target=target, session=session), report)

    def read_flow_objects(self, objects: Sequence[LogObject], report: ReadReport) -> int:
        """Read listed flow log objects (one already read is not read again); returns records added."""
        fresh = self._fresh(objects)
        with ScratchDir("cw-net-") as scratch:
            return load_flow_objects(self.conn, fresh, report, scratch, self._register)

    def load_dns_logs(self, paths: Sequence[str | Path], report: ReadReport, *, target: AwsTarget | None = None,
                      session: boto3.Session | None = None) -> int:
        """Read resolver query logs under ``paths``; returns queries added."""
        return self.read_dns_objects(list_log_objects(paths, report, target=target, session=session), report)

    def read_dns_objects(self, objects: Sequence[LogObject], report: ReadReport) -> int:
        """Read listed resolver query log objects (one already read is not read again); returns queries added."""
        fresh = self._fresh(objects)
        with ScratchDir("cw-net-") as scratch:
            return load_dns_objects(self.conn, fresh, report, scratch, self._register)

    def _fresh(self, objects: Sequence[LogObject]) -> list[LogObject]:
        fresh = [o for o in dict((o.key, o) for o in objects).values() if o.key not in self._seen]
        self._seen.update(o.key for o in fresh)
        return fresh

    def prepare(self, *, instances: InstanceMap | None = None, allowlist: Allowlist | None = None) -> int:
        """Derive direction, peers, trust and resources (after loading); returns intel hits."""
        (instances or InstanceMap()).create_table(self.conn)
        return enrich(self.conn, self.intel, allowlist)

    def refresh_intel(self) -> int:
        """Match the peer and answer addresses (carried records' too) against the intel lists; returns the hits.

        Only after :meth:`prepare`, whose address view it reads."""
        return self.intel.annotate(self.conn, ADDRESS_VIEW)

    def count(self, table: str) -> int:
        if table not in (FLOW_TABLE, DNS_TABLE):
            raise BadInputError("table", f"{table!r} is not {FLOW_TABLE} or {DNS_TABLE}")
        row = self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of ``sql`` as dicts."""
        try:
            cursor = self.conn.execute(sql, list(params))
        except duckdb.Error as exc:
            raise BadInputError("sql", f"{type(exc).__name__}: {exc}") from None
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def validate(self, rules: Sequence[Rule]) -> None:
        """Plan every rule; the first that does not run names its file."""
        for rule in rules:
            try:
                self.conn.execute("EXPLAIN " + compile_rule_set([rule], DUCKDB))
            except duckdb.Error as exc:
                raise BadInputError(rule.where, f"rule {rule.id}: its SQL does not run: {exc}") from None

    def evaluate(self, rules: Sequence[Rule]) -> list[Finding]:
        """Every enabled rule in one query, the matches grouped into findings (sorted by id)."""
        active = network_rules([rule for rule in rules if rule.enabled])
        if not active:
            return []
        try:
            rows = self.conn.execute(grouped_sql(compile_rule_set(active, DUCKDB))).fetchall()
        except duckdb.Error as exc:
            raise BadInputError("rules", f"the network rule set failed to run: {exc}") from None
        return sorted((finding_from_row(active[row[0]], row) for row in rows), key=lambda f: f.id)

    def close(self) -> None:
        self.conn.close()
        if self._spill is not None:
            self._spill.cleanup()


def grouped_sql(matches_sql: str, dialect: Dialect = DUCKDB) -> str:
    """The matches of ``matches_sql`` (a compiled rule set) grouped into one row per finding, in ``dialect``."""
    head = dialect.list_head
    service_port = "CASE WHEN direction = 'ingress' THEN local_port ELSE peer_port END"
    return f"""
WITH _m AS ({matches_sql}),
_d AS (SELECT DISTINCT _m.rule_index, _m.event_id, _m.event_time, _m.account, _m.region, _m.resource,
                       _m.group_key, r.kind, r.interface_id, r.peer_addr, r.protocol, r.action, r.packets, r.bytes,
                       r.direction, r.query_name, r.instance_id, r.instance_name, r.resource_type,
                       {service_port} AS service_port
       FROM _m JOIN {EVIDENCE_VIEW} AS r USING (event_id))
SELECT rule_index, account, region, group_key, min(resource), min(resource_type), count(DISTINCT event_id),
       min(event_time), max(event_time),
       {head("event_id", "event_time, event_id", MAX_EVIDENCE_IDS)},
       {head("DISTINCT peer_addr", "peer_addr", LISTED["peer_addresses"])},
       {head("DISTINCT service_port", "service_port", LISTED["ports"])}, count(DISTINCT service_port),
       {head("DISTINCT query_name", "query_name", LISTED["query_names"])}, count(DISTINCT query_name),
       {head("DISTINCT interface_id", "interface_id", LISTED["interface_ids"])},
       min(instance_id), min(instance_name), min(kind),
       count(*) FILTER (WHERE action = 'ACCEPT'), count(*) FILTER (WHERE action = 'REJECT'),
       sum(packets), sum(bytes), {head("DISTINCT direction", "direction", LISTED["directions"])}
FROM _d GROUP BY rule_index, account, region, group_key
ORDER BY rule_index, account, region, group_key
"""


def finding_from_row(rule: Rule, row: tuple[Any, ...]) -> Finding:
    """The finding of one row of :func:`grouped_sql` (either engine's)."""
    (_, account, region, group_key, resource, resource_type, count, first, last, event_ids, peers, ports,
     port_count, names, name_count, interfaces, instance_id, instance_name, kind, accepted, rejected, packets,
     nbytes, directions) = row
    details: dict[str, Any] = {"record_kind": kind, "records": int(count)}
    if kind == "flow":
        details.update({"peer_addresses": peers or [], "ports": ports or [], "distinct_ports": int(port_count),
                        "interface_ids": interfaces or [], "directions": directions or [],
                        "accepted": int(accepted), "rejected": int(rejected),
                        "packets": int(packets or 0), "bytes": int(nbytes or 0)})
    else:
        details.update({"query_names": names or [], "distinct_query_names": int(name_count)})
    if instance_id:
        details["instance_id"] = instance_id
    if instance_name:
        details["instance_name"] = instance_name
    if count > len(event_ids):
        details["event_ids_truncated"] = True
    return Finding(
        id=finding_id(Source.DETECT.value, rule.id, account, region, group_key),
        source=Source.DETECT, type=rule.type, rule_id=rule.id, title=rule.title, description=rule.description,
        remediation=rule.remediation, status=Status.ACTIVE, severity=rule.severity, account_id=account,
        region=region, resource=ResourceRef(type=resource_type or rule.resource_type, id=resource),
        principal=None, first_seen=first.replace(tzinfo=UTC), last_seen=last.replace(tzinfo=UTC),
        count=int(count), evidence=Evidence(event_ids=list(event_ids), details=details), mitre=list(rule.mitre),
    )


def network_details(older: Mapping[str, Any], newer: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence details of a network finding seen in two chunks of a run: counters summed, listed values
    united (cut to :data:`LISTED` by :func:`listed` once every chunk is merged), distinct counts of both.

    A distinct count is exact when no chunk's list was cut short; otherwise it is the least the lists and
    counts prove (the values a cut list left out may be shared), and ``distinct_lower_bound`` says so.
    """
    details = dict(newer)
    for key in _SUMMED:
        if key in older or key in newer:
            details[key] = int(older.get(key, 0)) + int(newer.get(key, 0))
    for key in LISTED:
        if key in older or key in newer:
            details[key] = sorted({*older.get(key, []), *newer.get(key, [])})
    for key, counted in _DISTINCT.items():
        if counted in older or counted in newer:
            union = len({*older.get(key, []), *newer.get(key, [])})
            if all(len(part.get(key, [])) == part.get(counted, 0) for part in (older, newer)):
                details[counted] = union
            else:
                details[counted] = max(union, older.get(counted, 0), newer.get(counted, 0))
                details[_LOWER_BOUND] = True
    if older.get(_LOWER_BOUND):
        details[_LOWER_BOUND] = True
    return details


def listed(finding: Finding) -> Finding:
    """``finding`` with each list of its evidence details cut to its :data:`LISTED` length."""
    details = {key: value[:LISTED[key]] if key in LISTED else value for key, value in finding.evidence.details.items()}
    return finding.model_copy(update={"evidence": finding.evidence.model_copy(update={"details": details})})


def run_network_detection(
    flow_paths: Sequence[str | Path] = (),
    dns_paths: Sequence[str | Path] = (),
    *,
    rules: Sequence[Rule] | None = None,
    intel: ThreatIntel | None = None,
    allowlist: Allowlist | None = None,
    instances: InstanceMap | None = None,
    engine: str = "duckdb",
    target: AwsTarget | None = None,
    session: boto3.Session | None = None,
    store: Store | None = None,
    run_id: str | None = None,
    hook: checkpoints.Hook | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    spark_master: str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
    progress: RunProgress | None = None,
) -> DetectionResult:
    """Read flow logs and resolver query logs, run the network rules (default: the shipped pack).

    ``instances`` maps interfaces and addresses to instances (:meth:`InstanceMap.from_store`); S3 paths
    are read with ``session`` (for example a role assumed in the bucket's account) or ``target``'s. The
    objects are read in chunks of about ``chunk_bytes``, windows carried from one to the next.
    Without ``store`` every object is read and nothing is written. With one, a chunk a killed run left
    half-committed is finished or undone first, objects already read are skipped, the tail the last run
    left is carried into the first chunk, and each chunk's findings are upserted with the checkpoints of
    the objects read and the tail it leaves (``run_id`` is the store run they belong to; a skipped object is
    not checkpointed, so a fixed one is read next time). ``hook`` is called between commit steps (tests
    simulate crashes). ``memory_limit`` caps each chunk's DuckDB (like ``"1GB"``; None for DuckDB's own 80% of
    RAM), which spills to a scratch directory beyond it. With ``engine="spark"`` each chunk's rules run on a
    SparkSession (``spark_master``, default ``local[2]``; an active session is reused):
    :mod:`cloudwarden.detect.spark.network`.
    """
    if engine not in ENGINES:
        raise BadInputError("--engine", f"flow and DNS logs run on {', '.join(ENGINES)} (not {engine!r})")
    if engine == "spark":
        from cloudwarden.detect.spark.network import SparkNetworkEvaluator
        from cloudwarden.detect.spark.session import require_pyspark, spark_session

        require_pyspark()
        with spark_session(spark_master, spark_conf) as spark:
            return _run(flow_paths, dns_paths, rules, intel, allowlist, instances, engine, target, session, store,
                        run_id, hook, chunk_bytes, memory_limit, SparkNetworkEvaluator(spark), progress)
    return _run(flow_paths, dns_paths, rules, intel, allowlist, instances, engine, target, session, store, run_id,
                hook, chunk_bytes, memory_limit, _evaluate, progress)


def _run(flow_paths: Sequence[str | Path], dns_paths: Sequence[str | Path], rules: Sequence[Rule] | None,
         intel: ThreatIntel | None, allowlist: Allowlist | None, instances: InstanceMap | None, engine: str,
         target: AwsTarget | None, session: boto3.Session | None, store: Store | None, run_id: str | None,
         hook: checkpoints.Hook | None, chunk_bytes: int, memory_limit: str | None,
         evaluator: Evaluator, progress: RunProgress | None) -> DetectionResult:
    started = time.perf_counter()
    active = network_rules(rules) if rules is not None else load_network_pack()
    intel = intel if intel is not None else ThreatIntel.load()
    report = ReadReport()
    stats: dict[str, Any] = {"engine": engine, "rules": len(active)}
    _validate(active, intel)
    if store is not None and (recovered := checkpoints.recover(store, source=CHECKPOINT_SOURCE)):
        stats["recovered_chunk"] = recovered
    flow_objects = list_log_objects(flow_paths, report, target=target, session=session) if flow_paths else []
    dns_objects = list_log_objects(dns_paths, report, target=target, session=session) if dns_paths else []
    stats["objects_listed"] = len({o.key for o in [*flow_objects, *dns_objects]})
    if store is not None:
        flow_objects, flow_done = checkpoints.unread(store, flow_objects, source=CHECKPOINT_SOURCE)
        dns_objects, dns_done = checkpoints.unread(store, dns_objects, source=CHECKPOINT_SOURCE)
        stats["objects_already_read"] = flow_done + dns_done
    objects, queries = _in_order(flow_objects, dns_objects)
    timings = {"list": round(time.perf_counter() - started, 3), "load": 0.0, "rules": 0.0, "commit": 0.0}
    totals = {"flow_records": 0, "dns_queries": 0, "intel_hits": 0, "chunks": 0, "carried": 0}

    def read(db: NetworkDB, chunk: list[LogObject]) -> dict[str, int]:
        flows = [obj for obj in chunk if obj.key not in queries]
        dns = [obj for obj in chunk if obj.key in queries]
        return {"flow_records": db.read_flow_objects(flows, report) if flows else 0,
                "dns_queries": db.read_dns_objects(dns, report) if dns else 0,
                "intel_hits": db.prepare(instances=instances, allowlist=allowlist)}

    run = ChunkRun(rules=active, allowlist=None, evaluator=evaluator, analyzers=(),
                   open_db=lambda: NetworkDB(intel=intel, memory_limit=memory_limit), store=store, run_id=run_id,
                   hook=hook, report=report,
                   timings=timings, totals=totals, logs=NETWORK_LOGS, progress=progress)
    findings = [listed(f) for f in merge_findings(run_chunks(objects, read, run, chunk_bytes), details=network_details)]
    stats.update(totals)
    stats.update({
        "files_read": report.files_read, "files_skipped": len(report.files_skipped),
        "records_skipped": len(report.records_skipped),
        "instances_known": len(instances) if instances is not None else 0, "findings": len(findings),
    })
    timings["total"] = time.perf_counter() - started
    stats["timings"] = {k: round(v, 3) for k, v in timings.items()}
    return DetectionResult(findings=findings, read_report=report, stats=stats)


Evaluator = Callable[[NetworkDB, Sequence[Rule], Allowlist | None], list[Finding]]
"""Runs the rules over a loaded, enriched chunk: :func:`_evaluate` (DuckDB) or Spark's evaluator."""


def _validate(rules: Sequence[Rule], intel: ThreatIntel) -> None:
    """Plan every rule on an empty database; the first that does not run names its file."""
    db = NetworkDB(intel=intel)
    try:
        db.validate(rules)
    finally:
        db.close()


def _in_order(flows: Sequence[LogObject], queries: Sequence[LogObject]) -> tuple[list[LogObject], set[str]]:
    """The objects to read, flow logs first, each once (a key named as both is read as a flow log); and the
    keys of the query logs among them."""
    flow_keys = {obj.key for obj in flows}
    dns = list(dict((obj.key, obj) for obj in queries if obj.key not in flow_keys).values())
    return [*dict((obj.key, obj) for obj in flows).values(), *dns], {obj.key for obj in dns}


def _evaluate(db: NetworkDB, rules: Sequence[Rule], allowlist: Allowlist | None) -> list[Finding]:
    """The chunk loop's evaluator: trusted peers were already left out by :meth:`NetworkDB.prepare`."""
    return db.evaluate(rules)
