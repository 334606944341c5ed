"""Security Lake input: OCSF Parquet shaped like Security Lake's, projected onto the cloudtrail table.

The Parquet files are written with DuckDB from the same CloudTrail records the other detection tests use,
converted the way Security Lake (source version 2, OCSF 1.1) converts them: API Activity rows with
``api.request.data`` as JSON text, console sign-ins as Authentication rows whose ``status`` and
``is_mfa`` replace ``responseElements`` and ``additionalEventData``, the members OCSF has no place for
as flattened keys of ``unmapped``. The same events as CloudTrail JSON are the reference: both inputs must
give the same findings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.detect import checkpoints, ocsf
from cloudwarden.detect.cloudtrail_files import ReadReport
from cloudwarden.detect.engine import CloudTrailDB, run_detection
from cloudwarden.detect.load import connect
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.security_lake import list_parquet, load_parquet, run_security_lake_detection
from cloudwarden.store import Store
from tests.detect.ct_samples import ATTACKER_IP, PROD, event, write_trail_file

# Security Lake's CloudTrail table (source version 2), the columns the projection reads and a few more.
SL_COLUMNS: dict[str, str] = {
    "time": "BIGINT",
    "class_uid": "INTEGER",
    "status": "VARCHAR",
    "is_mfa": "BOOLEAN",
    "metadata": "STRUCT(uid VARCHAR, event_code VARCHAR, version VARCHAR, profiles VARCHAR[], "
                "product STRUCT(name VARCHAR, vendor_name VARCHAR, version VARCHAR, feature STRUCT(name VARCHAR)))",
    "api": "STRUCT(operation VARCHAR, version VARCHAR, service STRUCT(name VARCHAR), "
           "request STRUCT(uid VARCHAR, data VARCHAR), response STRUCT(error VARCHAR, message VARCHAR, data VARCHAR))",
    "actor": "STRUCT(\"user\" STRUCT(type VARCHAR, name VARCHAR, uid VARCHAR, uid_alt VARCHAR, "
             "credential_uid VARCHAR, account STRUCT(uid VARCHAR)), "
             "session STRUCT(created_time BIGINT, is_mfa BOOLEAN, issuer VARCHAR), invoked_by VARCHAR)",
    "src_endpoint": "STRUCT(ip VARCHAR, domain VARCHAR, uid VARCHAR)",
    "http_request": "STRUCT(user_agent VARCHAR)",
    "cloud": "STRUCT(region VARCHAR, provider VARCHAR)",
    "resources": "STRUCT(uid VARCHAR, type VARCHAR, owner STRUCT(account STRUCT(uid VARCHAR)))[]",
    "unmapped": "MAP(VARCHAR, VARCHAR)",
    "accountid": "VARCHAR",
    "region": "VARCHAR",
}

ROLE_ARN = f"arn:aws:iam::{PROD}:role/ops-admin"


def _ms(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif value is not None:
        out[prefix] = value if isinstance(value, str) else json.dumps(value)


def to_ocsf(record: dict[str, Any]) -> dict[str, Any]:
    """One CloudTrail record as Security Lake writes it (OCSF 1.1)."""
    ident = record.get("userIdentity") or {}
    context = ident.get("sessionContext") or {}
    attributes = context.get("attributes") or {}
    source = record.get("sourceIPAddress")
    is_ip = source is not None and source.replace(".", "").isdigit()
    sign_in = record["eventName"] == "ConsoleLogin"
    unmapped: dict[str, str] = {"readOnly": str(record.get("readOnly")).lower(),
                                "managementEvent": str(record.get("managementEvent")).lower()}
    extra = record.get("additionalEventData")
    if extra and not sign_in:
        _flatten("additionalEventData", extra, unmapped)
    response = record.get("responseElements")
    created = attributes.get("creationDate")
    return {
        "time": _ms(record["eventTime"]),
        "class_uid": 3002 if sign_in else 6003,
        "status": (response or {}).get("ConsoleLogin") if sign_in else ("Failure" if record.get("errorCode")
                                                                        else "Success"),
        "is_mfa": (extra or {}).get("MFAUsed") == "Yes" if sign_in and extra else None,
        "metadata": {"uid": record.get("eventID"), "event_code": record.get("eventType"), "version": "1.1.0",
                     "profiles": ["cloud", "datetime"],
                     "product": {"name": "CloudTrail", "vendor_name": "AWS", "version": record.get("eventVersion"),
                                 "feature": {"name": record.get("eventCategory")}}},
        "api": {"operation": record["eventName"], "version": None, "service": {"name": record["eventSource"]},
                "request": {"uid": record.get("requestID"),
                            "data": json.dumps(record["requestParameters"]) if record.get("requestParameters")
                            else None},
                "response": {"error": record.get("errorCode"), "message": record.get("errorMessage"),
                             # sign-ins: Security Lake keeps the outcome in status, not the response
                             "data": json.dumps(response) if response and not sign_in else None}},
        "actor": {"user": {"type": ident.get("type"), "name": ident.get("userName"), "uid": ident.get("arn"),
                           "uid_alt": ident.get("principalId"), "credential_uid": ident.get("accessKeyId"),
                           "account": {"uid": ident.get("accountId")}},
                  "session": {"created_time": _ms(created) if created else None,
                              "is_mfa": {"true": True, "false": False}.get(str(attributes.get("mfaAuthenticated"))),
                              "issuer": (context.get("sessionIssuer") or {}).get("arn")} if context else None,
                  "invoked_by": ident.get("invokedBy")},
        "src_endpoint": {"ip": source if is_ip else None, "domain": None if is_ip else source, "uid": None},
        "http_request": {"user_agent": record.get("userAgent")},
        "cloud": {"region": record.get("awsRegion"), "provider": "AWS"},
        "resources": [{"uid": r.get("ARN"), "type": r.get("type"), "owner": {"account": {"uid": r.get("accountId")}}}
                      for r in record.get("resources") or []] or None,
        "unmapped": unmapped,
        "accountid": record.get("recipientAccountId"),
        "region": record.get("awsRegion"),
    }


def write_parquet(path: Path, rows: list[dict[str, Any]], columns: dict[str, str] | None = None) -> Path:
    """``rows`` as a Parquet file with Security Lake's column types (written by DuckDB)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.with_suffix(".jsonl")
    lines.write_text("".join(json.dumps(row) + "\n" for row in rows))
    types = (columns or SL_COLUMNS).items()
    spec = "{" + ", ".join(f"'{k}': '{v.replace(chr(39), chr(39) * 2)}'" for k, v in types) + "}"
    conn = duckdb.connect()
    # hive_partitioning off: the Security Lake-like directory names (accountId=...) are not columns
    conn.execute(f"COPY (SELECT * FROM read_json('{lines}', format = 'newline_delimited', columns = {spec}, "
                 f"hive_partitioning = false)) TO '{path}' (FORMAT parquet)")
    conn.close()
    lines.unlink()
    return path


