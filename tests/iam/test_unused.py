"""Unused permissions on a tiny hand-built snapshot and generated CloudTrail records: mapping events to actions,
attribution of sessions to their role, the time window, denied calls, ranking by access level, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cloudwarden.cli.iam_unused import unused as unused_cli
from cloudwarden.core.errors import BadInputError
from cloudwarden.iam.snapshot import AccessModel
from cloudwarden.iam.unused import cloudtrail_action, unused_permissions
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store

from .test_snapshot import A, policy, role, user

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ALICE = f"arn:aws:iam::{A}:user/alice"
DEPLOY = f"arn:aws:iam::{A}:role/deploy"
TRUST = policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole"})
ALICE_POLICY = policy(
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:PutObjectTagging"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": ["iam:PutUserPolicy", "iam:ListUsers"], "Resource": "*"},
)
DEPLOY_POLICY = policy({"Effect": "Allow", "Action": ["lambda:ListFunctions", "lambda:UpdateFunctionCode"],
                        "Resource": "*"})


def documents() -> list[dict[str, Any]]:
    return [user(A, "alice", inline=[ALICE_POLICY]), role(A, "deploy", TRUST, inline=[DEPLOY_POLICY])]


def model() -> AccessModel:
    return AccessModel.from_documents(documents())


def event(source: str, name: str, identity: dict[str, Any], *, ago: timedelta = timedelta(days=1),
          error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"eventTime": (NOW - ago).isoformat().replace("+00:00", "Z"), "eventSource": source,
                           "eventName": name, "userIdentity": identity, "eventID": f"{name}-{ago}"}
    if error:
        out["errorCode"] = error
    return out


def as_user(arn: str = ALICE) -> dict[str, Any]:
    return {"type": "IAMUser", "arn": arn, "accountId": A}


def as_session(role_name: str = "deploy", session: str = "ci") -> dict[str, Any]:
    return {"type": "AssumedRole", "arn": f"arn:aws:sts::{A}:assumed-role/{role_name}/{session}", "accountId": A,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{A}:role/{role_name}"}}}


@pytest.mark.parametrize(("source", "name", "expected"), [
    ("s3.amazonaws.com", "GetObject", "s3:GetObject"),
    ("s3.amazonaws.com", "ListObjectsV2", "s3:ListBucket"),
    ("s3.amazonaws.com", "ListBuckets", "s3:ListAllMyBuckets"),
    ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", "lambda:UpdateFunctionCode"),
    ("monitoring.amazonaws.com", "PutMetricAlarm", "cloudwatch:PutMetricAlarm"),
    ("iam.amazonaws.com", "CreateAccessKey", "iam:CreateAccessKey"),
    ("signin.amazonaws.com", "ConsoleLogin", None),
    ("s3.amazonaws.com", "NotAnApi", None),
])
def test_cloudtrail_events_map_to_the_authorising_action(source: str, name: str, expected: str | None) -> None:
    assert cloudtrail_action(source, name) == expected


def test_unused_actions_are_ranked_by_access_level() -> None:
    records = [event("s3.amazonaws.com", "GetObject", as_user()),
               event("s3.amazonaws.com", "ListObjects", as_user())]
    report = unused_permissions(model(), records, days=90, now=NOW, principals=[ALICE])
    (alice,) = report.principals
    assert alice.used == ("s3:GetObject", "s3:ListBucket")
    assert [(u.action, u.level) for u in alice.unused] == [
        ("iam:PutUserPolicy", "Permissions management"), ("s3:PutObject", "Write"),
        ("s3:PutObjectTagging", "Tagging"), ("iam:ListUsers", "List")]
    assert alice.unused_services == ("iam",)
    assert alice.granted == 6 and alice.last_used == "2026-05-31T00:00:00Z"


def test_sessions_count_for_their_role() -> None:
    records = [event("lambda.amazonaws.com", "ListFunctions20150331", as_session(session="a")),
               event("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", as_session(session="b"))]
    report = unused_permissions(model(), records, now=NOW)
    deploy = next(p for p in report.principals if p.principal == DEPLOY)
    assert deploy.unused == () and deploy.used == ("lambda:ListFunctions", "lambda:UpdateFunctionCode")
    alice = next(p for p in report.principals if p.principal == ALICE)
    assert len(alice.unused) == 6  # alice used nothing
    assert report.principals[0].principal == ALICE  # riskiest first


def test_window_denials_and_unknown_events_are_not_use() -> None:
    records = [
        event("s3.amazonaws.com", "PutObject", as_user(), ago=timedelta(days=40)),  # outside a 30-day window
        event("iam.amazonaws.com", "PutUserPolicy", as_user(), error="AccessDenied"),  # refused: not used
        event("iam.amazonaws.com", "ListUsers", as_user(), error="NoSuchEntity"),  # failed, but authorised
        event("signin.amazonaws.com", "ConsoleLogin", as_user()),  # no IAM action
        event("s3.amazonaws.com", "GetObject", {"type": "Root", "arn": f"arn:aws:iam::{A}:root"}),
        event("sts.amazonaws.com", "GetCallerIdentity", as_user()),  # used, though no policy grants it here
    ]
    report = unused_permissions(model(), records, days=30, now=NOW, principals=[ALICE])
    (alice,) = report.principals
    assert alice.used == ("iam:ListUsers",)
    assert {u.action for u in alice.unused} == {"iam:PutUserPolicy", "s3:PutObject", "s3:GetObject",
                                                "s3:ListBucket", "s3:PutObjectTagging"}
    assert alice.used_not_granted == ("sts:GetCallerIdentity",)
    assert report.records == 6 and report.records_in_window == 5 and report.records_denied == 1
    assert report.unmapped == {"signin.amazonaws.com:ConsoleLogin": 1}
    assert report.unattributed == {"Root": 1}


def test_bad_input_is_refused() -> None:
    with pytest.raises(BadInputError):
        unused_permissions(model(), [], days=0, now=NOW)
    with pytest.raises(BadInputError, match="not a user or role"):
        unused_permissions(model(), [], now=NOW, principals=["arn:aws:iam::111111111111:user/nobody"])
    with pytest.raises(BadInputError, match="ISO-8601"):
        unused_permissions(model(), [{"eventTime": "yesterday", "eventSource": "s3.amazonaws.com",
                                      "eventName": "GetObject", "userIdentity": as_user()}], now=NOW)


def test_cli_reads_logs_and_the_latest_snapshot(tmp_path: Path) -> None:
    store_path = tmp_path / "cw.duckdb"
    with Store.open(store_path) as store:
        sid = snapshots.begin_snapshot(store, None, [A], ["us-east-1"])
        snapshots.add_resources(store, sid, documents())
        snapshots.finish_snapshot(store, sid, "complete", [])
    now = datetime.now(UTC)
    logs = tmp_path / "trail.jsonl"
    logs.write_text("\n".join(json.dumps(r) for r in [
        {**event("s3.amazonaws.com", "PutObject", as_user()), "eventTime": now.isoformat()},
        {**event("iam.amazonaws.com", "PutUserPolicy", as_user()),
         "eventTime": (now - timedelta(days=10)).isoformat()},
    ]) + "\nnot json\n")
    app = typer.Typer()
    app.command()(unused_cli)
    result = CliRunner().invoke(app, ["--logs", str(logs), "--days", "7", "--store", str(store_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    alice = next(p for p in out["principals"] if p["principal"] == ALICE)
    assert alice["used"] == ["s3:PutObject"]
    assert alice["unused"][0] == {"action": "iam:PutUserPolicy", "level": "Permissions management",
                                  "resources": ["*"]}
    assert out["read"]["records_skipped"]  # the bad line is reported, not dropped silently
    missing = CliRunner().invoke(app, ["--logs", str(logs), "--store", str(tmp_path / "none.duckdb")])
    assert missing.exit_code == 2 and "cloudwarden scan" in missing.output
