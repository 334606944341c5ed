"""Compiling rules to SQL: each rule to a query over ``cloudtrail``, all rules to one query.

Every compiled rule returns the same columns (:data:`~cloudwarden.detect.rules.model.OUTPUT_COLUMNS`),
so the engine runs the whole rule set as one ``UNION ALL`` and groups the matches into findings in the
same statement: one pass over the table, whatever the number of rules. Allowlists become ``NOT LIKE``
filters applied before thresholds and sequences count anything; thresholds are sliding-window counts
per group; sequences are a time-bounded self-join on the principal. Only :mod:`dialect` spellings
differ between engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cloudwarden.detect.dialect import DUCKDB, Dialect
from cloudwarden.detect.rules.model import (
    ACCOUNT_SQL,
    OUTPUT_COLUMNS,
    PRINCIPAL_SQL,
    REGION_SQL,
    Allowlist,
    Rule,
)
from cloudwarden.detect.table import TABLE
from cloudwarden.detect.threat_intel import TRUSTED_CATEGORY

_OUT: Final = ", ".join(OUTPUT_COLUMNS)
# How many event ids a finding cites (the count says how many there were).
MAX_EVIDENCE_IDS: Final = 100


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def glob_to_like(pattern: str) -> str:
    """A glob (``*``, ``?``) as a LIKE pattern with ``\\`` as its escape character."""
    out = []
    for char in pattern:
        if char in "%_\\":
            out.append("\\" + char)
        elif char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        else:
            out.append(char)
    return "".join(out)


def allowlist_sql(allowlist: Allowlist) -> str | None:
    """A condition over ``cloudtrail`` true for allowlisted rows, or None when nothing is allowlisted.

    Addresses on a threat-intel list of category ``trusted`` are allowlisted for every rule unless the
    allowlist says ``trusted_intel: false`` (GuardDuty's trusted IP lists work the same way).
    """
    parts: list[str] = []

    def like(column: str, patterns: Sequence[str]) -> None:
        for pattern in patterns:
            parts.append(f"coalesce({column}, '') LIKE {sql_string(glob_to_like(pattern))} ESCAPE '\\'")

    like("identity_arn", allowlist.principals)
    like("session_issuer_arn", allowlist.principals)
    like("user_agent", allowlist.user_agents)
    like("source_ip", allowlist.source_ips)
    if allowlist.trusted_intel:
        parts.append(f"source_ip IN (SELECT ip FROM intel_ip WHERE category = {sql_string(TRUSTED_CATEGORY)})")
    return " OR ".join(parts) if parts else None


def _projection(rule: Rule, extra: str = "") -> str:
    resource = f"coalesce(CAST(({rule.resource}) AS VARCHAR), {PRINCIPAL_SQL})" if rule.resource else PRINCIPAL_SQL
    group = (f"CAST(({rule.group_by}) AS VARCHAR)" if rule.group_by
             else f"{PRINCIPAL_SQL} || ' ' || {resource}")
    return (f"event_id, event_time, {ACCOUNT_SQL} AS account, {REGION_SQL} AS region, "
            f"{PRINCIPAL_SQL} AS principal, {resource} AS resource, coalesce({group}, '') AS group_key{extra}")


def _where(condition: str, allowed: str | None) -> str:
    return f"({condition})" + (f" AND NOT coalesce({allowed}, false)" if allowed else "")


def compile_rule(rule: Rule, dialect: Dialect = DUCKDB, allowlist: Allowlist | None = None) -> str:
    """The rule as one SELECT returning :data:`OUTPUT_COLUMNS`, in ``dialect``."""
    merged = rule.allowlist.merged(allowlist) if allowlist is not None else rule.allowlist
    allowed = allowlist_sql(merged)
    distinct = rule.threshold.distinct if rule.threshold is not None else None
    extra = f", CAST(({distinct}) AS VARCHAR) AS _distinct" if distinct else ""
    if rule.condition is not None:
        base = f"SELECT {_projection(rule, extra)} FROM {TABLE} WHERE {_where(rule.condition, allowed)}"
    elif rule.sequence is not None:
        seq = rule.sequence
        cols = _OUT + (", _distinct" if distinct else "")
        base = (
            f"WITH _a AS (SELECT {_projection(rule, extra)} FROM {TABLE} WHERE {_where(seq.first, allowed)}), "
            f"_b AS (SELECT {_projection(rule, extra)} FROM {TABLE} WHERE {_where(seq.then, allowed)}), "
            "_p AS (SELECT _a.event_id AS _a_id, _a.event_time AS _a_time, "
            + ("_a._distinct AS _a_distinct, " if distinct else "")
            + "_b.* FROM _a JOIN _b ON _a.principal = _b.principal AND _a.account = _b.account "
            f"AND _b.event_time >= _a.event_time AND _b.event_time <= _a.event_time + {dialect.interval(seq.within)} "
            "AND _a.event_id <> _b.event_id) "
            f"SELECT {cols} FROM _p UNION SELECT _a_id, _a_time, account, region, principal, resource, group_key"
            + (", _a_distinct" if distinct else "") + " FROM _p"
        )
    else:
        assert rule.sql is not None
        base = f"SELECT {_OUT}{extra} FROM ({rule.sql}) AS _r"
        if allowed:
            base += f" WHERE _r.event_id NOT IN (SELECT event_id FROM {TABLE} WHERE {allowed})"
    if rule.threshold is not None:
        window = (f"PARTITION BY group_key ORDER BY event_time RANGE BETWEEN "
                  f"{dialect.interval(rule.threshold.window)} PRECEDING AND CURRENT ROW")
        counted = (dialect.window_distinct_count("_distinct", window) if distinct
                   else f"count(*) OVER ({window})")
        base = (f"SELECT {_OUT} FROM (WITH _m AS ({base}), _w AS (SELECT group_key, {counted} AS _n FROM _m) "
                f"SELECT {_OUT} FROM _m WHERE group_key IN "
                f"(SELECT group_key FROM _w WHERE _n >= {int(rule.threshold.count)})) AS _t")
    elif distinct:
        base = f"SELECT {_OUT} FROM ({base}) AS _t"
    return dialect.render(base)


def compile_rule_set(rules: Sequence[Rule], dialect: Dialect = DUCKDB, allowlist: Allowlist | None = None) -> str:
    """Every rule in one query: ``rule_index`` (position in ``rules``) and the output columns."""
    parts = [
        f"SELECT {index} AS rule_index, {_OUT} FROM ({compile_rule(rule, dialect, allowlist)}) AS _q{index}"
        for index, rule in enumerate(rules)
    ]
    return "\nUNION ALL\n".join(parts)


def grouped_sql(matches_sql: str, dialect: Dialect = DUCKDB, max_ids: int = MAX_EVIDENCE_IDS) -> str:
    """One row per (rule, account, region, group): counts, times, cited event ids and context from the rows."""
    head = dialect.list_head
    return f"""
WITH _m AS ({matches_sql}),
_d AS (SELECT DISTINCT _m.*, c.event_name, c.source_ip, c.user_agent FROM _m JOIN {TABLE} AS c USING (event_id))
SELECT rule_index, account, region, group_key,
       min(principal) AS principal, min(resource) AS resource,
       count(DISTINCT event_id) AS n, min(event_time) AS first_seen, max(event_time) AS last_seen,
       {head("event_id", "event_time, event_id", max_ids)} AS event_ids,
       {head("DISTINCT event_name", "event_name", 20)} AS event_names,
       {head("DISTINCT source_ip", "source_ip", 20)} AS source_ips,
       {head("DISTINCT user_agent", "user_agent", 10)} AS user_agents
FROM _d GROUP BY rule_index, account, region, group_key
ORDER BY rule_index, account, region, group_key
"""