def corpus() -> list[dict[str, Any]]:
    """Attacks and noise: trail stopped, root console sign-in, a bucket opened, a role deleting GuardDuty."""
    root = {"type": "Root", "principalId": PROD, "arn": f"arn:aws:iam::{PROD}:root", "accountId": PROD}
    role = {"type": "AssumedRole", "principalId": "AROAOPS:ops-session", "accountId": PROD,
            "arn": f"arn:aws:sts::{PROD}:assumed-role/ops-admin/ops-session", "accessKeyId": "ASIAOPS",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAOPS", "arn": ROLE_ARN,
                                                 "accountId": PROD, "userName": "ops-admin"},
                               "attributes": {"creationDate": "2026-03-01T09:00:00Z", "mfaAuthenticated": "false"}}}
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                      "Resource": "arn:aws:s3:::prod-data/*"}]}
    records = [
        event(1, "StopLogging", "cloudtrail.amazonaws.com", requestParameters={"name": "main"},
              responseElements=None),
        event(2, "ConsoleLogin", "signin.amazonaws.com", userIdentity=root, eventType="AwsConsoleSignIn",
              responseElements={"ConsoleLogin": "Success"},
              additionalEventData={"LoginTo": "https://console.aws.amazon.com/", "MobileVersion": "No",
                                   "MFAUsed": "No"}),
        event(3, "PutBucketAcl", requestParameters={"bucketName": "prod-data", "x-amz-acl": ["public-read"]},
              resources=[{"ARN": "arn:aws:s3:::prod-data", "accountId": PROD, "type": "AWS::S3::Bucket"}]),
        event(4, "PutBucketPolicy", requestParameters={"bucketName": "prod-data", "bucketPolicy": policy}),
        event(5, "DeleteDetector", "guardduty.amazonaws.com", userIdentity=role,
              requestParameters={"detectorId": "abc123"}),
        event(6, "CreateUser", "iam.amazonaws.com", ip=ATTACKER_IP, requestParameters={"userName": "backdoor"}),
        event(7, "ConsoleLogin", "signin.amazonaws.com", eventType="AwsConsoleSignIn",
              responseElements={"ConsoleLogin": "Success"}, additionalEventData={"MFAUsed": "Yes"}),
        event(8, "StopLogging", "cloudtrail.amazonaws.com", requestParameters={"name": "main"},
              errorCode="AccessDenied", errorMessage="not allowed"),
        *[event(n, "ListBuckets", user="bob") for n in range(10, 20)],
        event(20, "AssumeRole", "sts.amazonaws.com", ip="ec2.amazonaws.com", userAgent="ec2.amazonaws.com",
              userIdentity={"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
              requestParameters={"roleArn": ROLE_ARN, "roleSessionName": "i-0abc"}),
    ]
    return records


def _lake(tmp_path: Path, records: list[dict[str, Any]], files: int = 2) -> Path:
    """``records`` split over ``files`` Parquet files under a Security Lake-like partition tree."""
    root = tmp_path / "lake" / "aws_cloudtrail_mgmt" / "region=us-east-1" / f"accountId={PROD}"
    for index in range(files):
        part = records[index::files]
        write_parquet(root / f"eventDay=2026030{index + 1}" / f"part-{index}.gz.parquet", [to_ocsf(r) for r in part])
    return tmp_path / "lake"


def _view(finding: Finding) -> tuple[Any, ...]:
    return (finding.id, finding.type, finding.severity, finding.count, finding.first_seen, finding.last_seen,
            sorted(finding.evidence.event_ids), finding.principal, finding.resource.id, finding.account_id,
            finding.region)


EXPECTED_TYPES = {
    "Stealth:IAMUser/CloudTrailLoggingDisabled",
    "Policy:IAMUser/RootCredentialUsage",
    "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B",
    "Policy:S3/BucketPublicAccessGranted",
    "DefenseEvasion:IAMUser/GuardDutyDetectorDeleted",
}


def test_security_lake_parquet_gives_the_findings_cloudtrail_json_gives(tmp_path: Path) -> None:
    records = corpus()
    pack = load_pack()
    trail = write_trail_file(tmp_path / "trail" / "a.json.gz", records)
    reference = run_detection([trail], rules=pack.rules, allowlist=pack.allowlist)
    lake = run_security_lake_detection([_lake(tmp_path, records)], rules=pack.rules, allowlist=pack.allowlist)

    assert lake.stats["events"] == len(records) and lake.read_report.files_read == 2
    assert lake.read_report.clean
    types = {f.type for f in reference.findings}
    assert types >= EXPECTED_TYPES
    assert [_view(f) for f in lake.findings] == [_view(f) for f in reference.findings]
    # the console sign-in with MFA (is_mfa true) raised nothing; the one without did
    no_mfa = next(f for f in lake.findings if f.type == "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B")
    assert no_mfa.evidence.event_ids == ["ev-2"]


# Columns Security Lake does not carry the way CloudTrail does: compared separately below.
_REBUILT = {"source_file", "additional_event_data", "response_elements"}


def test_every_column_matches_the_cloudtrail_loader(tmp_path: Path) -> None:
    records = corpus()
    reference = CloudTrailDB.from_records(records)
    conn = connect()
    report = ReadReport()
    load_parquet(conn, list_parquet([_lake(tmp_path, records, files=1)], report), report)
    columns = [c for c in ocsf.PROJECTION if c[0] not in _REBUILT]
    names = ", ".join(name for name, _ in columns)
    want = reference.query(f"SELECT {names} FROM cloudtrail ORDER BY event_id")
    got = [dict(zip([n for n, _ in columns], row, strict=True))
           for row in conn.execute(f"SELECT {names} FROM cloudtrail ORDER BY event_id").fetchall()]
    assert len(got) == len(want) == len(records)
    for left, right in zip(got, want, strict=True):
        for name, _ in columns:
            a, b = left[name], right[name]
            if name in ("request_parameters", "resources", "tls_details") and a is not None and b is not None:
                a, b = json.loads(a), json.loads(b)
            assert a == b, (left["event_id"], name, a, b)
    rebuilt = dict(conn.execute("SELECT event_id, response_elements FROM cloudtrail "
                                "WHERE event_name = 'ConsoleLogin'").fetchall())
    assert json.loads(rebuilt["ev-2"]) == {"ConsoleLogin": "Success"}
    extra = dict(conn.execute("SELECT event_id, additional_event_data FROM cloudtrail "
                              "WHERE event_name = 'ConsoleLogin'").fetchall())
    assert json.loads(extra["ev-2"]) == {"MFAUsed": "No"} and json.loads(extra["ev-7"]) == {"MFAUsed": "Yes"}


def test_bad_files_and_rows_are_reported_and_the_rest_is_read(tmp_path: Path) -> None:
    lake = _lake(tmp_path, corpus(), files=1)
    (lake / "broken.parquet").write_bytes(b"PAR1 this is not really parquet")
    (lake / "notes.txt").write_text("not data")
    other = lake / "other.parquet"
    duckdb.connect().execute(f"COPY (SELECT 1 AS a, 'x' AS b) TO '{other}' (FORMAT parquet)")
    bad_row = to_ocsf(event(99, "ListUsers", "iam.amazonaws.com"))
    bad_row["api"]["operation"] = None
    write_parquet(lake / "mixed.parquet", [bad_row, to_ocsf(event(98, "ListUsers", "iam.amazonaws.com"))])

    pack = load_pack()
    result = run_security_lake_detection([lake], rules=pack.rules, allowlist=pack.allowlist)
    reasons = {Path(s.path).name: s.reason for s in result.read_report.files_skipped}
    assert set(reasons) == {"broken.parquet", "notes.txt", "other.parquet"}
    assert "unreadable Parquet" in reasons["broken.parquet"]
    assert "no time, api, metadata column" in reasons["other.parquet"]
    assert result.stats["records_skipped"] == 1
    assert [(Path(r.path).name, r.where) for r in result.read_report.records_skipped] == [("mixed.parquet", "1 rows")]
    assert result.stats["events"] == len(corpus()) + 1
    assert {f.type for f in result.findings} >= EXPECTED_TYPES


def test_since_until_and_repeated_events(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    records = corpus()
    lake = _lake(tmp_path, records, files=1)
    write_parquet(lake / "again.parquet", [to_ocsf(records[0])])  # delivered twice
    conn = connect()
    report = ReadReport()
    stats = load_parquet(conn, list_parquet([lake], report), report,
                         since=datetime(2026, 3, 1, 10, 5, tzinfo=UTC), until=datetime(2026, 3, 1, 10, 15, tzinfo=UTC))
    ids = sorted(row[0] for row in conn.execute("SELECT event_id FROM cloudtrail").fetchall())
    assert ids == sorted(f"ev-{n}" for n in [5, 6, 7, 8, 10, 11, 12, 13, 14])
    assert stats.outside_window == len(records) + 1 - len(ids) and stats.duplicates == 0


def test_other_ocsf_spellings_unmapped_as_json_text_and_ocsf_1_0(tmp_path: Path) -> None:
    columns = dict(SL_COLUMNS, unmapped="VARCHAR")
    columns["actor"] = ("STRUCT(\"user\" STRUCT(type VARCHAR, name VARCHAR, uid VARCHAR, uuid VARCHAR, "
                        "account_uid VARCHAR), invoked_by VARCHAR)")
    row = to_ocsf(event(1, "GetSecretValue", "secretsmanager.amazonaws.com", readOnly=True,
                        additionalEventData={"x": 1}))
    row["unmapped"] = json.dumps({"readOnly": "true", "managementEvent": "true", "additionalEventData": {"x": 1}})
    user = row["actor"]["user"]
    row["actor"] = {"user": {"type": "IAMUser", "name": "alice", "uid": user["uid_alt"], "uuid": user["uid"],
                             "account_uid": PROD}, "invoked_by": None}
    path = write_parquet(tmp_path / "v1.parquet", [row], columns)
    conn = connect()
    report = ReadReport()
    load_parquet(conn, list_parquet([path], report), report)
    got = conn.execute("SELECT identity_arn, identity_principal_id, identity_account_id, read_only, "
                       "management_event, additional_event_data FROM cloudtrail").fetchall()
    assert got == [(f"arn:aws:iam::{PROD}:user/alice", "AIDAALICE", PROD, True, True, '{"x":1}')]


def test_s3a_needs_spark_and_a_missing_path_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--engine spark"):
        run_security_lake_detection(["s3a://lake/prefix/"], rules=[])
    with pytest.raises(BadInputError, match="no such file"):
        run_security_lake_detection([tmp_path / "missing"], rules=[])


def _state(store: Store) -> list[tuple[Any, ...]]:
    return sorted((f.id, f.type, f.count, sorted(f.evidence.event_ids)) for f in store.findings())


def test_checkpoints_per_file_rerun_reads_only_new_files_and_survives_a_crash(tmp_path: Path) -> None:
    records = corpus()
    pack = load_pack()
    lake = _lake(tmp_path, records, files=3)

    def detect(store: Store, **kw: Any) -> Any:
        return run_security_lake_detection([lake], rules=pack.rules, allowlist=pack.allowlist, store=store,
                                           run_id=store.start_run("detect"), **kw)

    with Store.open(tmp_path / "clean.duckdb") as store:
        first = detect(store, chunk_bytes=1)
        assert first.stats["chunks"] == 3 and first.read_report.files_read == 3
        again = detect(store)
        assert again.read_report.files_read == 0 and again.stats["objects_already_read"] == 3
        assert again.findings == []
        write_parquet(lake / "late" / "new.parquet", [to_ocsf(event(60, "StopLogging", "cloudtrail.amazonaws.com",
                                                                    requestParameters={"name": "main"}))])
        third = detect(store)
        assert third.read_report.files_read == 1 and third.stats["objects_already_read"] == 3
        stopped = next(f for f in store.findings() if f.type == "Stealth:IAMUser/CloudTrailLoggingDisabled")
        assert stopped.count == 2
        expected = _state(store)

    class Crash(Exception):
        pass

    calls = {"n": 0}

    def crash(step: str) -> None:
        if step == "upserted":
            calls["n"] += 1
            if calls["n"] == 2:
                raise Crash

    with Store.open(tmp_path / "crashed.duckdb") as store:
        with pytest.raises(Crash):
            detect(store, chunk_bytes=1, hook=crash)
        resumed = detect(store, chunk_bytes=1)
        assert resumed.stats.get("recovered_chunk") == "completed"
        assert _state(store) == expected
        assert store.get_checkpoint(checkpoints.SOURCE, checkpoints.JOURNAL_KEY) == ""


def test_the_detect_command_reads_security_lake_with_log_format(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from cloudwarden.cli.detect import detect

    app = typer.Typer()
    app.command()(detect)
    app.callback()(lambda: None)
    lake = _lake(tmp_path, corpus())
    args = ["detect", "--logs", str(lake), "--log-format", "security-lake", "--store", str(tmp_path / "s.duckdb"),
            "--output-dir", str(tmp_path / "out"), "--format", "json", "--no-baselines"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{len(corpus())} events from 2 files" in result.output
    lines = [json.loads(x) for x in (tmp_path / "out" / "findings.jsonl").read_text().splitlines()]
    assert {x["type"] for x in lines} >= EXPECTED_TYPES
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "(2 already read)" in again.output
    wrong = CliRunner().invoke(app, [*args[:5], "--log-format", "ocsf-json"])
    assert isinstance(wrong.exception, BadInputError) and "unknown format" in str(wrong.exception)


def test_an_s3_prefix_is_read_through_boto3_and_checkpointed_per_object(tmp_path: Path) -> None:
    import boto3
    from moto import mock_aws

    from cloudwarden.aws.session import AwsTarget

    local = _lake(tmp_path, corpus(), files=2)
    pack = load_pack()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="lake-bucket")
        base = "aws/CLOUD_TRAIL_MGMT/2.0/region=us-east-1/"
        for n, path in enumerate(sorted(local.rglob("*.parquet"))):
            s3.put_object(Bucket="lake-bucket", Key=f"{base}{n}.gz.parquet", Body=path.read_bytes())
        s3.put_object(Bucket="lake-bucket", Key=f"{base}bad.gz.parquet", Body=b"not parquet")
        s3.put_object(Bucket="lake-bucket", Key=f"{base}_manifest.json", Body=b"{}")
        with Store.open(tmp_path / "s.duckdb") as store:
            result = run_security_lake_detection([f"s3://lake-bucket/{base}"], rules=pack.rules,
                                                 allowlist=pack.allowlist, target=AwsTarget(), store=store)
            assert result.stats["events"] == len(corpus()) and result.read_report.files_read == 2
            reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in result.read_report.files_skipped}
            assert reasons == {"bad.gz.parquet": "not a Parquet file (no PAR1 magic bytes)",
                               "_manifest.json": "not a Parquet file name (*.parquet)"}
            assert {f.type for f in result.findings} >= EXPECTED_TYPES
            stopped = next(f for f in result.findings if f.type == "Stealth:IAMUser/CloudTrailLoggingDisabled")
            assert stopped.evidence.event_ids == ["ev-1"]
            key = f"s3://lake-bucket/{base}0.gz.parquet"
            assert str(store.get_checkpoint(checkpoints.SOURCE, key)).startswith("etag=")
            again = run_security_lake_detection([f"s3://lake-bucket/{base}"], rules=pack.rules,
                                                allowlist=pack.allowlist, target=AwsTarget(), store=store)
            assert again.stats["objects_already_read"] == 2 and again.findings == []
        with pytest.raises(BadInputError, match="no such bucket"):
            run_security_lake_detection(["s3://missing-bucket/x"], rules=[], target=AwsTarget())


def test_a_threshold_across_runs_is_found_in_security_lake_too(tmp_path: Path) -> None:
    """The tail (detect/carry.py) carries Security Lake events into the next run as it does CloudTrail's."""
    def secret(n: int) -> dict[str, Any]:
        return event(n, "GetSecretValue", "secretsmanager.amazonaws.com", minute=n, user="mallory",
                     requestParameters={"secretId": f"secret-{n}"})

    root = tmp_path / "lake" / "aws_cloudtrail_mgmt" / "region=us-east-1" / f"accountId={PROD}" / "eventDay=20260301"
    pack = load_pack()
    with Store.open(tmp_path / "s.duckdb") as store:
        write_parquet(root / "part-0.gz.parquet", [to_ocsf(secret(n)) for n in (1, 2, 3)])
        first = run_security_lake_detection([tmp_path / "lake"], rules=pack.rules, allowlist=pack.allowlist,
                                            store=store)
        assert not [f for f in first.findings if f.type == "CredentialAccess:IAMUser/SecretsBulkRetrieval"]
        write_parquet(root / "part-1.gz.parquet", [to_ocsf(secret(n)) for n in (4, 5)])
        second = run_security_lake_detection([tmp_path / "lake"], rules=pack.rules, allowlist=pack.allowlist,
                                             store=store)
        assert second.stats["carried"] == 3 and second.read_report.files_read == 1
        [found] = [f for f in second.findings if f.type == "CredentialAccess:IAMUser/SecretsBulkRetrieval"]
        assert found.count == 5 and sorted(found.evidence.event_ids) == [f"ev-{n}" for n in range(1, 6)]
