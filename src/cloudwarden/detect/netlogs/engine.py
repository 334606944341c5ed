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
  with a store, incremental and crash-safe like CloudTrail (below).

Checkpoints: with a ``store``, each flow or query log object read is checkpointed under
:data:`CHECKPOINT_SOURCE` through :mod:`cloudwarden.detect.checkpoints` (the same journal as CloudTrail's,
kept apart under its own source), and the run's findings are upserted together with those checkpoints. A
re-run reads only objects it has not read; a run killed at any point and run again ends with the same
findings as one that was not (no finding lost, none counted twice). All unread objects of a run are one
chunk, so the rules' windows see every new record together; records of an earlier run are not read again,
so a window that spans two runs is judged on each run's records alone.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC
from importlib import resources
from pathlib import Path
from typing import Any, Final

import boto3
import duckdb

from cloudwarden.aws.target import AwsTarget
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status, finding_id
from cloudwarden.detect import checkpoints
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.compile import MAX_EVIDENCE_IDS, compile_rule_set, create_cited_table
from cloudwarden.detect.dialect import DUCKDB
from cloudwarden.detect.engine import DetectionResult
from cloudwarden.detect.load import LogObject
from cloudwarden.detect.netlogs.dns import load_dns_objects
from cloudwarden.detect.netlogs.enrich import enrich
from cloudwarden.detect.netlogs.flow import load_flow_objects
from cloudwarden.detect.netlogs.instances import InstanceMap
from cloudwarden.detect.netlogs.sources import list_log_objects
from cloudwarden.detect.netlogs.tables import DNS_TABLE, EVIDENCE_VIEW, FLOW_TABLE, create_tables
from cloudwarden.detect.rules.loader import load_rule_dirs
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.threat_intel import ThreatIntel, create_intel_tables
from cloudwarden.store import Store

ENGINES: Final = ("duckdb",)
# The checkpoint source of flow and resolver query log objects (CloudTrail's is ``detect.cloudtrail``).
CHECKPOINT_SOURCE: Final = "detect.netlogs"
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

    def __init__(self, *, intel: ThreatIntel | None = None) -> None:
        self.conn = duckdb.connect(":memory:")
        self.conn.execute("SET TimeZone = 'UTC'")
        self.intel = intel if intel is not None else ThreatIntel()
        create_tables(self.conn)
        create_intel_tables(self.conn)
        create_cited_table(self.conn)  # windowed rules read it; network logs carry nothing, so it stays empty
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
        with tempfile.TemporaryDirectory(prefix="cw-net-") as scratch:
            return load_flow_objects(self.conn, fresh, report, Path(scratch), self._register)

    def load_dns_logs(self, paths: Sequence[str | Path], report: ReadReport, *, target: AwsTarget | None = None,
                      session: boto3.Session | None = None) -> int:
        """Read resolver query logs under ``paths``; returns queries added."""
        return self.read_dns_objects(list_log_objects(paths, report, target=target, session=session), report)

    def read_dns_objects(self, objects: Sequence[LogObject], report: ReadReport) -> int:
        """Read listed resolver query log objects (one already read is not read again); returns queries added."""
        fresh = self._fresh(objects)
        with tempfile.TemporaryDirectory(prefix="cw-net-") as scratch:
            return load_dns_objects(self.conn, fresh, report, Path(scratch), self._register)

    def _fresh(self, objects: Sequence[LogObject]) -> list[LogObject]:
        fresh = [o for o in dict((o.key, o) for o in objects).values() if o.key not in self._seen]
        self._seen.update(o.key for o in fresh)
        return fresh

    def prepare(self, *, instances: InstanceMap | None = None, allowlist: Allowlist | None = None) -> int:
        """Derive direction, peers, trust and resources (after loading); returns intel hits."""
        (instances or InstanceMap()).create_table(self.conn)
        return enrich(self.conn, self.intel, allowlist)

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
            rows = self.conn.execute(_grouped_sql(compile_rule_set(active, DUCKDB))).fetchall()
        except duckdb.Error as exc:
            raise BadInputError("rules", f"the network rule set failed to run: {exc}") from None
        return sorted((_finding(active[row[0]], row) for row in rows), key=lambda f: f.id)

    def close(self) -> None:
        self.conn.close()


