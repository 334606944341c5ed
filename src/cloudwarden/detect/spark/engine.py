"""Running the compiled rule set on Spark: the same SQL as DuckDB's, rendered for Spark, the same findings.

Native rules compile through :func:`cloudwarden.detect.compile.compile_rule_set` with the Spark row of
the dialect table (:data:`cloudwarden.detect.dialect.SPARK`). A compiled Sigma rule's condition is DuckDB
SQL, so each Sigma file is compiled again by :class:`~cloudwarden.detect.sigma.SparkSqlBackend` and the
rule's condition replaced by the Spark one (matched by rule id). Sigma conditions are finished Spark SQL,
while the rest of the query is portable SQL the dialect renders; so the query is compiled with a
placeholder identifier per Sigma rule, rendered, and the conditions put in afterwards.

The rows come back in the DuckDB engine's shape and become :class:`~cloudwarden.core.finding.Finding`
objects through the same function, so ids, counts, first/last seen and event ids are identical.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect.compile import compile_rule_set, grouped_sql, is_windowed
from cloudwarden.detect.dialect import SPARK
from cloudwarden.detect.engine import CloudTrailDB, finding_from_row
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.spark import load
from cloudwarden.detect.spark.session import error_text
from cloudwarden.detect.threat_intel import ThreatIntel

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_PLACEHOLDER = "__cw_sigma_condition_{}__"
# Catalyst's analysis and optimisation grow faster than linearly with a query's size: one query of ~110
# rules spends minutes planning, batches of this many rules take seconds each (measured in local mode).
RULES_PER_QUERY: Final = 16
PLANNING_THREADS: Final = 2


def spark_conditions(rules: Sequence[Rule]) -> dict[str, str]:
    """Spark SQL conditions of the Sigma rules among ``rules``, by rule id (compiled from their files)."""
    from cloudwarden.detect.sigma import load_sigma_rules

    origins = sorted({rule.origin.split(":")[0] for rule in rules if rule.kind == "sigma" and rule.origin})
    if not origins:
        return {}
    pack = load_sigma_rules([Path(origin) for origin in origins], engine="spark")
    conditions = {compiled.rule_id: compiled.where for compiled in pack.rules}
    missing = [rule.id for rule in rules if rule.kind == "sigma" and rule.id not in conditions]
    if missing:
        raise BadInputError(missing[0], "this Sigma rule does not compile for Spark: "
                                        + "; ".join(f"{u.path}: {u.reason}" for u in pack.unsupported[:3]))
    return conditions


def rule_set_sql(rules: Sequence[Rule], allowlist: Allowlist | None = None) -> str:
    """The whole rule set as one Spark SQL query returning the grouped rows :func:`finding_from_row` reads."""
    conditions = spark_conditions(rules)
    prepared: list[Rule] = []
    fill: dict[str, str] = {}
    for index, rule in enumerate(rules):
        if rule.kind == "sigma":
            marker = _PLACEHOLDER.format(index)
            fill[marker] = conditions[rule.id]
            rule = rule.model_copy(update={"condition": marker})
        prepared.append(rule)
    sql = grouped_sql(compile_rule_set(prepared, SPARK, allowlist), SPARK)
    for marker, condition in fill.items():
        sql = sql.replace(marker, condition)
    return sql


def evaluate(spark: SparkSession, rules: Sequence[Rule], allowlist: Allowlist | None = None, *,
             batch: int = RULES_PER_QUERY, cited: Sequence[tuple[str, str]] = ()) -> list[Finding]:
    """Every enabled rule over the session's ``cloudtrail`` view, ``batch`` rules a query; sorted by id.

    ``cited``: (rule id, event id) pairs of carried events the windowed rules already cited (the
    ``carried_cited`` view those rules read; see :mod:`cloudwarden.detect.carry`).
    """
    active = [rule for rule in rules if rule.enabled]
    if not active:
        return []
    if any(is_windowed(rule) for rule in active):
        load.register_cited(spark, cited)
    parts = [active[start:start + batch] for start in range(0, len(active), batch)]

    def run(part: list[Rule]) -> list[Finding]:
        try:
            rows = spark.sql(rule_set_sql(part, allowlist)).collect()
        except Exception as exc:  # pyspark raises AnalysisException, ParseException, SparkRuntimeException, ...
            raise BadInputError("rules", f"the rule set failed to run on Spark: {error_text(exc)}") from None
        return [finding_from_row(part[row[0]], tuple(row)) for row in rows]

    # Planning happens on the driver, in the calling thread: two batches at a time keep two cores busy.
    with ThreadPoolExecutor(max_workers=PLANNING_THREADS, thread_name_prefix="cw-spark") as pool:
        findings = [finding for found in pool.map(run, parts) for finding in found]
    return sorted(findings, key=lambda f: f.id)


class SparkEvaluator:
    """Evaluates rules over a loaded DuckDB chunk on Spark (the engine's ``--engine spark`` step)."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def __call__(self, db: CloudTrailDB, rules: Sequence[Rule], allowlist: Allowlist | None) -> list[Finding]:
        with ScratchDir("cw-spark-table-") as scratch:
            frame = load.from_duckdb(self.spark, db.conn, scratch)
            try:
                load.intel_from_duckdb(self.spark, db.conn)
                return evaluate(self.spark, rules, allowlist, cited=load.cited_from_duckdb(db.conn))
            finally:
                frame.unpersist()


def run_native(spark: SparkSession, paths: Sequence[str], rules: Sequence[Rule], allowlist: Allowlist | None,
               intel: ThreatIntel) -> tuple[list[Finding], dict[str, Any]]:
    """Rules over CloudTrail files Spark reads itself (``s3a://``): findings and the run's figures."""
    started = time.perf_counter()
    frame, figures = load.read_native(spark, paths)
    try:
        hits = load.register_intel(spark, intel, load.distinct_source_ips(frame))
        loaded = time.perf_counter()
        findings = evaluate(spark, rules, allowlist)
    finally:
        frame.unpersist()
    stats: dict[str, Any] = {"engine": "spark", "reader": "spark", "rules": sum(1 for r in rules if r.enabled),
                             **figures, "intel_hits": hits, "findings": len(findings),
                             "timings": {"load": round(loaded - started, 3),
                                         "rules": round(time.perf_counter() - loaded, 3),
                                         "total": round(time.perf_counter() - started, 3)}}
    return findings, stats
