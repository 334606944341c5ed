"""Prerequisites of rule conditions (detect/rules/prerequisite.py): what they find, and where they give up."""

from __future__ import annotations

import pytest

from cloudwarden.detect.rules.prerequisite import (
    EventCount,
    Prerequisite,
    candidate_names_sql,
    candidate_sql,
    matching_rows,
    prerequisite,
    rule_prerequisite,
)


def terms(condition: str) -> dict[str, set[str]] | None:
    found = prerequisite(condition)
    return None if found is None else {column: set(values) for column, values in found.terms}


def test_equality_and_in_lists_on_event_name_and_source() -> None:
    assert terms("event_name = 'StopLogging'") == {"event_name": {"StopLogging"}}
    assert terms("event_source = 'iam.amazonaws.com' AND event_name IN ('CreateUser', 'DeleteUser') "
                 "AND error_code IS NULL") == {"event_name": {"CreateUser", "DeleteUser"}}
    # Sigma's case-insensitive spelling keeps its lower() (the candidate scan evaluates the same expression).
    assert terms("lower(event_source) = 'ec2.amazonaws.com' AND (lower(event_name) IN ('createroute'))") == {
        "lower(event_name)": {"createroute"}}


def test_event_names_are_preferred_over_sources_and_intel_over_both() -> None:
    assert terms("event_source = 's3.amazonaws.com' AND event_name IN ('A', 'B', 'C')") == {
        "event_name": {"A", "B", "C"}}
    assert terms("source_ip IN (SELECT ip FROM intel_ip WHERE category = 'tor') AND event_source = 's3.amazonaws.com'"
                 ) == {"intel_ip": {"tor"}}


def test_or_needs_a_prerequisite_on_every_side() -> None:
    assert terms("event_name = 'A' OR (event_source = 'iam.amazonaws.com' AND regexp_matches(event_name, '^List'))"
                 ) == {"event_name": {"A"}, "event_source": {"iam.amazonaws.com"}}
    assert terms("event_name = 'A' OR identity_type = 'Root'") is None
    assert terms("(event_name = 'A' AND x = 1) OR (event_name IN ('B') AND y = 2)") == {"event_name": {"A", "B"}}


@pytest.mark.parametrize("condition", [
    "identity_type = 'Root'",
    "NOT event_name = 'A'",
    "NOT (event_name = 'A' OR event_name = 'B')",
    "event_name <> 'A'",
    "event_name = 'A' IS NOT TRUE",
    "CASE WHEN event_name = 'A' AND x THEN true ELSE y END",
    "event_time BETWEEN a AND b",
    "event_name = 'A' -- AND\n OR true",
    "event_name = 'A' OR true",
    "lower(user_agent) = 'trufflehog'",
    "event_name IN (SELECT x FROM t)",
    "",
])
def test_gives_up_on_anything_not_understood(condition: str) -> None:
    assert prerequisite(condition) is None


def test_literals_and_identifiers_do_not_fool_the_split() -> None:
    # ' OR ' inside a literal is not an OR; "brand" and "end_time" are not keywords.
    assert terms("event_name = 'A OR B' AND brand = 1 AND end_time > 0") == {"event_name": {"A OR B"}}
    assert terms("event_name = 'it''s'") == {"event_name": {"it's"}}
    assert terms("x = 'CASE WHEN' AND event_name = 'A'") == {"event_name": {"A"}}


def test_rule_prerequisite_needs_every_condition_of_a_sequence() -> None:
    both = rule_prerequisite(["event_name = 'CreateUser'", "event_name = 'AttachUserPolicy'"])
    assert both is not None and len(both) == 2
    assert rule_prerequisite(["event_name = 'CreateUser'", "identity_type = 'Root'"]) is None


def test_candidate_sql_unites_values_per_column() -> None:
    sql = candidate_sql([
        Prerequisite((("event_name", frozenset({"B", "A"})),)),
        Prerequisite((("event_name", frozenset({"C"})), ("lower(event_source)", frozenset({"x'y"})))),
        Prerequisite((("intel_ip", frozenset({"tor"})),)),
    ])
    assert sql == ("source_ip IN (SELECT ip FROM intel_ip WHERE category IN ('tor')) OR "
                   "event_name IN ('A', 'B', 'C') OR lower(event_source) IN ('x''y')")
    assert candidate_sql([]) == "false"


COUNTS = [
    EventCount("StopLogging", "cloudtrail.amazonaws.com", "stoplogging", "cloudtrail.amazonaws.com", 5),
    EventCount("ListBuckets", "s3.amazonaws.com", "listbuckets", "s3.amazonaws.com", 100),
    EventCount("GetObject", "s3.amazonaws.com", "getobject", "s3.amazonaws.com", 900),
    EventCount(None, "s3.amazonaws.com", None, "s3.amazonaws.com", 2),
]


def need(*terms: tuple[str, set[str]]) -> Prerequisite:
    return Prerequisite(tuple((column, frozenset(values)) for column, values in terms))


def test_matching_rows_counts_from_the_tables_own_lowercase() -> None:
    assert matching_rows(need(("lower(event_name)", {"stoplogging"})), COUNTS) == 5
    assert matching_rows(need(("event_name", {"stoplogging"})), COUNTS) == 0  # exact case
    assert matching_rows(need(("event_source", {"s3.amazonaws.com"})), COUNTS) == 1002
    assert matching_rows(need(("intel_ip", {"tor"})), COUNTS) is None


def test_candidate_names_cover_every_admitted_row_with_names_only() -> None:
    sql = candidate_names_sql([need(("lower(event_name)", {"stoplogging"})), need(("intel_ip", {"tor"}))], COUNTS)
    assert sql == ("source_ip IN (SELECT ip FROM intel_ip WHERE category IN ('tor')) OR "
                   "event_name IN ('StopLogging')")
    # A source prerequisite admits every name seen with it, and rows without a name.
    sql = candidate_names_sql([need(("event_source", {"s3.amazonaws.com"}))], COUNTS)
    assert sql == "event_name IN ('GetObject', 'ListBuckets') OR event_name IS NULL"
    assert candidate_names_sql([need(("event_name", {"Nothing"}))], COUNTS) == "false"


def test_without_intel_a_rule_needs_another_prerequisite() -> None:
    condition = "source_ip IN (SELECT ip FROM intel_ip WHERE category = 'tor') AND event_source = 's3.amazonaws.com'"
    found = prerequisite(condition, intel=False)
    assert found is not None and found.terms == (("event_source", frozenset({"s3.amazonaws.com"})),)
    assert prerequisite("source_ip IN (SELECT ip FROM intel_ip WHERE category = 'tor')", intel=False) is None
    assert rule_prerequisite(["event_name = 'A'", "source_ip IN (SELECT ip FROM intel_ip WHERE category = 'x')"],
                             intel=False) is None
