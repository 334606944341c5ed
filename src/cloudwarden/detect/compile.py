"""Compiling rules to SQL: each rule to a query over ``cloudtrail``, all rules to one query.

Every compiled rule returns the same columns (:data:`~cloudwarden.detect.rules.model.OUTPUT_COLUMNS`),
so the engine runs the whole rule set as one ``UNION ALL`` and groups the matches into findings in the
same statement: one pass over the table, whatever the number of rules. Allowlists become ``NOT LIKE``
filters applied before thresholds and sequences count anything; thresholds are sliding-window counts
per group (only groups that reach the count over all their rows go through the window); sequences
are a time-bounded self-join on the principal. Only :mod:`dialect` spellings differ between engines.

On DuckDB the pass is cheaper in two ways that change no finding (see ``CloudTrailDB.evaluate``):
:func:`candidate_sources` lets each rule with a cheap prerequisite (``event_name IN (...)``, see
:mod:`cloudwarden.detect.rules.prerequisite`) read a small table of the rows some rule could match
instead of the whole one, and :func:`grouped_sql_unique` groups the matches without joining them back
to the table when event ids are unique.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from cloudwarden.detect.dialect import DUCKDB, Dialect
from cloudwarden.detect.rows import COLUMN_FIELDS, MEMBER_COLUMNS, Scope
from cloudwarden.detect.rules.model import (
    ACCOUNT_SQL,
    OUTPUT_COLUMNS,
    PRINCIPAL_SQL,
    REGION_SQL,
    Allowlist,
    Rule,
)
from cloudwarden.detect.rules.prerequisite import (
    EventCount,
    Prerequisite,
    candidate_names_sql,
    candidate_sql,
    matching_rows,
    rule_prerequisite,
)
from cloudwarden.detect.table import COLUMN_NAMES, TABLE
from cloudwarden.detect.threat_intel import TRUSTED_CATEGORY

if TYPE_CHECKING:
    import duckdb

_OUT: Final = ", ".join(OUTPUT_COLUMNS)
# Columns of a matched event that findings quote (event names, addresses, user agents).
CONTEXT_COLUMNS: Final = ("event_name", "source_ip", "user_agent")
# How many event ids a finding cites (the count says how many there were).
MAX_EVIDENCE_IDS: Final = 100
_LITERAL: Final = re.compile(r"'(?:[^']|'')*'")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A rule whose prerequisite admits more than this share of the rows reads the whole table.
MAX_CANDIDATE_SHARE: Final = 0.1
# (rule_id, event_id): events carried over from an earlier chunk or run that a windowed rule (threshold or
# sequence) already cited there; they still count in its windows but are not cited again (detect/carry.py).
CITED_TABLE: Final = "carried_cited"
CITED_COLUMNS: Final = (("rule_id", "VARCHAR"), ("event_id", "VARCHAR"))


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


def _select(rule: Rule, extra: str, source: str, where: str) -> str:
    """The rule's rows of ``source`` where ``where`` holds, as :data:`OUTPUT_COLUMNS` (then ``extra``).

    The principal is computed once per row in an inner query and named there, so the resource and
    group expressions that default to it reuse it instead of repeating its SQL (a third of a rule
    set's text, and its planning time, was that repetition).
    """
    inner = (f"SELECT *, {ACCOUNT_SQL} AS account, {REGION_SQL} AS region, {PRINCIPAL_SQL} AS principal "
             f"FROM {source} WHERE {where}")
    if rule.resource:
        inner = f"SELECT *, coalesce(CAST(({rule.resource}) AS VARCHAR), principal) AS resource FROM ({inner}) AS _e"
        resource = "resource"
    else:
        resource = "principal"
    group = f"CAST(({rule.group_by}) AS VARCHAR)" if rule.group_by else f"principal || ' ' || {resource}"
    return (f"SELECT event_id, event_time, account, region, principal, {resource} AS resource, "
            f"coalesce({group}, '') AS group_key{extra} FROM ({inner}) AS _s")


def _where(condition: str, allowed: str | None) -> str:
    return f"({condition})" + (f" AND NOT coalesce({allowed}, false)" if allowed else "")


def compile_rule(rule: Rule, dialect: Dialect = DUCKDB, allowlist: Allowlist | None = None,
                 source: str = TABLE, *, context: bool = False) -> str:
    """The rule as one SELECT returning :data:`OUTPUT_COLUMNS`, in ``dialect``.

    ``source`` is the table its ``condition`` (or ``sequence``) reads: ``cloudtrail`` or a table of the
    same columns holding at least every row the rule can match (see :func:`candidate_sources`). With
    ``context`` (``condition`` rules only) the rows also carry :data:`CONTEXT_COLUMNS` of their event.
    """
    if context and rule.condition is None:
        raise ValueError(f"rule {rule.id}: only condition rules return their rows' context columns")
    merged = rule.allowlist.merged(allowlist) if allowlist is not None else rule.allowlist
    allowed = allowlist_sql(merged)
    distinct = rule.threshold.distinct if rule.threshold is not None else None
    out = _OUT + (", " + ", ".join(CONTEXT_COLUMNS) if context else "")
    extra = (", " + ", ".join(CONTEXT_COLUMNS) if context else "") + (
        f", CAST(({distinct}) AS VARCHAR) AS _distinct" if distinct else "")
    if rule.condition is not None:
        base = _select(rule, extra, source, _where(rule.condition, allowed))
    elif rule.sequence is not None:
        seq = rule.sequence
        cols = _OUT + (", _distinct" if distinct else "")
        base = (
            f"WITH _a AS ({_select(rule, extra, source, _where(seq.first, allowed))}), "
            f"_b AS ({_select(rule, extra, source, _where(seq.then, allowed))}), "
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
        # Only a group reaching the count over all its rows can reach it within a window: those groups
        # are found with one cheap aggregate, and only their rows go through the window.
        total = "count(DISTINCT _distinct)" if distinct else "count(*)"
        need = int(rule.threshold.count)
        base = (f"SELECT {out} FROM (WITH _m0 AS ({base}), "
                f"_m AS (SELECT * FROM _m0 WHERE group_key IN "
                f"(SELECT group_key FROM _m0 GROUP BY group_key HAVING {total} >= {need})), "
                f"_w AS (SELECT group_key, {counted} AS _n FROM _m) "
                f"SELECT {out} FROM _m WHERE group_key IN "
                f"(SELECT group_key FROM _w WHERE _n >= {need})) AS _t")
    elif distinct:
        base = f"SELECT {out} FROM ({base}) AS _t"
    if is_windowed(rule):
        base = (f"SELECT * FROM ({base}) AS _h WHERE event_id NOT IN "
                f"(SELECT event_id FROM {CITED_TABLE} WHERE rule_id = {sql_string(rule.id)})")
    return dialect.render(base)


def create_cited_table(conn: duckdb.DuckDBPyConnection) -> None:
    """The (empty) ``carried_cited`` table windowed rules read, in a DuckDB connection rules run on."""
    columns = ", ".join(f"{name} {kind}" for name, kind in CITED_COLUMNS)
    conn.execute(f"CREATE OR REPLACE TABLE {CITED_TABLE} ({columns})")


def is_windowed(rule: Rule) -> bool:
    """Whether the rule's matches depend on other events (a threshold or a sequence): the rules that see
    events carried over from the previous chunk or run."""
    return rule.threshold is not None or rule.sequence is not None


def compile_rule_set(rules: Sequence[Rule], dialect: Dialect = DUCKDB, allowlist: Allowlist | None = None,
                     sources: Sequence[str] | None = None) -> str:
    """Every rule in one query: ``rule_index`` (position in ``rules``) and the output columns.

    ``sources`` names the table each rule reads (default ``cloudtrail`` for all; see :func:`compile_rule`).
    """
    parts = [
        f"SELECT {index} AS rule_index, {_OUT} FROM "
        f"({compile_rule(rule, dialect, allowlist, sources[index] if sources else TABLE)}) AS _q{index}"
        for index, rule in enumerate(rules)
    ]
    return "\nUNION ALL\n".join(parts)


def candidate_sources(rules: Sequence[Rule], candidates: str,
                      stats: Sequence[EventCount] | None = None,
                      max_share: float = MAX_CANDIDATE_SHARE) -> tuple[list[str], str | None]:
    """The table each rule reads (``candidates AS cloudtrail`` when it has a prerequisite, else ``cloudtrail``),
    and the condition selecting the rows of ``candidates`` from ``cloudtrail`` (None when no rule reads it).

    A rule's prerequisite (:mod:`cloudwarden.detect.rules.prerequisite`) holds for every row it can
    match, so reading only the rows where some rule's prerequisite holds changes no rule's matches.
    With ``stats`` (:data:`~cloudwarden.detect.rules.prerequisite.EVENT_COUNTS_SQL` of ``cloudtrail``), a rule whose
    prerequisite admits more than ``max_share`` of the rows reads the whole table instead: copying its
    rows would cost more than it saves, and would make the table every other rule reads larger.
    """
    total = sum(count.rows for count in stats) if stats is not None else 0
    reading = f"{candidates} AS {TABLE}"  # under the table's own name: ``cloudtrail.event_name`` still binds
    sources: list[str] = []
    found: list[Prerequisite] = []
    for rule in rules:
        prerequisites = rule_prerequisites(rule)
        if prerequisites and stats is not None:
            admitted = sum(matching_rows(item, stats) or 0 for item in prerequisites)
            if admitted > max_share * total:
                prerequisites = None
        sources.append(reading if prerequisites else TABLE)
        found.extend(prerequisites or ())
    if not found:
        return sources, None
    return sources, (candidate_names_sql(found, stats) if stats is not None else candidate_sql(found))


# Words after which a row of a query's result may depend on other rows (joins, groups, windows, set
# operations, limits, aggregates), or that open a second query inside it.
_NOT_ROW_LOCAL: Final = re.compile(
    r"\b(join|group|having|over|window|qualify|union|intersect|except|limit|offset|with|distinct|using|sample|"
    r"pivot|unpivot|lateral|count|sum|min|max|avg|list|array_agg|string_agg|any_value|first|last|arg_min|"
    r"arg_max|bool_and|bool_or|approx_count_distinct|median|quantile|mode|histogram)\b", re.IGNORECASE)


def is_row_local(sql: str) -> bool:
    """Whether ``sql`` is one ``SELECT ... FROM ... WHERE ...`` whose result row for a table row depends on that
    row alone (no join, group, window, set operation, limit, aggregate or subquery).

    Conservative: any of those words outside string literals, or a second ``SELECT``/``FROM``, says no.
    """
    text = _LITERAL.sub("''", sql)
    words = [word.lower() for word in _IDENTIFIER.findall(text)]
    return words.count("select") == 1 and words.count("from") == 1 and not _NOT_ROW_LOCAL.search(text)


def referenced_columns(sqls: Sequence[str], columns: Sequence[str] = COLUMN_NAMES) -> list[str]:
    """The ``columns`` (default ``cloudtrail``'s) named anywhere in ``sqls`` outside string literals (a superset
    of those read), in table order: the columns a table standing in for ``cloudtrail`` needs."""
    words: set[str] = set()
    for sql in sqls:
        words.update(word.lower() for word in _IDENTIFIER.findall(_LITERAL.sub("''", sql)))
    return [column for column in columns if column in words]


def rule_prerequisites(rule: Rule, *, intel: bool = True) -> tuple[Prerequisite, ...] | None:
    """What every row ``rule`` can match satisfies (None when its conditions have no prerequisite, or it is
    a whole-``sql`` rule). Without ``intel``, threat-intel atoms do not count (see
    :func:`~cloudwarden.detect.rules.prerequisite.prerequisite`)."""
    conditions = ((rule.condition,) if rule.condition is not None
                  else (rule.sequence.first, rule.sequence.then) if rule.sequence is not None else ())
    return _rule_prerequisites(conditions, intel) if conditions else None


def member_scopes(rules: Sequence[Rule], allowlist: Allowlist | None = None) -> tuple[tuple[str, Scope], ...]:
    """For each JSON member some enabled rule reads (``request_parameters``, ...), the rows it must be loaded
    on, as ``(record field, scope)`` pairs for :func:`cloudwarden.detect.rows.codec`.

    A rule reads a row's members only where its condition holds, so only where its prerequisite does: the
    union of the prerequisites of a member's readers is its scope, and outside it the member can be NULL
    without changing a match (the members are most of a row's bytes, and few rules read them). Threat-intel
    atoms do not count as prerequisites here (the intel tables are filled after loading): a rule then needs
    another one, such as ``event_source = 's3.amazonaws.com'``. A member read by a rule without a
    prerequisite (a whole-``sql`` rule, a condition on user agents) is loaded on every row (no pair).
    """
    readers: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.enabled:
            for column in referenced_columns([compile_rule(rule, DUCKDB, allowlist)], MEMBER_COLUMNS):
                readers.setdefault(column, []).append(rule)
    scopes: list[tuple[str, Scope]] = []
    for column, reading in readers.items():
        found = [rule_prerequisites(rule, intel=False) for rule in reading]
        if any(item is None for item in found):
            continue
        terms: dict[str, set[str]] = {}
        for items in found:
            for item in items or ():
                for key, values in item.terms:
                    terms.setdefault(key, set()).update(values)
        scopes.append((COLUMN_FIELDS[column], tuple((key, tuple(sorted(terms[key]))) for key in sorted(terms))))
    return tuple(sorted(scopes))



@lru_cache(maxsize=4096)
def _rule_prerequisites(conditions: tuple[str, ...], intel: bool) -> tuple[Prerequisite, ...] | None:
    found = rule_prerequisite(conditions, intel=intel)
    return tuple(found) if found is not None else None


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


def grouped_sql_unique(rules: Sequence[Rule], allowlist: Allowlist | None = None, sources: Sequence[str] | None = None,
                       max_ids: int = MAX_EVIDENCE_IDS) -> str:
    """:func:`grouped_sql` of ``rules`` for DuckDB over a table whose ``event_id`` values are unique: same rows.

    With unique ids, a ``condition`` rule's rows are already distinct and carry their event's context
    columns, so no join back to the table and no ``DISTINCT`` over every match is needed (``sequence``
    and ``sql`` rules still get both, on their own few rows, with ``_w`` marking the first row of each
    event in a group so the count stays a count of events). The earliest event ids come from DuckDB's
    ``min(x, n)`` over (time, id) pairs, a bounded heap per group instead of a sorted list of every match.
    """
    parts: list[str] = []
    for index, rule in enumerate(rules):
        source = sources[index] if sources else TABLE
        if rule.condition is not None:
            parts.append(f"SELECT {index} AS rule_index, {_OUT}, {', '.join(CONTEXT_COLUMNS)}, 1 AS _w FROM "
                         f"({compile_rule(rule, DUCKDB, allowlist, source, context=True)}) AS _q{index}")
        else:
            joined = (f"SELECT DISTINCT _r.*, {', '.join('c.' + c for c in CONTEXT_COLUMNS)} FROM "
                      f"({compile_rule(rule, DUCKDB, allowlist, source)}) AS _r JOIN {TABLE} AS c USING (event_id)")
            parts.append(f"SELECT {index} AS rule_index, {_OUT}, {', '.join(CONTEXT_COLUMNS)}, "
                         "CAST(row_number() OVER (PARTITION BY account, region, group_key, event_id) = 1 AS INTEGER) "
                         f"AS _w FROM ({joined}) AS _q{index}")
    matches = "\nUNION ALL\n".join(parts)
    head = DUCKDB.list_head
    return f"""
WITH _m AS ({matches})
SELECT rule_index, account, region, group_key,
       min(principal) AS principal, min(resource) AS resource,
       CAST(sum(_w) AS BIGINT) AS n, min(event_time) AS first_seen, max(event_time) AS last_seen,
       list_transform(min({{'t': event_time, 'i': event_id}}, {int(max_ids)}), lambda _x: _x.i) AS event_ids,
       {head("DISTINCT event_name", "event_name", 20)} AS event_names,
       {head("DISTINCT source_ip", "source_ip", 20)} AS source_ips,
       {head("DISTINCT user_agent", "user_agent", 10)} AS user_agents
FROM _m GROUP BY rule_index, account, region, group_key
ORDER BY rule_index, account, region, group_key
"""
