"""Sigma rules for CloudTrail, compiled through pySigma to SQL conditions over the ``cloudtrail`` table.

pySigma's three parts, one module each: the rule model is pySigma's own (:mod:`.loader` reads files into
it); :mod:`.pipeline` maps Sigma's CloudTrail field names to our columns; :mod:`.backend` writes SQL, with
:mod:`.dialect` holding the spellings of DuckDB and Spark. :mod:`.to_findings` turns matches into findings.

    pack = load_sigma_rules("rules/cloud/aws")       # compiled, errors, unsupported (with reasons)
    findings = findings_from_duckdb(con, pack.rules)  # or hand rule.to_rule() to the engine
"""

from cloudwarden.detect.sigma.backend import BACKENDS, CloudTrailSqlBackend, SparkSqlBackend
from cloudwarden.detect.sigma.loader import (
    CompiledSigmaRule,
    SigmaLoadError,
    SigmaPack,
    UnsupportedSigmaRule,
    load_sigma_rules,
)
from cloudwarden.detect.sigma.pipeline import cloudtrail_pipeline, column_reference
from cloudwarden.detect.sigma.to_findings import (
    MATCH_COLUMNS,
    finding_type,
    findings_from_duckdb,
    matches_sql,
    sigma_findings,
)

__all__ = [
    "BACKENDS",
    "MATCH_COLUMNS",
    "CloudTrailSqlBackend",
    "CompiledSigmaRule",
    "SigmaLoadError",
    "SigmaPack",
    "SparkSqlBackend",
    "UnsupportedSigmaRule",
    "cloudtrail_pipeline",
    "column_reference",
    "finding_type",
    "findings_from_duckdb",
    "load_sigma_rules",
    "matches_sql",
    "sigma_findings",
]
