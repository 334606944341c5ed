"""Behavioural baselines: learned from two weeks of benign CloudTrail, then judged on new activity."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding
from cloudwarden.core.severity import Severity
from cloudwarden.detect.baselines import (
    BaselineConfig,
    BaselineDetector,
    TacticTable,
    default_table,
    network_of,
    user_agent_family,
)
from cloudwarden.detect.engine import CloudTrailDB, run_detection
from cloudwarden.detect.rules.model import Allowlist
from cloudwarden.store import Store

PROD = "222222222222"
START = datetime(2026, 3, 1, tzinfo=UTC)
OFFICE = ("192.0.2.10", "192.0.2.11", "192.0.2.57")  # one /24
NEW_IP = "203.0.113.66"
CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64.ubuntu.22"
BOTO = "Boto3/1.34.10 md/Botocore#1.34.10 ua/2.0 os/linux#6.5.0 lang/python#3.11.8"
# What each benign principal does: (service, API) pairs, user agents, regions.
PROFILES: dict[str, dict[str, Any]] = {
    "alice": {"apis": [("s3", "ListBuckets"), ("ec2", "DescribeInstances"), ("logs", "GetLogEvents"),
                       ("lambda", "ListFunctions")], "agents": [CLI], "regions": ["us-east-1"]},
    "bob": {"apis": [("ec2", "DescribeInstances"), ("ec2", "DescribeSecurityGroups"),
                     ("cloudformation", "DescribeStacks")], "agents": [CLI, BOTO],
            "regions": ["us-east-1", "eu-west-1"]},
    "svc-reporting": {"apis": [("s3", "ListBuckets"), ("athena", "StartQueryExecution")], "agents": [BOTO],
                      "regions": ["us-east-1"]},
}


def arn(user: str) -> str:
    return f"arn:aws:iam::{PROD}:user/{user}"


def record(event_id: str, when: datetime, user: str, service: str, name: str, *, ip: str = OFFICE[0],
           agent: str = CLI, region: str = "us-east-1", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": f"AIDA{user.upper()}", "accountId": PROD,
                         "arn": arn(user), "accessKeyId": f"AKIA{user.upper()}", "userName": user},
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": f"{service}.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": None,
        "responseElements": None,
        "requestID": f"req-{event_id}",
        "eventID": event_id,
        "readOnly": name.startswith(("List", "Get", "Describe")),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": PROD,
        "eventCategory": "Management",
    }
    data.update(overrides)
    return data


def s3_read(event_id: str, when: datetime, user: str, bucket: str, key: str) -> dict[str, Any]:
    return record(event_id, when, user, "s3", "GetObject", agent=BOTO, readOnly=True, managementEvent=False,
                  eventCategory="Data", requestParameters={"bucketName": bucket, "key": key})


def benign_history(days: int = 14, per_day: int = 12, seed: int = 7,
                   users: tuple[str, ...] = tuple(PROFILES)) -> list[dict[str, Any]]:
    """Each user's usual activity spread over ``days`` from START; every usual value appears on day 0,
    and svc-reporting reads a handful of S3 objects every hour of the working day."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for user in users:
        profile = PROFILES[user]
        for day in range(days):
            count = max(per_day, len(profile["apis"]) * len(profile["agents"]) * len(profile["regions"]))
            for i in range(count):
                when = START + timedelta(days=day, hours=8 + rng.randrange(10), minutes=rng.randrange(60),
                                         seconds=rng.randrange(60))
                if day == 0:  # cover every usual value on the first day
                    service, name = profile["apis"][i % len(profile["apis"])]
                    agent = profile["agents"][i % len(profile["agents"])]
                    region = profile["regions"][(i // len(profile["agents"])) % len(profile["regions"])]
                    ip = OFFICE[i % len(OFFICE)]
                else:
                    service, name = rng.choice(profile["apis"])
                    agent, region, ip = (rng.choice(profile["agents"]), rng.choice(profile["regions"]),
                                         rng.choice(OFFICE))
                out.append(record(f"h-{user}-{day}-{i}", when, user, service, name, ip=ip, agent=agent,
                                  region=region))
            if user == "svc-reporting":
                for hour in range(8, 18):
                    for j in range(5):
                        out.append(s3_read(f"s3-{day}-{hour}-{j}", START + timedelta(days=day, hours=hour,
                                                                                      minutes=j * 7),
                                           user, "prod-data-lake", f"reports/{day}/{hour}/{j}.csv"))
    return out


def write_days(directory: Path, records: list[dict[str, Any]]) -> Path:
    """Records as CloudTrail delivers them: one gzipped ``{"Records": [...]}`` file per day."""
    by_day: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_day.setdefault(rec["eventTime"][:10], []).append(rec)
    directory.mkdir(parents=True, exist_ok=True)
    for day, recs in by_day.items():
        (directory / f"{PROD}_CloudTrail_us-east-1_{day.replace('-', '')}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": recs}).encode()))
    return directory


