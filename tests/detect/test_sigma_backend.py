"""The Sigma backend's semantics, run in DuckDB over a ``cloudtrail`` table built from CloudTrail records.

Each test writes a small Sigma rule, compiles it through the real pySigma pipeline and backend, runs the
SQL over real-shaped records and checks which ones match: modifiers, case, null/exists, boolean logic,
``1 of``/``all of``, JSON arrays, and what is refused as unsupported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudwarden.detect.sigma import (
    CloudTrailSqlBackend,
    SparkSqlBackend,
    load_sigma_rules,
    matches_sql,
)
from cloudwarden.detect.sigma.loader import CompiledSigmaRule
from cloudwarden.detect.table import COLUMN_NAMES, TABLE, create_table_sql

# --- a cloudtrail table from CloudTrail records, following the detection contract -----------------------

_TOP = {
    "event_id": "eventID", "event_version": "eventVersion", "event_source": "eventSource",
    "event_name": "eventName", "event_type": "eventType", "event_category": "eventCategory",
    "aws_region": "awsRegion", "source_ip": "sourceIPAddress", "user_agent": "userAgent",
    "error_code": "errorCode", "error_message": "errorMessage", "read_only": "readOnly",
    "management_event": "managementEvent", "recipient_account_id": "recipientAccountId",
    "request_id": "requestID",
}
_JSON = {
    "request_parameters": "requestParameters", "response_elements": "responseElements",
    "additional_event_data": "additionalEventData", "resources": "resources", "tls_details": "tlsDetails",
}


def contract_row(record: Mapping[str, Any], source_file: str = "test") -> dict[str, Any]:
    """One row of the normalised table, as the detection contract derives it from a record."""
    identity = record.get("userIdentity") or {}
    session = identity.get("sessionContext") or {}
    issuer = session.get("sessionIssuer") or {}
    attributes = session.get("attributes") or {}
    row: dict[str, Any] = {column: record.get(field) for column, field in _TOP.items()}
    row.update({
        "event_time": record["eventTime"].replace("Z", ""),
        "identity_type": identity.get("type"),
        "identity_arn": identity.get("arn"),
        "identity_account_id": identity.get("accountId"),
        "identity_principal_id": identity.get("principalId"),
        "identity_user_name": identity.get("userName") or issuer.get("userName"),
        "access_key_id": identity.get("accessKeyId"),
        "invoked_by": identity.get("invokedBy"),
        "session_issuer_arn": issuer.get("arn"),
        "session_issuer_type": issuer.get("type"),
        "mfa_authenticated": attributes.get("mfaAuthenticated"),
        "session_created": attributes.get("creationDate"),
        "source_file": source_file,
    })
    for column, field in _JSON.items():
        value = record.get(field)
        row[column] = None if value is None else json.dumps(value)
    return row


def cloudtrail_table(records: Iterable[Mapping[str, Any]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the ``cloudtrail`` table holding ``records``."""
    connection = duckdb.connect()
    connection.execute(create_table_sql())
    rows = [contract_row(r) for r in records]
    if rows:
        placeholders = ", ".join("?" for _ in COLUMN_NAMES)
        connection.executemany(
            f"INSERT INTO {TABLE} ({', '.join(COLUMN_NAMES)}) VALUES ({placeholders})",
            [[row.get(c) for c in COLUMN_NAMES] for row in rows],
        )
    return connection


def matched_ids(connection: duckdb.DuckDBPyConnection, rule: CompiledSigmaRule) -> set[str]:
    return {row[0] for row in connection.execute(matches_sql(rule)).fetchall()}


def event(event_id: str, **fields: Any) -> dict[str, Any]:
    """A CloudTrail record with the usual fields, overridden by ``fields``."""
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "eventID": event_id,
        "eventTime": "2024-07-31T13:06:24Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "eventType": "AwsApiCall",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "recipientAccountId": "111111111111",
        "requestID": "req-" + event_id,
        "readOnly": True,
        "managementEvent": True,
        "userIdentity": {
            "type": "IAMUser",
            "arn": "arn:aws:iam::111111111111:user/alice",
            "accountId": "111111111111",
            "principalId": "AIDAEXAMPLE",
            "userName": "alice",
            "accessKeyId": "AKIAEXAMPLE",
        },
    }
    record.update(fields)
    return record


