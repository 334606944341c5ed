"""How compiled Sigma conditions are spelled in each SQL engine: one table of templates per dialect.

The Sigma backend (:mod:`.backend`) decides *what* to test; a :class:`SqlDialect` says how the engine
writes it: string literals, text views of non-text columns, JSON extraction, "any element of a list
satisfies", regular expressions, prefix/suffix tests. DuckDB is the reference row; Spark SQL is a second
row that overrides only what differs (``get_json_object``, ``RLIKE``, higher-order ``exists``, backslash
escapes in literals), in the manner of sqlglot's dialect tables.

Kept apart from the engine's :mod:`cloudwarden.detect.dialect` (function renames for native rules):
Sigma's matching semantics (JSON arrays reached element by element, two-valued NOT, LIKE escaping) need
constructs, not renames, and must not change what native rules compile to.
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
    json_arrays_exact: bool = True  # can reach array elements exactly (see ``SPARK``)

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

    def like(self, x: str, pattern: str) -> str:
        """``x LIKE pattern`` where ``pattern`` uses ``\\`` to escape ``%``, ``_`` and itself."""
        clause = "" if self.like_escape_is_default or "\\" not in pattern else self.like_escape_clause
        return f"{x} LIKE {self.literal(pattern)}{clause}"


DUCKDB: Final = SqlDialect(name="duckdb")

SPARK: Final = SqlDialect(
    name="spark",
    bool_text="CAST({x} AS STRING)",
    timestamp_text="date_format({x}, \"yyyy-MM-dd'T'HH:mm:ss'Z'\")",
    json_text="{x}",
    json_scalar="get_json_object({column}, {path})",
    json_scalars="from_json(get_json_object({column}, {path}), 'array<string>')",
    json_scalar_item="{v}",
    json_items="from_json(get_json_object({column}, {path}), 'array<string>')",
    json_item_not_null="{v} IS NOT NULL",
    json_present="get_json_object({column}, {path}) IS NOT NULL",
    json_present_not_null="get_json_object({column}, {path}) IS NOT NULL",
    any_item="coalesce(exists({items}, {v} -> {predicate}), false)",
    regex="{x} RLIKE {pattern}",
    to_double="try_cast({x} AS DOUBLE)",
    starts_with="startswith({x}, {y})",
    ends_with="endswith({x}, {y})",
    like_escape_is_default=True,
    backslash_escapes_in_literals=True,
    # get_json_object returns objects and arrays as JSON text at a scalar path, and unwraps a [*] path
    # that reaches one element, so element-wise matching is not exact yet.
    json_arrays_exact=False,
)

DIALECTS: Final[dict[str, SqlDialect]] = {DUCKDB.name: DUCKDB, SPARK.name: SPARK}