def _grouped_sql(matches_sql: str) -> str:
    head = DUCKDB.list_head
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
       {head("DISTINCT peer_addr", "peer_addr", 20)},
       {head("DISTINCT service_port", "service_port", 50)}, count(DISTINCT service_port),
       {head("DISTINCT query_name", "query_name", 20)}, count(DISTINCT query_name),
       {head("DISTINCT interface_id", "interface_id", 10)},
       min(instance_id), min(instance_name), min(kind),
       count(*) FILTER (WHERE action = 'ACCEPT'), count(*) FILTER (WHERE action = 'REJECT'),
       sum(packets), sum(bytes), {head("DISTINCT direction", "direction", 2)}
FROM _d GROUP BY rule_index, account, region, group_key
ORDER BY rule_index, account, region, group_key
"""


def _finding(rule: Rule, row: tuple[Any, ...]) -> Finding:
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
) -> DetectionResult:
    """Read flow logs and resolver query logs, run the network rules (default: the shipped pack).

    ``instances`` maps interfaces and addresses to instances (:meth:`InstanceMap.from_store`); S3 paths
    are read with ``session`` (for example a role assumed in the bucket's account) or ``target``'s.
    Without ``store`` every object is read and nothing is written. With one, a chunk a killed run left
    half-committed is finished or undone first, objects already read are skipped, and the findings are
    upserted with the checkpoints of the objects read (``run_id`` is the store run they belong to; a
    skipped object is not checkpointed, so a fixed one is read next time). ``hook`` is called between
    commit steps (tests simulate crashes).
    """
    if engine not in ENGINES:
        raise BadInputError("--engine", f"flow and DNS logs run on {', '.join(ENGINES)} (not {engine!r})")
    started = time.perf_counter()
    active = network_rules(rules) if rules is not None else load_network_pack()
    report = ReadReport()
    stats: dict[str, Any] = {"engine": engine, "rules": len(active)}
    db = NetworkDB(intel=intel if intel is not None else ThreatIntel.load())
    try:
        db.validate(active)
        if store is not None and (recovered := checkpoints.recover(store, source=CHECKPOINT_SOURCE)):
            stats["recovered_chunk"] = recovered
        flow_objects = list_log_objects(flow_paths, report, target=target, session=session) if flow_paths else []
        dns_objects = list_log_objects(dns_paths, report, target=target, session=session) if dns_paths else []
        stats["objects_listed"] = len({o.key for o in [*flow_objects, *dns_objects]})
        if store is not None:
            flow_objects, flow_done = checkpoints.unread(store, flow_objects, source=CHECKPOINT_SOURCE)
            dns_objects, dns_done = checkpoints.unread(store, dns_objects, source=CHECKPOINT_SOURCE)
            stats["objects_already_read"] = flow_done + dns_done
        flows = db.read_flow_objects(flow_objects, report) if flow_objects else 0
        queries = db.read_dns_objects(dns_objects, report) if dns_objects else 0
        loaded = time.perf_counter()
        hits = db.prepare(instances=instances, allowlist=allowlist)
        findings = db.evaluate(active)
        done = time.perf_counter()
    finally:
        db.close()
    if store is not None:
        skipped = {s.path for s in report.files_skipped}
        read = [o for o in dict((o.key, o) for o in [*flow_objects, *dns_objects]).values() if o.key not in skipped]
        if read or findings:
            checkpoints.commit(store, run_id, findings, read, hook, source=CHECKPOINT_SOURCE)
    committed = time.perf_counter()
    stats.update({
        "flow_records": flows, "dns_queries": queries,
        "files_read": report.files_read, "files_skipped": len(report.files_skipped),
        "records_skipped": len(report.records_skipped), "intel_hits": hits,
        "instances_known": len(instances) if instances is not None else 0, "findings": len(findings),
        "timings": {"load": round(loaded - started, 3), "rules": round(done - loaded, 3),
                    "commit": round(committed - done, 3), "total": round(committed - started, 3)},
    })
    return DetectionResult(findings=findings, read_report=report, stats=stats)