def sigma_rule(tmp_path: Path, detection: str, *, name: str = "rule", extra: str = "") -> str:
    """Write one CloudTrail Sigma rule and return its path."""
    text = (
        f"title: Test {name}\n"
        f"id: 00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}\n"
        "status: test\n"
        "level: high\n"
        "tags:\n  - attack.persistence\n  - attack.t1098\n"
        "logsource:\n  product: aws\n  service: cloudtrail\n"
        f"detection:\n{detection}"
        f"{extra}"
    )
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return str(path)


def compile_one(tmp_path: Path, detection: str, name: str = "rule") -> CompiledSigmaRule:
    pack = load_sigma_rules(sigma_rule(tmp_path, detection, name=name))
    assert not pack.errors and not pack.unsupported, (pack.errors, pack.unsupported)
    return pack.rules[0]


def run(tmp_path: Path, detection: str, records: list[dict[str, Any]]) -> set[str]:
    rule = compile_one(tmp_path, detection)
    return matched_ids(cloudtrail_table(records), rule)


# --- plain values and case ------------------------------------------------------------------------------


def test_string_values_match_case_insensitively(tmp_path: Path) -> None:
    records = [event("a", eventName="DeleteTrail"), event("b", eventName="deletetrail"), event("c")]
    assert run(tmp_path, "  sel:\n    eventName: DELETETRAIL\n  condition: sel\n", records) == {"a", "b"}


def test_cased_modifier_matches_exact_case(tmp_path: Path) -> None:
    records = [event("a", eventName="DeleteTrail"), event("b", eventName="deletetrail")]
    assert run(tmp_path, "  sel:\n    eventName|cased: DeleteTrail\n  condition: sel\n", records) == {"a"}


def test_value_list_is_or_and_case_insensitive(tmp_path: Path) -> None:
    records = [event("a", eventName="StopLogging"), event("b", eventName="DeleteTrail"), event("c")]
    detection = "  sel:\n    eventName:\n      - stoplogging\n      - DELETETRAIL\n  condition: sel\n"
    assert run(tmp_path, detection, records) == {"a", "b"}


def test_wildcards_and_escaped_like_characters(tmp_path: Path) -> None:
    records = [
        event("a", userAgent="Boto3/1.34 Python"),
        event("b", userAgent="boto3_x"),
        event("c", userAgent="100% sure"),
        event("d", userAgent="100 sure"),
    ]
    assert run(tmp_path, "  sel:\n    userAgent: 'boto3/*'\n  condition: sel\n", records) == {"a"}
    # '_' and '%' in a Sigma value are literal characters, not LIKE wildcards
    assert run(tmp_path, "  sel:\n    userAgent|contains: '3_'\n  condition: sel\n", records) == {"b"}
    assert run(tmp_path, "  sel:\n    userAgent|contains: '0%'\n  condition: sel\n", records) == {"c"}
    # '?' is one character
    assert run(tmp_path, "  sel:\n    userAgent: 'boto?_x'\n  condition: sel\n", records) == {"b"}


def test_contains_startswith_endswith(tmp_path: Path) -> None:
    records = [event("a", userAgent="S3 Browser 9.5"), event("b", userAgent="my s3 browser"), event("c")]
    assert run(tmp_path, "  sel:\n    userAgent|contains: 's3 browser'\n  condition: sel\n", records) == {"a", "b"}
    assert run(tmp_path, "  sel:\n    userAgent|startswith: 's3 browser'\n  condition: sel\n", records) == {"a"}
    assert run(tmp_path, "  sel:\n    userAgent|endswith: 'BROWSER'\n  condition: sel\n", records) == {"b"}


