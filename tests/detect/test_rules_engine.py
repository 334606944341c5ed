"""Rule semantics in the engine (detect/compile.py, detect/engine.py): projection, grouping, thresholds,
sequences, allowlists, threat intel, dialect rendering, and running arbitrary compiled SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Source, finding_id
from cloudwarden.core.severity import Severity
from cloudwarden.detect.compile import glob_to_like
from cloudwarden.detect.dialect import DUCKDB, Dialect
from cloudwarden.detect.engine import CloudTrailDB, merge_findings, run_detection, run_sql, validate_rules
from cloudwarden.detect.rules.model import Allowlist, Rule
from cloudwarden.detect.table import field_sql
from cloudwarden.detect.threat_intel import ThreatIntel, parse_list
from tests.detect.ct_samples import ATTACKER_IP, OFFICE_IP, OTHER_IP, PROD, event, write_trail_file


def rule(**kw: Any) -> Rule:
    base: dict[str, Any] = {"id": "t.rule", "title": "T", "type": "Test:IAMUser/Thing", "severity": "MEDIUM",
                            "mitre": ["T1078"]}
    base.update(kw)
    return Rule.model_validate(base)


def findings(records: list[dict[str, Any]], *rules: Rule, allowlist: Allowlist | None = None,
             intel: ThreatIntel | None = None) -> list[Any]:
    db = CloudTrailDB.from_records(records, intel=intel if intel is not None else ThreatIntel.load())
    try:
        return db.evaluate(list(rules), allowlist=allowlist)
    finally:
        db.close()


def test_matches_group_into_one_finding_with_count_times_and_evidence() -> None:
    records = [event(i, "StopLogging", "cloudtrail.amazonaws.com", minute=i, requestParameters={"name": "main"})
               for i in range(1, 4)]
    records.append(event(9, "StopLogging", "cloudtrail.amazonaws.com", user="bob", requestParameters={"name": "x"}))
    records.append(event(10, "StartLogging", "cloudtrail.amazonaws.com"))
    r = rule(condition="event_name = 'StopLogging'", resource="json_extract_string(request_parameters, '$.name')",
             resource_type="AwsCloudTrailTrail")
    out = {f.principal: f for f in findings(records, r)}
    alice = out[f"arn:aws:iam::{PROD}:user/alice"]
    assert alice.count == 3 and alice.evidence.event_ids == ["ev-1", "ev-2", "ev-3"]
    assert alice.first_seen == datetime(2026, 3, 1, 10, 1, tzinfo=UTC)
    assert alice.last_seen == datetime(2026, 3, 1, 10, 3, tzinfo=UTC)
    assert alice.resource.id == "main" and alice.resource.type == "AwsCloudTrailTrail"
    assert alice.source is Source.DETECT and alice.mitre == ["T1078"] and alice.severity is Severity.MEDIUM
    assert alice.id == finding_id("detect", "t.rule", PROD, "us-east-1", f"arn:aws:iam::{PROD}:user/alice main")
    assert alice.evidence.details["event_names"] == ["StopLogging"]
    assert out[f"arn:aws:iam::{PROD}:user/bob"].count == 1 and len(out) == 2


def test_threshold_needs_enough_rows_within_the_window() -> None:
    r = rule(condition="event_name = 'GetSecretValue'",
             threshold={"count": 3, "window": "5m", "distinct": "json_extract_string(request_parameters, '$.id')"})

    def reads(user: str, minutes: list[int], ids: list[str]) -> list[dict[str, Any]]:
        return [event(hash((user, m, i)) % 10**6, "GetSecretValue", "secretsmanager.amazonaws.com", minute=m,
                      user=user, requestParameters={"id": i}) for m, i in zip(minutes, ids, strict=True)]

    records = (reads("burst", [1, 2, 3], ["a", "b", "c"])  # 3 distinct in 2 minutes: fires
               + reads("slow", [1, 10, 20], ["a", "b", "c"])  # 3 distinct, but never 3 within 5 minutes
               + reads("same", [1, 2, 3], ["a", "a", "a"]))  # 3 reads of one secret
    out = findings(records, r)
    assert [f.principal for f in out] == [f"arn:aws:iam::{PROD}:user/burst"]
    assert out[0].count == 3


def test_sequence_is_first_then_second_by_the_same_principal_within_the_time() -> None:
    r = rule(sequence={"first": "event_name = 'CreateUser'", "then": "event_name = 'AttachUserPolicy'",
                       "within": "30m"})
    records = [
        event(1, "CreateUser", "iam.amazonaws.com", minute=0, user="eve"),
        event(2, "AttachUserPolicy", "iam.amazonaws.com", minute=10, user="eve"),  # A then B: fires
        event(3, "AttachUserPolicy", "iam.amazonaws.com", minute=5, user="bob"),  # B first...
        event(4, "CreateUser", "iam.amazonaws.com", minute=6, user="bob"),  # ...then A: no
        event(5, "CreateUser", "iam.amazonaws.com", minute=0, user="late"),
        event(6, "AttachUserPolicy", "iam.amazonaws.com", minute=50, user="late"),  # too late
        event(7, "AttachUserPolicy", "iam.amazonaws.com", minute=1, user="other"),  # someone else's B
    ]
    out = findings(records, r)
    assert [(f.principal, sorted(f.evidence.event_ids)) for f in out] == [
        (f"arn:aws:iam::{PROD}:user/eve", ["ev-1", "ev-2"])]


def test_allowlists_by_principal_user_agent_source_and_trusted_intel() -> None:
    records = [
        event(1, "DeleteTrail", "cloudtrail.amazonaws.com", user="terraform-ci"),
        event(2, "DeleteTrail", "cloudtrail.amazonaws.com", user="alice", userAgent="Terraform/1.7.0"),
        event(3, "DeleteTrail", "cloudtrail.amazonaws.com", user="bob", ip=OFFICE_IP),  # trusted sample list
        event(4, "DeleteTrail", "cloudtrail.amazonaws.com", user="carol", ip="10.1.2.3"),
        event(5, "DeleteTrail", "cloudtrail.amazonaws.com", user="mallory", ip=ATTACKER_IP),
    ]
    r = rule(condition="event_name = 'DeleteTrail'", allowlist={"principals": ["*:user/terraform-*"]})
    shared = Allowlist(user_agents=("Terraform/*",), source_ips=("10.*",))
    assert [f.principal.rsplit("/", 1)[1] for f in findings(records, r, allowlist=shared)] == ["mallory"]
    # Without the shared list, and with the rule ignoring trusted lists, more remain.
    untrusting = rule(condition="event_name = 'DeleteTrail'", allowlist={"trusted_intel": False})
    assert len(findings(records, untrusting)) == 5


def test_glob_patterns_escape_like_wildcards() -> None:
    assert glob_to_like("a_b%c*d?") == "a\\_b\\%c%d_"
    r = rule(condition="event_name = 'DeleteTrail'", allowlist={"principals": ["*:user/ops_admin"]})
    records = [event(1, "DeleteTrail", "cloudtrail.amazonaws.com", user="ops_admin"),
               event(2, "DeleteTrail", "cloudtrail.amazonaws.com", user="opsXadmin")]
    assert [f.principal.rsplit("/", 1)[1] for f in findings(records, r)] == ["opsXadmin"]


def test_threat_intel_categories_ranges_and_bad_lines(tmp_path: Path) -> None:
    lists = tmp_path / "intel"
    lists.mkdir()
    (lists / "tor-exits.txt").write_text("# comment\n203.0.113.0/28\n2001:db8::/32  # v6 range\n")
    (lists / "malicious-extra.txt").write_text("203.0.113.200\nevil.example\n")
    intel = ThreatIntel.load([lists])
    assert {"tor", "malicious", "mining", "trusted"} <= set(intel.categories())
    hits = intel.match_ips(["203.0.113.5", "203.0.113.200", "2001:db8::1", ATTACKER_IP, "ec2.amazonaws.com"])
    assert ("203.0.113.5", "tor-exits", "tor") in hits and ("2001:db8::1", "tor-exits", "tor") in hits
    assert ("203.0.113.200", "malicious-extra", "malicious") in hits
    assert (ATTACKER_IP, "malicious-custom", "malicious") in hits  # the shipped sample
    assert not any(ip == "ec2.amazonaws.com" for ip, _, _ in hits)
    with pytest.raises(BadInputError) as err:
        parse_list("bad.txt", "1.2.3.4\nnot an address!\n", "bad.txt")
    assert err.value.where == "bad.txt:2"
    r = rule(condition="source_ip IN (SELECT ip FROM intel_ip WHERE category = 'tor')")
    out = findings([event(1, ip="203.0.113.5"), event(2, ip=OTHER_IP)], r, intel=intel)
    assert [f.evidence.event_ids for f in out] == [["ev-1"]]


def test_sql_rules_and_validation_errors_name_the_rule() -> None:
    sql_rule = rule(sql="SELECT event_id, event_time, recipient_account_id AS account, aws_region AS region, "
                        "identity_arn AS principal, event_name AS resource, event_name AS group_key "
                        "FROM cloudtrail WHERE event_name LIKE 'Delete%'")
    out = findings([event(1, "DeleteTrail"), event(2, "DeleteBucket"), event(3, "ListBuckets")], sql_rule)
    assert sorted(f.resource.id for f in out) == ["DeleteBucket", "DeleteTrail"]
    broken = rule(condition="no_such_column = 1", origin="rules/x.yaml:3")
    with pytest.raises(BadInputError) as err:
        validate_rules([broken])
    assert err.value.where == "rules/x.yaml:3" and "no_such_column" in err.value.why


def test_field_sql_and_dialect_rendering() -> None:
    assert field_sql("eventName") == "event_name"
    assert field_sql("userIdentity.sessionContext.sessionIssuer.userName") == "identity_user_name"
    assert field_sql("requestParameters.bucketName") == "json_extract_string(request_parameters, '$.bucketName')"
    assert field_sql("resources.ARN") == "json_extract_string(resources, '$[0].ARN')"
    with pytest.raises(BadInputError):
        field_sql("nonsense")
    spark_like = Dialect(name="other", functions={"json_extract_string": "get_json_object",
                                                  "regexp_matches": "rlike"})
    assert spark_like.render("regexp_matches(x, 'a') AND JSON_EXTRACT_STRING(y, '$.a')") == (
        "rlike(x, 'a') AND get_json_object(y, '$.a')")
    assert DUCKDB.render("regexp_matches(x, 'a')") == "regexp_matches(x, 'a')"


def test_run_sql_over_files_and_records(tmp_path: Path) -> None:
    path = write_trail_file(tmp_path / "a.json.gz", [event(1, "StopLogging"), event(2, "ListBuckets")])
    sql = "SELECT event_id FROM cloudtrail WHERE event_name = 'StopLogging'"
    assert run_sql(sql, paths=[path]) == [{"event_id": "ev-1"}]
    assert run_sql(sql, records=[event(5, "StopLogging")]) == [{"event_id": "ev-5"}]
    with pytest.raises(BadInputError, match="sql"):
        run_sql("SELECT nope FROM cloudtrail", records=[event(1)])


def test_run_detection_merges_chunks_into_one_finding(tmp_path: Path) -> None:
    for i in range(3):
        write_trail_file(tmp_path / f"f{i}.json.gz",
                         [event(i, "StopLogging", "cloudtrail.amazonaws.com", minute=i)])
    r = rule(condition="event_name = 'StopLogging'")
    result = run_detection([tmp_path], rules=[r], chunk_bytes=1)
    assert result.stats["chunks"] == 3
    [merged] = result.findings
    assert merged.count == 3 and merged.evidence.event_ids == ["ev-0", "ev-1", "ev-2"]
    assert merged.first_seen.minute == 0 and merged.last_seen.minute == 2
    assert merge_findings([merged, merged])[0].count == 6


def test_a_rule_that_does_not_bind_stops_the_run_before_anything_is_committed(tmp_path: Path) -> None:
    """Validation runs beside the first reads; its error still stops the run, names the rule, commits nothing."""
    from cloudwarden.detect.checkpoints import SOURCE
    from cloudwarden.store import Store

    for i in range(3):
        write_trail_file(tmp_path / "logs" / f"f{i}.json.gz", [event(i, "StopLogging", minute=i)])
    good = rule(condition="event_name = 'StopLogging'")
    broken = rule(id="t.broken", condition="no_such_column = 1", origin="rules/x.yaml:3")
    with Store.open(tmp_path / "store.duckdb") as store:
        run_id = store.start_run("detect")
        with pytest.raises(BadInputError) as err:
            run_detection([tmp_path / "logs"], rules=[good, broken], store=store, run_id=run_id, chunk_bytes=1)
        assert err.value.where == "rules/x.yaml:3" and "no_such_column" in err.value.why
        files = [str(path.resolve()) for path in sorted((tmp_path / "logs").iterdir())]
        assert store.findings() == []
        assert [store.get_checkpoint(SOURCE, key) for key in files] == [None, None, None]
        run_detection([tmp_path / "logs"], rules=[good], store=store, run_id=run_id, chunk_bytes=1)
        assert len(store.findings()) == 1 and all(store.get_checkpoint(SOURCE, key) for key in files)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError) as err:  # nothing to read: the verdict is still waited for
        run_detection([empty], rules=[broken])
    assert err.value.where == "rules/x.yaml:3"
