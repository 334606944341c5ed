"""The fast rule pass (detect/compile.py, CloudTrailDB.evaluate) gives exactly the rows of the general one.

The general query (every rule over the whole table, matches joined back to the table and made distinct,
then grouped) is the reference; ``evaluate`` reads prerequisite-filtered candidates and, when event ids
are unique, groups without the join. Both run here on the same tables and must agree finding for finding.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.detect.compile import candidate_sources, compile_rule_set, grouped_sql
from cloudwarden.detect.dialect import DUCKDB
from cloudwarden.detect.engine import CloudTrailDB, finding_from_row, validate_rules
from cloudwarden.detect.rules import load_pack, load_rule_dirs
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.rules.prerequisite import EVENT_COUNTS_SQL, EventCount
from cloudwarden.detect.threat_intel import ThreatIntel
from tests.conftest import shared_path
from tests.detect.ct_samples import ATTACKER_IP, OFFICE_IP, event


def rule(**kw: Any) -> Rule:
    base: dict[str, Any] = {"id": "t.rule", "title": "T", "type": "Test:IAMUser/Thing", "severity": "MEDIUM"}
    base.update(kw)
    return Rule.model_validate(base)


def reference(db: CloudTrailDB, rules: list[Rule], allowlist: Allowlist | None) -> list[dict[str, Any]]:
    """Findings of the general query: every rule over the whole table, no candidates, distinct matches."""
    active = [r for r in rules if r.enabled]
    rows = db.conn.execute(grouped_sql(compile_rule_set(active, DUCKDB, allowlist), DUCKDB)).fetchall()
    return dump([finding_from_row(active[row[0]], row) for row in rows])


def dump(findings: list[Finding]) -> list[dict[str, Any]]:
    return sorted((f.model_dump(mode="json") for f in findings), key=lambda f: f["id"])


def test_pack_and_sigma_rules_over_the_stratus_logs_agree_with_the_general_query() -> None:
    pack = load_pack()
    pack.extend(load_rule_dirs([shared_path("data", "sigma-aws")]))
    files = sorted(shared_path("data", "stratus-detonations").glob("*.json"))
    db, _ = CloudTrailDB.from_paths(files, intel=ThreatIntel.load())
    try:
        fast = dump(db.evaluate(pack.rules, allowlist=pack.allowlist))
        assert db.unique_event_ids is True
        sources, candidates = candidate_sources(pack.rules, "c")
        assert candidates is not None and sources.count("c AS cloudtrail") > len(pack.rules) // 2  # most do
        assert fast == reference(db, pack.rules, pack.allowlist)
        assert len(fast) > 30
        assert db.query("SELECT count(*) AS n FROM duckdb_tables() WHERE table_name LIKE 'cloudtrail_%'") == [
            {"n": 0}]  # the candidate table is gone after the pass
    finally:
        db.close()


EDGE_RULES = [
    rule(id="t.cond", condition="event_name IN ('CreateUser', 'AttachUserPolicy')",
         resource="json_extract_string(request_parameters, '$.userName')"),
    # The same first event pairs with two later ones in one group: counted once, cited as the general query does.
    rule(id="t.seq", sequence={"first": "event_name = 'CreateUser'", "then": "event_name = 'AttachUserPolicy'",
                               "within": "1h"},
         resource="json_extract_string(request_parameters, '$.policyArn')", group_by="principal"),
    rule(id="t.sql", sql="SELECT event_id, event_time, 'a' AS account, 'r' AS region, 'p' AS principal, "
                         "'x' AS resource, 'g' AS group_key FROM cloudtrail, range(2)"),  # every match twice
    rule(id="t.distinct", condition="event_name = 'GetSecretValue'",
         threshold={"count": 2, "window": "10m", "distinct": "json_extract_string(request_parameters, '$.id')"}),
    rule(id="t.count", condition="lower(event_name) = 'getsecretvalue'", threshold={"count": 3, "window": "5m"}),
    rule(id="t.intel", condition="source_ip IN (SELECT ip FROM intel_ip WHERE category = 'malicious')"),
    rule(id="t.noprereq", condition="identity_type = 'IAMUser'"),
    # Columns named through the table still bind when the rule reads the candidates.
    rule(id="t.qualified", condition="event_name = 'GetSecretValue' AND cloudtrail.user_agent IS NOT NULL"),
    rule(id="t.off", condition="event_name = 'CreateUser'", enabled=False),
]


def edge_records(duplicate: bool) -> list[dict[str, Any]]:
    records = [
        event(1, "CreateUser", "iam.amazonaws.com", minute=0, requestParameters={"userName": "mallory"}),
        event(2, "AttachUserPolicy", "iam.amazonaws.com", minute=5,
              requestParameters={"userName": "mallory", "policyArn": "arn:aws:iam::aws:policy/A"}),
        event(3, "AttachUserPolicy", "iam.amazonaws.com", minute=6, ip=ATTACKER_IP,
              requestParameters={"userName": "mallory", "policyArn": "arn:aws:iam::aws:policy/B"}),
        event(4, "CreateUser", "iam.amazonaws.com", minute=7, ip=OFFICE_IP, requestParameters={"userName": "t"}),
    ]
    records += [event(10 + i, "GetSecretValue", "secretsmanager.amazonaws.com", minute=20 + i, user="bob",
                      requestParameters={"id": f"s{i % 2}"}) for i in range(4)]
    if duplicate:  # the same eventID twice, once with another address (from_records keeps both)
        records.append(event(2, "AttachUserPolicy", "iam.amazonaws.com", minute=5, ip=ATTACKER_IP,
                             requestParameters={"userName": "mallory", "policyArn": "arn:aws:iam::aws:policy/A"}))
    return records


@pytest.mark.parametrize("share", [0.1, 1.0])  # 1.0: every rule with a prerequisite reads the candidates
@pytest.mark.parametrize("duplicate", [False, True])
def test_edge_cases_agree_with_the_general_query(duplicate: bool, share: float) -> None:
    allowlist = Allowlist(user_agents=["*terraform*"])
    db = CloudTrailDB.from_records(edge_records(duplicate), intel=ThreatIntel.load())
    db.candidate_share = share
    try:
        stats = [EventCount(*row) for row in db.conn.execute(EVENT_COUNTS_SQL).fetchall()]
        sources, _ = candidate_sources([r for r in EDGE_RULES if r.enabled], "cloudtrail_candidates", stats, share)
        readers = sum(source != "cloudtrail" for source in sources)
        assert readers == (6 if share == 1.0 else 1)  # all but the rules without one / the intel rule alone
        fast = dump(db.evaluate(EDGE_RULES, allowlist=allowlist))
        assert db.unique_event_ids is (not duplicate)
        assert fast == reference(db, EDGE_RULES, allowlist)
    finally:
        db.close()
    by_rule = {f["rule_id"]: f for f in fast}
    assert set(by_rule) >= {"t.cond", "t.seq", "t.sql", "t.distinct", "t.count", "t.intel", "t.noprereq",
                            "t.qualified"}
    assert "t.off" not in by_rule
    # Every event but the one from the trusted office address, each counted once though returned twice.
    assert by_rule["t.sql"]["count"] == len({r["eventID"] for r in edge_records(duplicate)}) - 1
    if not duplicate:
        # ev-1 starts both pairs; the group counts it once, and cites it per pair as the general query does.
        assert by_rule["t.seq"]["count"] == 3
        assert by_rule["t.seq"]["evidence"]["event_ids"].count("ev-1") == 2


def test_a_rule_set_without_prerequisites_reads_the_whole_table() -> None:
    rules = [rule(id="t.root", condition="identity_type = 'Root'")]
    sources, candidates = candidate_sources(rules, "c")
    assert sources == ["cloudtrail"] and candidates is None
    root = {"type": "Root", "accountId": "1", "arn": "arn:aws:iam::1:root"}
    db = CloudTrailDB.from_records([event(1, userIdentity=root)])
    try:
        assert [f.rule_id for f in db.evaluate(rules)] == ["t.root"]
    finally:
        db.close()


def test_validation_binds_the_set_at_once_and_names_the_broken_rule() -> None:
    good = rule(id="t.good", condition="event_name = 'A'")
    broken = rule(id="t.broken", condition="event_name = 'A' AND no_such_column = 1", origin="rules/b.yaml:7")
    validate_rules([good, good.model_copy(update={"id": "t.good2"})])  # binds without error
    with pytest.raises(BadInputError) as err:
        validate_rules([good, broken])
    assert err.value.where == "rules/b.yaml:7" and "no_such_column" in err.value.why


def test_uniqueness_is_checked_again_when_rows_are_added() -> None:
    db = CloudTrailDB.from_records([event(1), event(2)])
    try:
        assert db.event_ids_unique() is True
        db.conn.execute("INSERT INTO cloudtrail SELECT * FROM cloudtrail WHERE event_id = 'ev-1'")
        assert db.event_ids_unique() is False
    finally:
        db.close()
    told = CloudTrailDB.from_records([event(1), event(1)])
    try:
        told.unique_event_ids = True  # what a loader that deduplicated says is trusted, not checked again
        assert told.event_ids_unique() is True
    finally:
        told.close()


def test_member_scopes_are_the_prerequisites_of_the_rules_reading_each_member() -> None:
    from cloudwarden.detect.compile import member_scopes

    def make(rule_id: str, **kw: Any) -> Rule:
        return Rule(id=rule_id, title=rule_id, type="T:X/Y", severity="LOW", **kw)

    bucket = "json_extract_string(request_parameters, '$.bucketName')"
    rules = [
        make("a", condition="event_name = 'PutBucketPolicy'", resource=bucket),
        make("b", condition="lower(event_name) IN ('createuser') AND request_parameters IS NOT NULL"),
        make("tor", condition="source_ip IN (SELECT ip FROM intel_ip WHERE category = 'tor') "
                              "AND event_source = 's3.amazonaws.com'", resource=bucket),
        make("login", condition="event_name = 'ConsoleLogin' AND json_extract_string(response_elements, "
                                "'$.ConsoleLogin') = 'Success'"),
        make("agent", condition="user_agent LIKE '%kali%' AND additional_event_data IS NOT NULL"),
        make("off", condition="error_code IS NULL AND tls_details IS NOT NULL", enabled=False),
        make("plain", condition="event_name = 'StopLogging'"),
    ]
    assert member_scopes(rules) == (
        ("requestParameters", (("event_name", ("PutBucketPolicy",)), ("event_source", ("s3.amazonaws.com",)),
                               ("lower(event_name)", ("createuser",)))),
        ("responseElements", (("event_name", ("ConsoleLogin",)),)),
    )  # additionalEventData: read by a rule without a prerequisite, so on every row; tlsDetails: by no enabled rule
    sql_rule = make("sql", sql="SELECT event_id, event_time, 'a' AS account, 'r' AS region, 'p' AS principal, "
                               "request_parameters AS resource, 'g' AS group_key FROM cloudtrail")
    assert [field for field, _ in member_scopes([*rules, sql_rule])] == ["responseElements"]
