"""SQL dialects the detection engine compiles rules to: the few spellings that differ, in one table.

Rules (native and compiled Sigma) are written in one portable spelling: standard SQL plus the functions
named in :data:`PORTABLE_FUNCTIONS`, spelled as DuckDB spells them. A dialect maps each of those names to
its own (or to a call template when the arguments move), spells string literals and type names its own
way, and builds the constructs that differ in shape (interval literals, a distinct count over a sliding
time window, the first n values of a group). DuckDB is the reference dialect, so rendering for it changes
nothing; :data:`SPARK` is the second row.

Spark SQL differs from the portable spelling in four ways that matter to rules, each handled here:

* string literals: Spark reads ``\\`` as an escape character inside a literal, DuckDB does not, so
  every backslash of a portable literal is doubled (regular expressions like ``'\\s*'`` keep meaning);
* ``CAST(x AS VARCHAR)``: Spark wants ``STRING`` (``VARCHAR`` needs a length there);
* ``json_extract(j, path)`` returns JSON (a string value keeps its quotes, JSON null is not SQL NULL):
  Spark has no such function, so it is written through Spark 4's variant type, which keeps both apart
  (``to_json(try_variant_get(parse_json(j), path))``); ``get_json_object`` stands for
  ``json_extract_string``, whose semantics it shares (scalars unquoted, objects and arrays as JSON text);
* aggregates and windows: no ``count(DISTINCT ...) OVER``, no ``list(... ORDER BY ...)``; Spark uses
  ``size(collect_set(...) OVER ...)`` and ``array_sort`` over ``collect_list`` of structs.

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
    "json_extract",  # (json_text, '$.path') -> JSON (strings quoted; JSON null is not NULL) or NULL
    "regexp_matches",  # (text, pattern) -> BOOLEAN, pattern found anywhere (RE2 syntax)
    "starts_with",  # (text, prefix) -> BOOLEAN
    "ends_with",  # (text, suffix) -> BOOLEAN
    "contains",  # (text, part) -> BOOLEAN
)

_LITERAL: Final = re.compile(r"'(?:[^']|'')*'")
_MASK: Final = "\x00{}\x00"
_MASKED: Final = re.compile("\x00(\\d+)\x00")


@dataclass(frozen=True)
class Dialect:
    """One SQL engine's spellings. ``functions`` maps a portable function name to this engine's name.

    ``call_templates`` map a portable function to a template over its arguments (``{0}``, ``{1}``) where
    a rename is not enough; ``type_names`` rename types in ``CAST(... AS type)``; with
    ``backslash_escapes_in_literals`` every backslash inside a string literal is doubled.
    """

    name: str
    functions: dict[str, str] = field(default_factory=dict)
    call_templates: dict[str, str] = field(default_factory=dict)
    type_names: dict[str, str] = field(default_factory=dict)
    backslash_escapes_in_literals: bool = False
    interval_template: str = "INTERVAL ({seconds}) SECOND"
    window_distinct_template: str = "count(DISTINCT {expr}) OVER ({window})"
    list_head_template: str = "(list({expr} ORDER BY {order}) FILTER (WHERE {value} IS NOT NULL))[1:{n}]"

    def render(self, sql: str) -> str:
        """``sql`` in this dialect: portable function names, types and literals spelled as this engine wants."""
        renames = {k.lower(): v for k, v in self.functions.items() if k != v and k not in self.call_templates}
        if not (renames or self.call_templates or self.type_names or self.backslash_escapes_in_literals):
            return sql
        literals: list[str] = []

        def mask(match: re.Match[str]) -> str:
            literals.append(match.group(0))
            return _MASK.format(len(literals) - 1)

        code = _LITERAL.sub(mask, sql)
        if renames:
            pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\s*\(", re.IGNORECASE)
            code = pattern.sub(lambda m: renames[m.group(1).lower()] + "(", code)
        for kind, spelled in self.type_names.items():
            code = re.sub(rf"\bAS\s+{re.escape(kind)}\b", f"AS {spelled}", code, flags=re.IGNORECASE)
        for function, template in self.call_templates.items():
            code = _apply_template(code, function, template)
        return _MASKED.sub(lambda m: self.literal_text(literals[int(m.group(1))]), code)

    def literal_text(self, literal: str) -> str:
        """A portable string literal (quotes included) in this dialect's spelling."""
        return literal.replace("\\", "\\\\") if self.backslash_escapes_in_literals else literal

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
        """A string extraction of ``path`` (``$.a.b``) from the JSON text ``column`` (portable literal)."""
        escaped = path.replace("'", "''")
        return f"{self.functions.get('json_extract_string', 'json_extract_string')}({column}, '{escaped}')"


@dataclass(frozen=True)
class SparkDialect(Dialect):
    """Spark SQL: :class:`Dialect` plus the first-n aggregate written with ``array_sort`` over structs."""

    def list_head(self, expr: str, order: str, n: int) -> str:
        distinct = expr.startswith("DISTINCT ")
        value = expr.removeprefix("DISTINCT ").strip()
        keys = [part.strip() for part in order.split(",")]
        if distinct and keys == [value]:
            return f"slice(array_sort(collect_set({value})), 1, {int(n)})"
        fields = ", ".join(f"'_k{i}', {key}" for i, key in enumerate(keys))
        items = f"collect_{'set' if distinct else 'list'}(named_struct({fields}, '_v', {value}))"
        return (f"slice(transform(array_sort(filter({items}, _s -> _s._v IS NOT NULL)), _s -> _s._v), "
                f"1, {int(n)})")


def _apply_template(code: str, function: str, template: str) -> str:
    """Every call ``function(a, b, ...)`` in ``code`` (literals masked) replaced by ``template``."""
    pattern = re.compile(rf"\b{re.escape(function)}\s*\(", re.IGNORECASE)
    out: list[str] = []
    position = 0
    while (match := pattern.search(code, position)) is not None:
        args, end = _call_args(code, match.end())
        out.append(code[position:match.start()])
        out.append(template.format(*(_apply_template(arg, function, template) for arg in args)))
        position = end
    out.append(code[position:])
    return "".join(out)


def _call_args(code: str, start: int) -> tuple[list[str], int]:
    """The top-level arguments of a call whose ``(`` ends just before ``start``, and the index after ``)``."""
    depth = 0
    args: list[str] = []
    begin = start
    for index in range(start, len(code)):
        char = code[index]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                args.append(code[begin:index].strip())
                return args, index + 1
            depth -= 1
        elif char == "," and depth == 0:
            args.append(code[begin:index].strip())
            begin = index + 1
    raise ValueError(f"unbalanced parentheses in SQL: {code[max(0, start - 40):start + 40]!r}")


DUCKDB: Final = Dialect(name="duckdb", functions={name: name for name in PORTABLE_FUNCTIONS})

SPARK: Final = SparkDialect(
    name="spark",
    functions={
        "json_extract_string": "get_json_object",
        "regexp_matches": "regexp_like",
        "starts_with": "startswith",
        "ends_with": "endswith",
        "contains": "contains",
    },
    call_templates={"json_extract": "to_json(try_variant_get(parse_json({0}), {1}))"},
    type_names={"VARCHAR": "STRING"},
    backslash_escapes_in_literals=True,
    interval_template="INTERVAL '{seconds}' SECOND",
    window_distinct_template="size(collect_set({expr}) OVER ({window}))",
)

DIALECTS: Final[dict[str, Dialect]] = {DUCKDB.name: DUCKDB, SPARK.name: SPARK}
"""Every dialect by its ``--engine`` name."""