def anomalies(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.type.endswith("/AnomalousBehavior")]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store.duckdb") as opened:
        yield opened


@pytest.fixture
def learned(tmp_path: Path, store: Store) -> Store:
    """A store that has learned two weeks of benign history through run_detection (nothing anomalous in it)."""
    result = run_detection([write_days(tmp_path / "history", benign_history())], rules=[], store=store,
                           analyzers=[BaselineDetector(store)])
    assert result.stats["events"] > 500
    assert anomalies(result.findings) == []
    return store


DAY15 = START + timedelta(days=15, hours=11)


def detect_new(tmp_path: Path, store: Store, records: list[dict[str, Any]],
               config: BaselineConfig | None = None, allowlist: Allowlist | None = None) -> list[Finding]:
    directory = write_days(tmp_path / f"new-{len(list(tmp_path.glob('new-*')))}", records)
    result = run_detection([directory], rules=[], store=store,
                           analyzers=[BaselineDetector(store, config, allowlist=allowlist)])
    return anomalies(result.findings)


def test_new_api_from_new_network_raises_the_tactic_type(tmp_path: Path, learned: Store) -> None:
    new = [
        record("x-1", DAY15, "alice", "iam", "CreateAccessKey", ip=NEW_IP),
        record("x-2", DAY15 + timedelta(minutes=1), "alice", "iam", "GetAccountAuthorizationDetails", ip=NEW_IP),
        record("x-3", DAY15 + timedelta(minutes=2), "alice", "s3", "ListBuckets"),  # usual: nothing
    ]
    found = {f.type: f for f in detect_new(tmp_path, learned, new)}
    assert set(found) == {"Persistence:IAMUser/AnomalousBehavior", "Discovery:IAMUser/AnomalousBehavior"}
    persistence = found["Persistence:IAMUser/AnomalousBehavior"]
    assert persistence.severity is Severity.MEDIUM
    assert persistence.principal == arn("alice")
    assert persistence.evidence.event_ids == ["x-1"]
    assert persistence.mitre == ["T1098.001"]
    assert persistence.evidence.details["anomalous_dimensions"] == {"api": ["iam:CreateAccessKey"],
                                                                   "network": ["203.0.113.0/24"]}
    discovery = found["Discovery:IAMUser/AnomalousBehavior"]
    assert discovery.severity is Severity.LOW
    assert discovery.evidence.event_ids == ["x-2"]
    # within a day the same behaviour is still new (and joins the same finding); after that it is learned
    again = [record("x-4", DAY15 + timedelta(hours=2), "alice", "iam", "CreateAccessKey", ip=NEW_IP)]
    [same] = detect_new(tmp_path, learned, again)
    assert same.id == persistence.id
    later = [record("x-5", DAY15 + timedelta(days=2), "alice", "iam", "CreateAccessKey", ip=NEW_IP)]
    assert detect_new(tmp_path, learned, later) == []


def test_every_new_dimension_is_in_the_evidence(tmp_path: Path, learned: Store) -> None:
    new = [record("y-1", DAY15, "bob", "iam", "AttachUserPolicy", ip="2001:db8:77:1::5",
                  agent="python-requests/2.31", region="ap-southeast-2")]
    [finding] = detect_new(tmp_path, learned, new)
    assert finding.type == "PrivilegeEscalation:IAMUser/AnomalousBehavior"
    assert finding.region == "ap-southeast-2"
    assert finding.evidence.details["anomalous_dimensions"] == {
        "api": ["iam:AttachUserPolicy"], "network": ["2001:db8:77::/48"], "region": ["ap-southeast-2"],
        "user_agent": ["python-requests"]}


def test_activity_seen_before_raises_nothing(tmp_path: Path, learned: Store) -> None:
    new = [
        # exactly the usual: known API, network, agent family (a newer version), region
        record("k-1", DAY15, "bob", "ec2", "DescribeInstances", ip=OFFICE[2], agent="aws-cli/2.16.0 Python/3.12",
               region="eu-west-1"),
        # a new API from the usual network and agent: one new dimension is not enough by default
        record("k-2", DAY15, "alice", "iam", "CreateAccessKey"),
        # a new network for a usual API: not an API anomaly
        record("k-3", DAY15, "alice", "s3", "ListBuckets", ip=NEW_IP),
    ]
    assert detect_new(tmp_path, learned, new) == []


