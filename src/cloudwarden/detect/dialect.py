"""SQL dialects the detection engine compiles rules to: the few spellings that differ, in one table.

Rules (native and compiled Sigma) are written in one portable spelling: standard SQL plus the functions
named in :data:`PORTABLE_FUNCTIONS`, spelled as DuckDB spells them. A dialect maps each of those names to
its own, and builds the two constructs that differ in shape (interval literals and a distinct count over a
sliding time window). DuckDB is the reference dialect, so rendering for it changes nothing; Spark SQL
joins as a second row of the table (``get_json_object`` for ``json_extract_string`` and so on).

Hand-written rather than through a SQL transpiler (sqlglot): the portable subset is tiny and fixed, and
a rename table keeps the SQL users read in a rule file exactly what runs on the default engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

# Functions a portable rule may call whose names differ between engines (DuckDB spelling).
PORTABLE_FUNCTIONS: Final = (
    "json_extract_string",  # (json_text, '$.path') -> VARCHAR or NULL
    "regexp_matches",  # (text, pattern) -> BOOLEAN, pattern found anywhere (RE2 syntax)
    "starts_with",  # (text, prefix) -> BOOLEAN
    "ends_with",  # (text, suffix) -> BOOLEAN
    "contains",  # (text, part) -> BOOLEAN
)


@dataclass(frozen=True)
class Dialect:
    """One SQL engine's spellings. ``functions`` maps a portable function name to this engine's name."""

    name: str
    functions: dict[str, str] = field(default_factory=dict)
    interval_template: str = "INTERVAL ({seconds}) SECOND"
    window_distinct_template: str = "count(DISTINCT {expr}) OVER ({window})"
    list_head_template: str = "(list({expr} ORDER BY {order}) FILTER (WHERE {value} IS NOT NULL))[1:{n}]"

    def render(self, sql: str) -> str:
        """``sql`` in this dialect: portable function names replaced where they are called."""
        renames = {k: v for k, v in self.functions.items() if k != v}
        if not renames:
            return sql
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\s*\(", re.IGNORECASE)
        return pattern.sub(lambda m: renames[m.group(1).lower()] + "(", sql)

    def interval(self, seconds: int) -> str:
        """An interval literal of ``seconds`` seconds."""
        return self.interval_template.format(seconds=int(seconds))

    def window_distinct_count(self, expr: str, window: str) -> str:
        """How many distinct ``expr`` values the window frame ``window`` (an OVER body) holds."""
        return self.window_distinct_template.format(expr=expr, window=window)

    def list_head(self, expr: str, order: str, n: int) -> str:
        """Aggregate: the first ``n`` non-null values of ``expr`` (may start with ``DISTINCT``) by ``order``."""
        value = expr.removeprefix("DISTINCT ").strip()
        return self.list_head_template.format(expr=expr, order=order, n=int(n), value=value)

    def json_path(self, column: str, path: str) -> str:
        """A string extraction of ``path`` (``$.a.b``) from the JSON text ``column``."""
        escaped = path.replace("'", "''")
        return f"{self.functions.get('json_extract_string', 'json_extract_string')}({column}, '{escaped}')"


DUCKDB: Final = Dialect(name="duckdb", functions={name: name for name in PORTABLE_FUNCTIONS})

DIALECTS: Final[dict[str, Dialect]] = {DUCKDB.name: DUCKDB}
"""Every dialect by its ``--engine`` name; Spark adds its row here."""
