"""How compiled Sigma conditions are spelled in each SQL engine: one table of templates per dialect.

The Sigma backend (:mod:`.backend`) decides *what* to test; a :class:`SqlDialect` says how the engine
writes it: string literals, text views of non-text columns, JSON extraction, "any element of a list
satisfies", regular expressions, prefix/suffix tests. DuckDB is the reference row; Spark SQL is a second
row that overrides only what differs (``get_json_object``, ``RLIKE``, higher-order ``exists``, backslash
escapes in literals), in the manner of sqlglot's dialect tables.

Kept apart from the engine's :mod:`cloudwarden.detect.dialect` (function renames for native rules):
Sigma's matching semantics (JSON arrays reached element by element, two-valued NOT, LIKE escaping) need
constructs, not renames, and must not change what native rules compile to. The engine's table renders a
whole query (it rewrites every literal of portable SQL); this one writes finished SQL for its engine.

**JSON on Spark, exactly.** ``get_json_object`` cannot tell a string holding ``{...}`` from an object, and
unwraps a ``[*]`` path that reaches one element, so it cannot give Sigma's element-wise semantics. Spark 4's
``VARIANT`` can: :class:`SparkSqlDialect` parses the JSON column once per use (``parse_json``), walks object
keys with ``try_variant_get`` (SQL NULL when absent, a variant null for JSON null, as DuckDB's
``json_exists``/``json_type`` tell apart) and every ``[*]`` step with ``transform``/``flatten`` over
``try_variant_get(..., 'array<variant>')``, and reads a scalar's text only when ``schema_of_variant`` says
it is neither an object nor an array (DuckDB's ``json_value``). A whole JSON field's nested scalars
(DuckDB's ``$..*``) come from its JSON text: a possessive regular expression takes every value token
(strings, numbers, literals; keys are skipped), and ``from_json(..., 'array<string>')`` unescapes them.
``from_json`` with a typed schema was not used: CloudTrail's ``requestParameters`` has no fixed shape.
The one remaining difference is the text of floating-point numbers in exponent form (``1e20`` in DuckDB,
``1.0E20`` in Spark), which CloudTrail does not write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SqlDialect:
    """Templates for one engine. ``{x}``/``{y}`` are SQL expressions, ``{path}`` a quoted JSON path literal."""

    name: str
    # Text views of columns that are not text, so every Sigma value compares against text.
    bool_text: str = "CAST({x} AS VARCHAR)"
    timestamp_text: str = "strftime({x}, '%Y-%m-%dT%H:%M:%SZ')"
    json_text: str = "CAST({x} AS VARCHAR)"
    # JSON: the scalar at a path (NULL when absent, JSON null, an object or an array) ...
    json_scalar: str = "(json_value({column}, {path}) ->> '$')"
    # ... the scalars reached by a path with [*] steps (a list; non-scalars are NULL items) ...
    json_scalars: str = "json_value({column}, {path})"
    json_scalar_item: str = "({v} ->> '$')"
    # ... every value (any JSON type) reached by such a path, and whether one item is not JSON null.
    json_items: str = "json_extract({column}, {path})"
    json_item_not_null: str = "json_type({v}) <> 'NULL'"
    # Presence of something (even JSON null) / something not null at a path without [*] steps.
    json_present: str = "json_exists({column}, {path})"
    json_present_not_null: str = "coalesce(json_type({column}, {path}), 'NULL') <> 'NULL'"
    # True when some item of list {items} satisfies {predicate} (over lambda variable {v}); never NULL.
    any_item: str = "coalesce(len(list_filter({items}, lambda {v}: {predicate})), 0) > 0"
    lower: str = "lower({x})"
    regex: str = "regexp_matches({x}, {pattern})"  # found anywhere in {x}; RE2 syntax
    to_double: str = "TRY_CAST({x} AS DOUBLE)"
    starts_with: str = "starts_with({x}, {y})"
    ends_with: str = "ends_with({x}, {y})"
    contains: str = "contains({x}, {y})"
    # LIKE: DuckDB has no escape character unless told; Spark's default one is the backslash.
    like_escape_clause: str = " ESCAPE '\\'"
    like_escape_is_default: bool = False
    backslash_escapes_in_literals: bool = False  # Spark reads '\n' in a literal as a newline
    json_arrays_exact: bool = True  # can reach array elements exactly

    def literal(self, text: str) -> str:
        """A SQL string literal holding ``text`` exactly."""
        if self.backslash_escapes_in_literals:
            text = text.replace("\\", "\\\\")
        return "'" + text.replace("'", "''") + "'"

    def json_path(self, steps: list[tuple[str, bool]], *, root_array: bool = False) -> str:
        """A JSON path literal: each step is (key, then every element of an array at that key)."""
        path = "$[*]" if root_array else "$"
        for key, every in steps:
            path += self.json_key(key) + ("[*]" if every else "")
        return self.literal(path)

    def json_key(self, key: str) -> str:
        if _PLAIN_KEY.match(key):
            return "." + key
        return '."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'

    # -- JSON subjects (the backend asks for these; a dialect may build them its own way) --------------

    def json_scalar_at(self, column: str, keys: list[str]) -> tuple[str, str, str]:
        """At a path of object keys: (the scalar's text or NULL, present, present and not JSON null)."""
        path = self.json_path([(key, False) for key in keys])
        return (self.json_scalar.format(column=column, path=path),
                self.json_present.format(column=column, path=path),
                self.json_present_not_null.format(column=column, path=path))

    def json_list_at(self, column: str, steps: list[tuple[str, bool]], *, root_array: bool) -> tuple[str, str]:
        """At a path with ``[*]`` steps: (list of scalar texts, list of JSON items) reached."""
        path = self.json_path(steps, root_array=root_array)
        return self.json_scalars.format(column=column, path=path), self.json_items.format(column=column, path=path)

    def json_whole(self, column: str) -> tuple[str, str]:
        """A whole JSON column: (its JSON text, the list of every scalar's text inside it at any depth)."""
        return self.json_text.format(x=column), self.json_scalars.format(column=column, path=self.literal("$..*"))

    def like(self, x: str, pattern: str) -> str:
        """``x LIKE pattern`` where ``pattern`` uses ``\\`` to escape ``%``, ``_`` and itself."""
        clause = "" if self.like_escape_is_default or "\\" not in pattern else self.like_escape_clause
        return f"{x} LIKE {self.literal(pattern)}{clause}"


DUCKDB: Final = SqlDialect(name="duckdb")

# One JSON value token of minified JSON text (group 1); an object key (with its colon) matches without a group.
_JSON_VALUE_TOKEN: Final = (
    r'"[^"\\]*+(?:\\.[^"\\]*+)*+":|("[^"\\]*+(?:\\.[^"\\]*+)*+"|-?[0-9][0-9.eE+-]*+|true|false|null)'
)
_EMPTY_VARIANTS: Final = "CAST(array() AS array<variant>)"


@dataclass(frozen=True)
class SparkSqlDialect(SqlDialect):
    """Spark SQL, with JSON reached through Spark 4's ``VARIANT`` (see the module docstring)."""

    def _step(self, expr: str, key: str) -> str:
        return f"try_variant_get({expr}, {self.literal('$' + self.variant_key(key))})"

    @staticmethod
    def variant_key(key: str) -> str:
        if _PLAIN_KEY.match(key):
            return "." + key
        return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"

    def _as_list(self, expr: str) -> str:
        return f"coalesce(try_variant_get({expr}, '$', 'array<variant>'), {_EMPTY_VARIANTS})"

    def scalar_text(self, expr: str) -> str:
        """The text of a variant scalar; NULL for JSON null, an object or an array (DuckDB's ``json_value``)."""
        return (f"(CASE WHEN schema_of_variant({expr}) RLIKE '^(OBJECT|ARRAY)' THEN NULL "
                f"ELSE try_variant_get({expr}, '$', 'string') END)")

    def json_scalar_at(self, column: str, keys: list[str]) -> tuple[str, str, str]:
        path = self.literal("$" + "".join(self.variant_key(key) for key in keys))
        value = f"try_variant_get(parse_json({column}), {path})"
        return self.scalar_text(value), f"{value} IS NOT NULL", f"NOT coalesce(is_variant_null({value}), true)"

    def json_list_at(self, column: str, steps: list[tuple[str, bool]], *, root_array: bool) -> tuple[str, str]:
        one = f"parse_json({column})"
        items: str | None = self._as_list(one) if root_array else None
        for depth, (key, every) in enumerate(steps):
            if items is None:
                one = self._step(one, key)
                if every:
                    items = self._as_list(one)
                continue
            x = f"_j{depth}"
            if every:
                items = f"flatten(transform({items}, {x} -> {self._as_list(self._step(x, key))}))"
            else:
                items = f"filter(transform({items}, {x} -> {self._step(x, key)}), {x} -> {x} IS NOT NULL)"
        assert items is not None, "a list path has a [*] step or starts at an array"
        return f"transform({items}, _t -> {self.scalar_text('_t')})", items

    def json_whole(self, column: str) -> tuple[str, str]:
        tokens = f"regexp_extract_all({column}, {self.literal(_JSON_VALUE_TOKEN)}, 1)"
        values = f"from_json('[' || array_join(filter({tokens}, _t -> _t <> ''), ',') || ']', 'array<string>')"
        return column, values


SPARK: Final = SparkSqlDialect(
    name="spark",
    bool_text="CAST({x} AS STRING)",
    timestamp_text="date_format({x}, \"yyyy-MM-dd'T'HH:mm:ss'Z'\")",
    json_scalar_item="{v}",
    json_item_not_null="NOT is_variant_null({v})",
    any_item="coalesce(exists({items}, {v} -> {predicate}), false)",
    regex="{x} RLIKE {pattern}",
    to_double="try_cast({x} AS DOUBLE)",
    starts_with="startswith({x}, {y})",
    ends_with="endswith({x}, {y})",
    like_escape_is_default=True,
    backslash_escapes_in_literals=True,
)

DIALECTS: Final[dict[str, SqlDialect]] = {DUCKDB.name: DUCKDB, SPARK.name: SPARK}