def test_one_new_dimension_fires_when_configured(tmp_path: Path, learned: Store) -> None:
    new = [record("k-2", DAY15, "alice", "iam", "CreateAccessKey")]
    config = BaselineConfig(min_new_dimensions=1)
    [finding] = detect_new(tmp_path, learned, new, config)
    assert finding.evidence.details["anomalous_dimensions"] == {"api": ["iam:CreateAccessKey"]}


def test_learning_period_not_reached_raises_nothing(tmp_path: Path, store: Store) -> None:
    # three days of history: fewer than min_days (7), though far more than min_events
    run_detection([write_days(tmp_path / "short", benign_history(days=3, per_day=40))], rules=[], store=store,
                  analyzers=[BaselineDetector(store)])
    day4 = START + timedelta(days=3, hours=11)
    new = [record("l-1", day4, "alice", "iam", "CreateAccessKey", ip=NEW_IP),
           record("l-2", day4, "mallory", "iam", "CreateAccessKey", ip=NEW_IP)]  # never seen at all
    assert detect_new(tmp_path, store, new) == []
    # the same principal and activity past the learning period (min_days lowered) does fire
    assert [f.type for f in detect_new(tmp_path, store, [record("l-3", day4, "alice", "iam", "CreateUser",
                                                               ip="198.51.100.9")],
                                       BaselineConfig(min_days=2))] == ["Persistence:IAMUser/AnomalousBehavior"]


def test_too_few_events_is_still_learning(tmp_path: Path, store: Store) -> None:
    run_detection([write_days(tmp_path / "sparse", benign_history(days=14, per_day=1, users=("alice",)))],
                  rules=[], store=store, analyzers=[BaselineDetector(store)])
    new = [record("m-1", DAY15, "alice", "iam", "CreateAccessKey", ip=NEW_IP)]
    assert detect_new(tmp_path, store, new, BaselineConfig(min_events=500)) == []
    assert len(detect_new(tmp_path, store, new, BaselineConfig(min_events=10))) == 1


def test_history_and_new_activity_in_one_chunk(store: Store) -> None:
    """One chunk holding all fourteen days: early events teach, later ones are judged."""
    records = [*benign_history(), record("z-1", DAY15, "bob", "cloudtrail", "StopLogging", ip=NEW_IP)]
    db = CloudTrailDB.from_records(records)
    try:
        found = BaselineDetector(store)(db)
    finally:
        db.close()
    assert [(f.type, f.evidence.event_ids) for f in found] == [("DefenseEvasion:IAMUser/AnomalousBehavior",
                                                               ["z-1"])]


def test_reading_the_same_logs_again_finds_the_same_anomaly(learned: Store) -> None:
    """Judging uses first sightings, so a chunk read again (after a crash before its checkpoint) still counts."""
    records = [record("r-1", DAY15, "alice", "kms", "ScheduleKeyDeletion", ip=NEW_IP)]
    found = []
    for _ in range(2):
        db = CloudTrailDB.from_records(records)
        try:
            found.append([(f.type, f.evidence.event_ids) for f in BaselineDetector(learned)(db)])
        finally:
            db.close()
    assert found[0] == found[1] == [("Impact:IAMUser/AnomalousBehavior", ["r-1"])]


def test_a_value_unseen_for_longer_than_the_window_is_new_again(tmp_path: Path, learned: Store) -> None:
    later = START + timedelta(days=60)
    new = [record("w-1", later, "alice", "ec2", "DescribeInstances", ip=NEW_IP)]
    [finding] = detect_new(tmp_path, learned, new)
    assert finding.type == "Discovery:IAMUser/AnomalousBehavior"
    assert finding.evidence.details["anomalous_dimensions"]["api"] == ["ec2:DescribeInstances"]
    assert finding.evidence.details["anomalous_dimensions"]["network"] == ["203.0.113.0/24"]


def test_allowlisted_principal_raises_nothing(tmp_path: Path, learned: Store) -> None:
    new = [record("a-1", DAY15, "alice", "iam", "CreateAccessKey", ip=NEW_IP)]
    assert detect_new(tmp_path, learned, new, allowlist=Allowlist(principals=(arn("alice"),))) == []