def test_contains_all_needs_every_value(tmp_path: Path) -> None:
    records = [
        event("a", requestParameters={"policyDocument": '{"Effect":"Allow","Action":"s3:GetObject"}'}),
        event("b", requestParameters={"policyDocument": '{"Effect":"Deny","Action":"s3:GetObject"}'}),
    ]
    detection = (
        "  sel:\n    requestParameters|contains|all:\n      - 'allow'\n      - 's3:getobject'\n  condition: sel\n"
    )
    assert run(tmp_path, detection, records) == {"a"}


def test_regex_is_case_sensitive_unless_i_flag(tmp_path: Path) -> None:
    records = [
        event("a", userIdentity={"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}),
        event("b", userIdentity={"type": "AssumedRole", "arn": "arn:aws:sts::1:ASSUMED-ROLE/AWS:ec2-instance/i-1"}),
        event("c"),
    ]
    assert run(tmp_path, "  sel:\n    userIdentity.arn|re: ':assumed-role/aws:'\n  condition: sel\n", records) == {"a"}
    assert run(tmp_path, "  sel:\n    userIdentity.arn|re|i: ':assumed-role/aws:'\n  condition: sel\n",
               records) == {"a", "b"}


def test_cidr_matches_ipv4_ranges_exactly(tmp_path: Path) -> None:
    records = [
        event("a", sourceIPAddress="172.16.4.2"),
        event("b", sourceIPAddress="172.31.255.255"),
        event("c", sourceIPAddress="172.32.0.1"),
        event("d", sourceIPAddress="AWS Internal"),
        event("e", sourceIPAddress="ec2.amazonaws.com"),
    ]
    assert run(tmp_path, "  sel:\n    sourceIPAddress|cidr: 172.16.0.0/12\n  condition: sel\n", records) == {"a", "b"}


def test_numeric_comparison_modifiers(tmp_path: Path) -> None:
    records = [event("a", requestParameters={"maxItems": 5}), event("b", requestParameters={"maxItems": 500})]
    assert run(tmp_path, "  sel:\n    requestParameters.maxItems|gte: 100\n  condition: sel\n", records) == {"b"}
    assert run(tmp_path, "  sel:\n    requestParameters.maxItems: 5\n  condition: sel\n", records) == {"a"}


def test_boolean_column_and_json_boolean(tmp_path: Path) -> None:
    records = [
        event("a", readOnly=False, responseElements={"publiclyAccessible": True}),
        event("b", readOnly=True, responseElements={"publiclyAccessible": False}),
    ]
    assert run(tmp_path, "  sel:\n    readOnly: false\n  condition: sel\n", records) == {"a"}
    detection = "  sel:\n    responseElements.publiclyAccessible: 'true'\n  condition: sel\n"
    assert run(tmp_path, detection, records) == {"a"}


# --- null, exists, NOT ----------------------------------------------------------------------------------


def test_null_matches_absent_and_json_null(tmp_path: Path) -> None:
    records = [
        event("a", errorCode="AccessDenied"),
        event("b"),
        event("c", requestParameters={"bucketName": None}),
        event("d", requestParameters={"bucketName": "x"}),
    ]
    assert run(tmp_path, "  sel:\n    errorCode: null\n  condition: sel\n", records) == {"b", "c", "d"}
    assert run(tmp_path, "  sel:\n    requestParameters.bucketName: null\n  condition: sel\n",
               records) == {"a", "b", "c"}


def test_exists_tests_presence_only(tmp_path: Path) -> None:
    records = [
        event("a", requestParameters={"bucketName": None}),
        event("b", requestParameters={"bucketName": "x"}),
        event("c", requestParameters={"other": 1}),
        event("d"),
    ]
    assert run(tmp_path, "  sel:\n    requestParameters.bucketName|exists: true\n  condition: sel\n",
               records) == {"a", "b"}
    assert run(tmp_path, "  sel:\n    requestParameters.bucketName|exists: false\n  condition: sel\n",
               records) == {"c", "d"}


def test_not_is_true_when_the_field_is_absent(tmp_path: Path) -> None:
    # SQL's NULL would make NOT (identity_type = 'AssumedRole') unknown for a record without a type.
    records = [
        event("a", userIdentity={"type": "AssumedRole"}),
        event("b", userIdentity={"type": "IAMUser"}),
        event("c", userIdentity={}),
    ]
    detection = "  sel:\n    eventName: ListUsers\n  filter:\n    userIdentity.type: AssumedRole\n" \
                "  condition: sel and not filter\n"
    assert run(tmp_path, detection, records) == {"b", "c"}


# --- boolean logic and selection quantifiers ------------------------------------------------------------


def test_and_or_not_precedence(tmp_path: Path) -> None:
    records = [
        event("a", eventSource="sts.amazonaws.com", eventName="AssumeRoleWithSAML"),
        event("b", eventSource="iam.amazonaws.com", eventName="UpdateSAMLProvider"),
        event("c", eventSource="sts.amazonaws.com", eventName="UpdateSAMLProvider"),
        event("d", eventSource="iam.amazonaws.com", eventName="AssumeRoleWithSAML"),
    ]
    detection = (
        "  sts:\n    eventSource: sts.amazonaws.com\n    eventName: AssumeRoleWithSAML\n"
        "  iam:\n    eventSource: iam.amazonaws.com\n    eventName: UpdateSAMLProvider\n"
        "  condition: sts or iam\n"
    )
    assert run(tmp_path, detection, records) == {"a", "b"}
    detection_not = detection.replace("condition: sts or iam", "condition: not (sts or iam)")
    assert run(tmp_path, detection_not, records) == {"c", "d"}


def test_one_of_and_all_of_patterns(tmp_path: Path) -> None:
    records = [
        event("a", eventName="DeleteBucket"),
        event("b", eventName="DeleteBucket", errorCode="AccessDenied"),
        event("c", eventName="DeleteBucket", errorCode="Success"),
        event("d", eventName="PutObject"),
    ]
    one_of = (
        "  selection_event:\n    eventName: DeleteBucket\n"
        "  selection_status_success:\n    errorCode: Success\n"
        "  selection_status_null:\n    errorCode: null\n"
        "  condition: selection_event and 1 of selection_status_*\n"
    )
    assert run(tmp_path, one_of, records) == {"a", "c"}
    all_of = (
        "  sel_name:\n    eventName|startswith: Delete\n"
        "  sel_error:\n    errorCode|exists: true\n"
        "  condition: all of sel_*\n"
    )
    assert run(tmp_path, all_of, records) == {"b", "c"}


def test_list_of_maps_is_or_of_selections(tmp_path: Path) -> None:
    records = [
        event("a", eventSource="ssm.amazonaws.com"),
        event("b", sourceIPAddress="AWS Internal"),
        event("c"),
    ]
    detection = (
        "  sel:\n    eventName: ListUsers\n"
        "  filter:\n    - eventSource: ssm.amazonaws.com\n    - sourceIPAddress: AWS Internal\n"
        "  condition: sel and not 1 of filter*\n"
    )
    assert run(tmp_path, detection, records) == {"c"}


# --- JSON fields ----------------------------------------------------------------------------------------


def test_json_path_reaches_array_elements(tmp_path: Path) -> None:
    records = [
        event("a", requestParameters={"containerDefinitions": [
            {"command": ["sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}),
        event("b", requestParameters={"containerDefinitions": [{"command": ["sleep", "60"]}]}),
        event("c", requestParameters={
            "containerDefinitions": {"command": "echo $aws_container_credentials_relative_uri"}}),
    ]
    detection = ("  sel:\n    requestParameters.containerDefinitions.command|contains: "
                 "'$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'\n  condition: sel\n")
    assert run(tmp_path, detection, records) == {"a", "c"}


def test_resources_is_an_array_of_objects(tmp_path: Path) -> None:
    records = [
        event("a", resources=[{"ARN": "arn:aws:kms:us-east-1:1:key/k1", "type": "AWS::KMS::Key"},
                              {"ARN": "arn:aws:s3:::bucket", "type": "AWS::S3::Bucket"}]),
        event("b", resources=[{"ARN": "arn:aws:kms:us-east-1:1:key/k2", "type": "AWS::KMS::Key"}]),
    ]
    assert run(tmp_path, "  sel:\n    resources.type: 'AWS::S3::Bucket'\n  condition: sel\n", records) == {"a"}


def test_whole_json_field_contains_matches_its_text(tmp_path: Path) -> None:
    records = [
        event("a", eventName="PutBucketVersioning",
              requestParameters={"VersioningConfiguration": {"Status": "Suspended"}}),
        event("b", eventName="PutBucketVersioning",
              requestParameters={"VersioningConfiguration": {"Status": "Enabled"}}),
    ]
    assert run(tmp_path, "  sel:\n    requestParameters|contains: suspended\n  condition: sel\n", records) == {"a"}


def test_fieldref_compares_two_fields(tmp_path: Path) -> None:
    records = [
        event("a", requestParameters={"userName": "arn:aws:iam::111111111111:user/alice"}),
        event("b", requestParameters={"userName": "bob"}),
    ]
    detection = "  sel:\n    userIdentity.arn|fieldref: requestParameters.userName\n  condition: sel\n"
    assert run(tmp_path, detection, records) == {"a"}
    detection = "  sel:\n    userIdentity.arn|fieldref|endswith: requestParameters.userName\n  condition: sel\n"
    assert run(tmp_path, detection, [event("c", requestParameters={"userName": "ALICE"}), *records]) == {"a", "c"}


def test_derived_status_and_user_name_fields(tmp_path: Path) -> None:
    role = {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/ops/s",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::1:role/ops", "userName": "ops"}}}
    records = [
        event("a"),
        event("b", errorCode="AccessDenied", errorMessage="denied"),
        event("c", errorMessage="Failed authentication"),
        event("d", userIdentity=role),
    ]
    assert run(tmp_path, "  sel:\n    status: success\n  condition: sel\n", records) == {"a", "d"}
    assert run(tmp_path, "  sel:\n    status: failure\n  condition: sel\n", records) == {"b", "c"}
    assert run(tmp_path, "  sel:\n    userIdentity.userName: ops\n  condition: sel\n", records) == set()
    assert run(tmp_path, "  sel:\n    userIdentity.sessionContext.sessionIssuer.userName: ops\n  condition: sel\n",
               records) == {"d"}
    assert run(tmp_path, "  sel:\n    userIdentity.userName: alice\n  condition: sel\n", records) == {"a", "b", "c"}


def test_value_quotes_cannot_break_out_of_the_literal(tmp_path: Path) -> None:
    records = [event("a", userAgent="it's"), event("b", userAgent="x")]
    assert run(tmp_path, "  sel:\n    userAgent: \"it's\"\n  condition: sel\n", records) == {"a"}
    assert run(tmp_path, "  sel:\n    userAgent: \"x' OR '1'='1\"\n  condition: sel\n", records) == set()


# --- what is refused, with the reason -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        ("  keywords:\n    - evil\n  condition: keywords\n", "keyword"),
        ("  sel:\n    sourceIPAddress|cidr: '2001:db8::/32'\n  condition: sel\n", "IPv6"),
        ("  sel:\n    serviceEventDetails.x: y\n  condition: sel\n", "serviceEventDetails"),
        ("  sel:\n    requestParameters.a.b.c.d.e: y\n  condition: sel\n", "deeper"),
    ],
)
def test_unsupported_features_are_reported_with_reason(tmp_path: Path, detection: str, reason: str) -> None:
    pack = load_sigma_rules(sigma_rule(tmp_path, detection))
    assert not pack.rules and not pack.errors
    assert len(pack.unsupported) == 1
    assert reason in pack.unsupported[0].reason


def test_invalid_rules_are_errors_with_path_and_reason(tmp_path: Path) -> None:
    # pySigma checks regular expressions against RE2 (the syntax Sigma and our engines share)
    bad_regex = sigma_rule(tmp_path, "  sel:\n    userAgent|re: '(?<=x)y'\n  condition: sel\n", name="re")
    bad_yaml = tmp_path / "broken.yml"
    bad_yaml.write_text("title: x\ndetection:\n  sel: [unclosed\n")
    no_condition = sigma_rule(tmp_path, "  sel:\n    eventName: x\n", name="nocond")
    good = sigma_rule(tmp_path, "  sel:\n    eventName: x\n  condition: sel\n", name="good")
    pack = load_sigma_rules([bad_regex, bad_yaml, no_condition, good])
    assert [r.title for r in pack.rules] == ["Test good"]
    reasons = {e.path.name: e for e in pack.errors}
    assert set(reasons) == {"re.yml", "broken.yml", "nocond.yml"}
    assert "invalid" in reasons["re.yml"].reason
    assert reasons["broken.yml"].line == 4 and "YAML" in reasons["broken.yml"].reason
    assert "condition" in reasons["nocond.yml"].reason.lower()


def test_missing_rules_path_is_bad_input(tmp_path: Path) -> None:
    from cloudwarden.core.errors import BadInputError

    with pytest.raises(BadInputError, match="no such file"):
        load_sigma_rules(tmp_path / "absent")


def test_duplicate_rule_ids_are_errors(tmp_path: Path) -> None:
    first = sigma_rule(tmp_path, "  sel:\n    eventName: x\n  condition: sel\n", name="same")
    copy = tmp_path / "copy.yml"
    copy.write_text(Path(first).read_text())
    pack = load_sigma_rules(tmp_path)
    assert len(pack.rules) == 1
    assert "duplicate rule id" in pack.errors[0].reason


def test_other_logsources_are_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "win.yml"
    path.write_text(
        "title: Windows\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n  product: windows\n"
        "  category: process_creation\ndetection:\n  sel:\n    Image: x\n  condition: sel\n"
    )
    pack = load_sigma_rules(path)
    assert not pack.rules
    assert "product: windows" in pack.unsupported[0].reason


def test_spark_backend_is_a_dialect_row(tmp_path: Path) -> None:
    """The Spark subclass writes Spark SQL for columns, and reaches JSON paths through Spark's variant type."""
    from sigma.collection import SigmaCollection

    detection = "  sel:\n    userAgent|re: 'a\\d'\n    eventName: it's\n  condition: sel\n"
    text = Path(sigma_rule(tmp_path, detection)).read_text()
    # pySigma rules are mutated by conversion: parse once per backend
    (spark,) = SparkSqlBackend().convert(SigmaCollection.from_yaml(text))
    assert spark == "user_agent RLIKE 'a\\\\d' AND lower(event_name) = 'it''s'"
    (duck,) = CloudTrailSqlBackend().convert(SigmaCollection.from_yaml(text))
    assert duck == "regexp_matches(user_agent, 'a\\d') AND lower(event_name) = 'it''s'"
    json_detection = "  sel:\n    requestParameters.x: y\n  condition: sel\n"
    json_text = Path(sigma_rule(tmp_path, json_detection, name="json")).read_text()
    backend = SparkSqlBackend(collect_errors=True)
    (condition,) = backend.convert(SigmaCollection.from_yaml(json_text))
    assert not backend.errors
    assert "try_variant_get(parse_json(request_parameters), '$.x'" in condition


def test_unknown_names_in_the_fields_list_do_not_fail_a_rule(tmp_path: Path) -> None:
    path = sigma_rule(tmp_path, "  sel:\n    eventName: x\n  condition: sel\n",
                      extra="fields:\n  - eventName\n  - someDisplayOnlyField\n")
    pack = load_sigma_rules(path)
    assert len(pack.rules) == 1 and not pack.unsupported


def test_multiple_conditions_are_ored(tmp_path: Path) -> None:
    detection = ("  a:\n    eventName: StopLogging\n  b:\n    eventName: DeleteTrail\n"
                 "  condition:\n    - a\n    - b\n")
    records = [event("a", eventName="StopLogging"), event("b", eventName="DeleteTrail"), event("c")]
    assert run(tmp_path, detection, records) == {"a", "b"}
