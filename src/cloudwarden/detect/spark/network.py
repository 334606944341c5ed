"""Network rules (VPC flow logs, resolver query logs) on Spark: the same rules, the same findings as DuckDB.

Flow and query logs are read, checkpointed, enriched (direction, peers, instances, trust, intel) and
carried from chunk to chunk exactly as for the DuckDB engine (:mod:`cloudwarden.detect.netlogs.engine`);
each loaded chunk's ``flow_logs`` and ``dns_logs`` are then handed to Spark
(:func:`cloudwarden.detect.spark.load.table_from_duckdb`), with the intel matches, the carried records the
windowed rules already cited, and the evidence view. The rules compile with the Spark row of the dialect
table, the grouping is the DuckDB engine's query spelled for Spark, and the rows become findings through
the same function, so ids, counts, first/last seen, cited records and evidence details are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.core.scratch import ScratchDir
from cloudwarden.detect.compile import compile_rule_set
from cloudwarden.detect.dialect import SPARK
from cloudwarden.detect.netlogs.engine import NetworkDB, finding_from_row, grouped_sql, network_rules
from cloudwarden.detect.netlogs.tables import (
    DNS_COLUMNS,
    DNS_TABLE,
    EVIDENCE_SELECT,
    EVIDENCE_VIEW,
    FLOW_COLUMNS,
    FLOW_TABLE,
)
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.spark import load
from cloudwarden.detect.spark.session import error_text

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_TABLES: Final = ((FLOW_TABLE, FLOW_COLUMNS), (DNS_TABLE, DNS_COLUMNS))


class SparkNetworkEvaluator:
    """Evaluates network rules over a loaded, enriched :class:`NetworkDB` chunk on Spark."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def __call__(self, db: NetworkDB, rules: Sequence[Rule], allowlist: Allowlist | None) -> list[Finding]:
        active = network_rules([rule for rule in rules if rule.enabled])
        if not active:
            return []
        with ScratchDir("cw-spark-net-") as scratch:
            frames = [load.table_from_duckdb(self.spark, db.conn, table, columns, scratch)
                      for table, columns in _TABLES]
            try:
                load.intel_from_duckdb(self.spark, db.conn)
                load.register_cited(self.spark, load.cited_from_duckdb(db.conn))
                self.spark.sql(SPARK.render(EVIDENCE_SELECT)).createOrReplaceTempView(EVIDENCE_VIEW)
                try:
                    rows = self.spark.sql(grouped_sql(compile_rule_set(active, SPARK), SPARK)).collect()
                except Exception as exc:  # pyspark raises AnalysisException, ParseException, ...
                    raise BadInputError("rules", "the network rule set failed to run on Spark: "
                                                 + error_text(exc)) from None
            finally:
                for frame in frames:
                    frame.unpersist()
        return sorted((finding_from_row(active[row[0]], tuple(row)) for row in rows), key=lambda f: f.id)