def test_s3_reads_far_above_baseline_raise_exfiltration(tmp_path: Path, learned: Store) -> None:
    bulk = [s3_read(f"b-{i}", DAY15 + timedelta(seconds=i * 5), "svc-reporting", "prod-data-lake", f"all/{i}")
            for i in range(300)]
    usual = [s3_read(f"u-{i}", DAY15 + timedelta(hours=2, minutes=i), "svc-reporting", "prod-data-lake",
                     f"reports/x/{i}") for i in range(6)]
    [finding] = detect_new(tmp_path, learned, bulk + usual)
    assert finding.type == "Exfiltration:S3/AnomalousBehavior"
    assert finding.severity is Severity.HIGH
    assert finding.count == 300
    assert finding.resource.id == "arn:aws:s3:::prod-data-lake"
    assert finding.evidence.event_ids[:2] == ["b-0", "b-1"] and len(finding.evidence.event_ids) == 100
    [hour] = finding.evidence.details["anomalous_dimensions"]["s3_objects_read_per_hour"]
    assert hour == {"hour": "2026-03-16T11:00:00+00:00", "objects_read": 300, "baseline_max_per_hour": 5}


def test_s3_reads_within_baseline_raise_nothing(tmp_path: Path, learned: Store) -> None:
    # 300 reads/hour is now the busiest hour learned; 400 is under 10x that
    first = [s3_read(f"c-{i}", DAY15 + timedelta(seconds=i * 5), "svc-reporting", "b", f"k{i}") for i in range(300)]
    assert len(detect_new(tmp_path, learned, first)) == 1
    second = [s3_read(f"d-{i}", DAY15 + timedelta(hours=3, seconds=i * 5), "svc-reporting", "b", f"k{i}")
              for i in range(400)]
    assert detect_new(tmp_path, learned, second) == []


def test_principals_baselines_are_separate(tmp_path: Path, learned: Store) -> None:
    """svc-reporting's usual API is new to alice; it is judged anomalous for her (unmapped: no finding)."""
    detector = BaselineDetector(learned)
    new = [record("s-1", DAY15, "alice", "athena", "StartQueryExecution", ip=NEW_IP),
           record("s-2", DAY15, "svc-reporting", "athena", "StartQueryExecution", ip=NEW_IP, agent=BOTO)]
    result = run_detection([write_days(tmp_path / "new", new)], rules=[], store=learned, analyzers=[detector])
    assert anomalies(result.findings) == []
    assert detector.stats["unmapped_anomalous_events"] == 1  # alice's, not svc-reporting's
    with learned.reader() as db:
        rows = db.execute("SELECT DISTINCT principal FROM baseline_seen WHERE value = 'athena:StartQueryExecution' "
                          "ORDER BY 1").fetchall()
    assert rows == [(arn("alice"),), (arn("svc-reporting"),)]


@pytest.mark.parametrize(("ip", "network"), [
    ("203.0.113.66", "203.0.113.0/24"),
    ("2001:db8:1:2::5", "2001:db8:1::/48"),
    ("::ffff:192.0.2.9", "192.0.2.0/24"),
    ("AWS Internal", "aws internal"),
    (None, "unknown"),
])
def test_network_of(ip: str | None, network: str) -> None:
    assert network_of(ip) == network


@pytest.mark.parametrize(("agent", "family"), [
    (CLI, "aws-cli"),
    (BOTO, "boto3"),
    ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12]", "s3console"),
    ("APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40",
     "terraform"),
    ("console.amazonaws.com", "console.amazonaws.com"),
    ("", "unknown"),
])
def test_user_agent_family(agent: str, family: str) -> None:
    assert user_agent_family(agent) == family


def test_tactic_table() -> None:
    table = default_table()
    secrets, listing = table.lookup("secretsmanager:GetSecretValue"), table.lookup("dynamodb:ListTables")
    assert secrets is not None and secrets.name == "CredentialAccess"  # the exact key beats Get*
    assert listing is not None and listing.name == "Discovery"
    assert table.lookup("athena:StartQueryExecution") is None
    types = {t.finding_type for t in table.exact.values()}
    assert len(types) == 8
    with pytest.raises(BadInputError, match="unknown tactic"):
        TacticTable.parse({"severities": {}, "apis": {"Recon": {"iam:ListUsers": "T1087"}}}, "t.yaml")
    with pytest.raises(BadInputError, match="service:EventName"):
        TacticTable.parse({"severities": {"Discovery": "LOW"}, "apis": {"Discovery": {"ListUsers": "T1"}}}, "t")


def test_bad_config_is_a_clear_error() -> None:
    assert BaselineConfig.from_mapping({"window_days": 14}).window_days == 14
    with pytest.raises(BadInputError) as raised:
        BaselineConfig.from_mapping({"window_days": 0}, "detect.baselines")
    assert raised.value.where == "detect.baselines.window_days"
    with pytest.raises(BadInputError):
        BaselineConfig.from_mapping({"windw_days": 3})
