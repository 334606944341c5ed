"""The pySigma backend: a Sigma rule's condition as one SQL boolean expression over the ``cloudtrail`` table.

A :class:`~sigma.conversion.base.TextQueryBackend` subclass. pySigma parses the rule, applies modifiers
(``contains``, ``base64offset``, ``windash``...) and walks the condition tree; this class writes each leaf
("field matches value") with Sigma's semantics, and a :class:`~.dialect.SqlDialect` spells the SQL, so the
Spark backend is the same class with another dialect row (:class:`SparkSqlBackend`).

Semantics kept exactly, because SQL differs from Sigma in each of these:

* **Case.** Sigma string values match case-insensitively unless ``|cased``: ``lower(x) = 'value'``,
  ``lower(x) LIKE 'pat%'``. Regular expressions are case-sensitive unless ``|i``.
* **Wildcards.** ``*`` and ``?`` become LIKE's ``%`` and ``_``; literal ``%``, ``_`` and ``\\`` are escaped.
* **Missing values and NOT.** A field that is absent never matches a value, so ``not filter`` is true
  for it. SQL's NULL would make ``NOT (x = 'a')`` unknown (no match), so every negation is written
  ``NOT coalesce(..., false)``.
* **JSON arrays.** CloudTrail nests lists in ``requestParameters`` (``containerDefinitions``, ``layers``,
  ``resources``). A field path reaches a value through objects *and through every element of an array*
  at any step, as SIEMs that flatten CloudTrail do; a path of n steps is tried in its 2^n shapes
  (each step an object key or an array of them). ``resources`` is an array itself.
* **Whole JSON fields.** ``requestParameters|contains: x`` tests the field's JSON text and every value
  inside it (a policy document is a JSON string inside ``requestParameters``, escaped in the text).
* **null / exists.** ``field: null`` is true when no non-null value is reached (absent or JSON null);
  ``|exists`` tests presence only.

Anything we cannot write exactly raises :class:`~sigma.exceptions.SigmaFeatureNotSupportedByBackendError`
with the reason (keyword searches, IPv6 CIDR, regular expressions outside RE2, timestamp-part modifiers,
unresolved placeholders, correlation rules); the loader reports those rules as unsupported.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import re2  # type: ignore[import-untyped]
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from cloudwarden.detect.sigma.dialect import DUCKDB, SPARK, SqlDialect
from cloudwarden.detect.sigma.pipeline import DERIVED_FIELDS, DERIVED_PREFIX, cloudtrail_pipeline
from cloudwarden.detect.sigma.regex_literal import required_literal
from cloudwarden.detect.table import COLUMNS

MAX_JSON_STEPS: Final = 4  # 2^4 = 16 shapes of one path; deeper paths are reported, not truncated
_ITEM: Final = "_v"  # lambda variable for list items
_COLUMN_TYPES: Final = {name: kind.split()[0] for name, kind in COLUMNS}
# JSON columns whose top level is an array in CloudTrail.
_ARRAY_COLUMNS: Final = frozenset({"resources"})
_COMPARE: Final = {
    CompareOperators.LT: "<",
    CompareOperators.LTE: "<=",
    CompareOperators.GT: ">",
    CompareOperators.GTE: ">=",
    CompareOperators.NEQ: "<>",
}
_REGEX_FLAGS: Final = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}
_IPV4_TEXT: Final = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$"


def _unsupported(reason: str) -> SigmaFeatureNotSupportedByBackendError:
    return SigmaFeatureNotSupportedByBackendError(reason)


@dataclass(frozen=True)
class Subject:
    """What a field reference reaches in one row, as SQL.

    ``scalars`` are text expressions (NULL when nothing is there); ``lists`` are list expressions whose items
    are matched one by one (through ``dialect.json_scalar_item``). ``present`` is true when the field is
    there (even as JSON null), ``not_null`` when a non-null value is.
    """

    scalars: tuple[str, ...]
    lists: tuple[str, ...]
    present: str
    not_null: str
    is_null: str | None = None  # a simpler spelling of NOT not_null, where there is one

    @property
    def null(self) -> str:
        """True when no non-null value is there (Sigma's ``field: null``)."""
        return self.is_null or f"NOT coalesce({self.not_null}, false)"


class CloudTrailSqlBackend(TextQueryBackend):
    """Sigma rules to DuckDB SQL conditions over ``cloudtrail`` (one boolean expression per rule condition)."""

    name: ClassVar[str] = "cloudwarden CloudTrail SQL (DuckDB)"
    formats: ClassVar[dict[str, str]] = {"default": "SQL boolean expression over the cloudtrail table"}
    requires_pipeline: ClassVar[bool] = False
    dialect: ClassVar[SqlDialect] = DUCKDB

    precedence: ClassVar[tuple[type[ConditionNOT], type[ConditionAND], type[ConditionOR]]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    group_expression: ClassVar[str] = "({expr})"
    token_separator: str = " "
    or_token: ClassVar[str] = "OR"
    and_token: ClassVar[str] = "AND"
    not_token: ClassVar[str] = "NOT"
    eq_token: ClassVar[str] = " = "
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_in_list_expression: ClassVar[str] = "{field} {op} ({list})"
    or_in_operator: ClassVar[str] = "IN"
    list_separator: ClassVar[str] = ", "

    def __init__(
        self,
        processing_pipeline: ProcessingPipeline | None = None,
        collect_errors: bool = False,
        **backend_options: Any,
    ) -> None:
        super().__init__(processing_pipeline or cloudtrail_pipeline(), collect_errors, **backend_options)

    # -- condition tree ---------------------------------------------------------------------------------

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        """Two-valued NOT: an absent field makes the inner test false, so its negation is true."""
        inner = self.convert_condition(cond.args[0], state)
        if not isinstance(inner, str):
            raise _unsupported("negation of a condition that does not compile to SQL")
        return f"NOT coalesce({inner}, false)"

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        return not any(
            isinstance(arg, ConditionFieldEqualsValueExpression) and isinstance(arg.value, SigmaCasedString)
            for arg in cond.args
        )

    def convert_condition_as_in_expression(self, cond: ConditionOR | ConditionAND, state: ConversionState) -> str:
        """``lower(x) IN ('a', 'b')`` for a list of plain values of one field."""
        args = [arg for arg in cond.args if isinstance(arg, ConditionFieldEqualsValueExpression)]
        subject = self.subject(args[0].field)
        values = ", ".join(self.dialect.literal(self._plain_text(arg.value).lower()) for arg in args)
        return self.match(subject, lambda x: f"{self.dialect.lower.format(x=x)} IN ({values})")

    def convert_condition_field_eq_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        return self.value_predicate(self.subject(cond.field), cond.value)

    # Field-less (keyword) searches need the raw record; the table holds its fields.
    def convert_condition_val_str(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported(_KEYWORDS)

    def convert_condition_val_num(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported(_KEYWORDS)

    def convert_condition_val_re(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported(_KEYWORDS)

    def convert_condition_query_expr(self, cond: ConditionValueExpression, state: ConversionState) -> str:
        raise _unsupported("query expressions (placeholders resolved to backend queries) are not supported")

    # -- fields -------------------------------------------------------------------------------------------

    def subject(self, field: str | None) -> Subject:
        """The SQL a column reference (from the pipeline) reaches."""
        if field is None:
            raise _unsupported(_KEYWORDS)
        d = self.dialect
        if field.startswith(DERIVED_PREFIX):
            expr = DERIVED_FIELDS[field[len(DERIVED_PREFIX):]]
            return Subject((expr,), (), f"{expr} IS NOT NULL", f"{expr} IS NOT NULL", f"{expr} IS NULL")
        column, _, rest = field.partition(".")
        kind = _COLUMN_TYPES.get(column)
        if kind is None:
            raise _unsupported(f"{field!r} is not a column of the cloudtrail table (is the pipeline applied?)")
        present = f"{column} IS NOT NULL"
        if kind == "JSON" and rest:
            return self._json_subject(column, rest.split("."))
        if kind == "JSON":
            # A whole JSON field matches through its JSON text or any value inside it (so a policy
            # document held as a string inside requestParameters is matched unescaped).
            if not d.json_arrays_exact:
                raise _unsupported(f"matching a whole JSON field is not exact yet on {d.name}")
            text, inner = d.json_whole(column)
            return Subject((text,), (inner,), present, present, f"{column} IS NULL")
        text = {"BOOLEAN": d.bool_text, "TIMESTAMP": d.timestamp_text}.get(kind, "{x}").format(x=column)
        return Subject((text,), (), present, present, f"{column} IS NULL")

    def _json_subject(self, column: str, keys: list[str]) -> Subject:
        d = self.dialect
        if not d.json_arrays_exact:
            raise _unsupported(f"JSON field paths cannot yet be matched exactly on {d.name} (arrays)")
        if len(keys) > MAX_JSON_STEPS:
            raise _unsupported(f"JSON path {'.'.join(keys)!r} is deeper than {MAX_JSON_STEPS} steps")
        root_array = column in _ARRAY_COLUMNS
        scalars: list[str] = []
        lists: list[str] = []
        present: list[str] = []
        not_null: list[str] = []
        for shape in itertools.product((False, True), repeat=len(keys)):
            steps = list(zip(keys, shape, strict=True))
            if root_array or any(shape):
                scalars_list, items = d.json_list_at(column, steps, root_array=root_array)
                lists.append(scalars_list)
                present.append(d.any_item.format(items=items, v=_ITEM, predicate="true"))
                not_null.append(
                    d.any_item.format(items=items, v=_ITEM, predicate=d.json_item_not_null.format(v=_ITEM))
                )
            else:
                scalar, is_present, is_not_null = d.json_scalar_at(column, keys)
                scalars.append(scalar)
                present.append(is_present)
                not_null.append(is_not_null)
        return Subject(tuple(scalars), tuple(lists), _any(present), _any(not_null))

    def match(self, subject: Subject, predicate: Callable[[str], str]) -> str:
        """True when some value ``subject`` reaches satisfies ``predicate`` (a template over a text expression)."""
        d = self.dialect
        parts = [predicate(x) for x in subject.scalars]
        parts += [
            d.any_item.format(items=items, v=_ITEM, predicate=predicate(d.json_scalar_item.format(v=_ITEM)))
            for items in subject.lists
        ]
        return _any(parts)

    # -- values ---------------------------------------------------------------------------------------

    def value_predicate(self, subject: Subject, value: SigmaType) -> str:
        d = self.dialect
        match value:
            case SigmaCasedString():
                return self._string(subject, value, cased=True)
            case SigmaString():
                return self._string(subject, value, cased=False)
            case SigmaNumber():
                text = d.literal(str(value.number))
                return self.match(subject, lambda x: f"{x} = {text}")
            case SigmaBool():
                text = d.literal("true" if value.boolean else "false")
                return self.match(subject, lambda x: f"{d.lower.format(x=x)} = {text}")
            case SigmaNull():
                return subject.null
            case SigmaExists():
                return subject.present if value.exists else f"NOT coalesce({subject.present}, false)"
            case SigmaRegularExpression():
                plain = self._regex(value)
                pattern = d.literal(plain)
                literal = required_literal(plain)
                if literal is None:
                    return self.match(subject, lambda x: d.regex.format(x=x, pattern=pattern))
                # A cheap substring test first: rows without the text cannot match (same result, no regex).
                needle = d.literal(literal)
                return self.match(subject, lambda x: f"({d.contains.format(x=x, y=needle)} AND "
                                                     f"{d.regex.format(x=x, pattern=pattern)})")
            case SigmaCIDRExpression():
                return self._cidr(subject, value)
            case SigmaCompareExpression():
                number = value.number.number
                op = _COMPARE[value.op]
                return self.match(subject, lambda x: f"{d.to_double.format(x=x)} {op} {number}")
            case SigmaFieldReference():
                return self._field_reference(subject, value)
            case SigmaExpansion():
                return _any([self.value_predicate(subject, item) for item in value.values])
            case _:
                raise _unsupported(f"{type(value).__name__} values (e.g. timestamp-part modifiers) are not supported")

    def _string(self, subject: Subject, value: SigmaString, *, cased: bool) -> str:
        d = self.dialect
        fold: Callable[[str], str] = (lambda s: s) if cased else str.lower
        wrap: Callable[[str], str] = (lambda x: x) if cased else (lambda x: d.lower.format(x=x))
        if not value.contains_special():
            text = d.literal(fold(self._plain_text(value)))
            return self.match(subject, lambda x: f"{wrap(x)} = {text}")
        pattern = fold(_like_pattern(value))
        return self.match(subject, lambda x: d.like(wrap(x), pattern))

    def _plain_text(self, value: SigmaType) -> str:
        if isinstance(value, SigmaNumber):
            return str(value.number)
        if isinstance(value, SigmaString):
            _no_placeholder(value)
            return "".join(part for part in value.s if isinstance(part, str))
        raise _unsupported(f"{type(value).__name__} in a value list")

    def _regex(self, value: SigmaRegularExpression) -> str:
        pattern = value.regexp.to_plain_regex() if isinstance(value.regexp, SigmaString) else str(value.regexp)
        flags = "".join(sorted(_REGEX_FLAGS[f] for f in value.flags))
        if flags:
            pattern = f"(?{flags}){pattern}"
        try:
            re2.compile(pattern)
        except re2.error as exc:
            raise _unsupported(
                f"regular expression {pattern!r} is outside RE2 syntax (what the SQL engines run): {exc}"
            ) from None
        return str(pattern)

    def _cidr(self, subject: Subject, value: SigmaCIDRExpression) -> str:
        d = self.dialect
        if value.network.version != 4:
            raise _unsupported(
                f"IPv6 CIDR {value.network} cannot be matched exactly on address text "
                "(one address has many spellings)"
            )
        prefixes = value.expand(wildcard="*")
        shape = d.literal(_IPV4_TEXT)

        def predicate(x: str) -> str:
            likes = " OR ".join(d.like(x, _like_escape(p[:-1]) + "%" if p.endswith("*") else _like_escape(p))
                                for p in prefixes)
            return f"({d.regex.format(x=x, pattern=shape)} AND ({likes}))"

        return self.match(subject, predicate)

    def _field_reference(self, subject: Subject, value: SigmaFieldReference) -> str:
        d = self.dialect
        other = self.subject(value.field)
        if value.starts_with and value.ends_with:
            template = d.contains
        elif value.starts_with:
            template = d.starts_with
        elif value.ends_with:
            template = d.ends_with
        else:
            template = "{x} = {y}"

        def compare(x: str, y: str) -> str:
            return template.format(x=d.lower.format(x=x), y=d.lower.format(x=y))

        if subject.lists and other.lists:
            raise _unsupported("a field reference between two JSON paths that may hold arrays")
        def with_left(x: str) -> Callable[[str], str]:
            return lambda y: compare(x, y)

        def with_right(y: str) -> Callable[[str], str]:
            return lambda x: compare(x, y)

        parts = [self.match(Subject((), other.lists, "", ""), with_left(x)) for x in subject.scalars if other.lists]
        parts += [self.match(subject, with_right(y)) for y in other.scalars]
        return _any(parts)


class SparkSqlBackend(CloudTrailSqlBackend):
    """The same compilation spelled for Spark SQL (JSON through Spark 4's variant type, see :mod:`.dialect`)."""

    name: ClassVar[str] = "cloudwarden CloudTrail SQL (Spark)"
    dialect: ClassVar[SqlDialect] = SPARK


BACKENDS: Final[dict[str, type[CloudTrailSqlBackend]]] = {"duckdb": CloudTrailSqlBackend, "spark": SparkSqlBackend}
"""Backends by engine name (the ``--engine`` values)."""

_KEYWORDS: Final = (
    "keyword (field-less) search is not supported: the cloudtrail table holds a record's fields, not its raw text"
)


def _any(parts: list[str]) -> str:
    if not parts:
        return "false"
    if len(parts) == 1:
        return parts[0]
    return "(" + " OR ".join(parts) + ")"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _no_placeholder(value: SigmaString) -> None:
    for part in value.s:
        if isinstance(part, Placeholder):
            raise _unsupported(f"placeholder %{part.name}% has no value (placeholders are not configured)")


def _like_pattern(value: SigmaString) -> str:
    """A LIKE pattern (backslash-escaped) for a Sigma string with wildcards."""
    _no_placeholder(value)
    out = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append("%")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append("_")
        elif isinstance(part, str):
            out.append(_like_escape(part))
    return "".join(out)
