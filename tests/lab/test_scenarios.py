"""Attack scenarios against a real seeded lab: their effects through boto3, and what CloudTrail recorded.

One lab per module (moto's state is process-wide): seeded with the demo organisation, every scenario
played once (``all``), then each test looks at the accounts as their administrator would and at the
CloudTrail files the recorder wrote. A second ``all`` checks the scenarios survive being replayed.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab import demo_org as org
from cloudwarden.lab import netlogs
from cloudwarden.lab.scenarios import SCENARIOS, ScenarioResult, run_scenario, scenario_names
from cloudwarden.lab.scenarios.compromised_credentials import BACKDOOR_USER
from cloudwarden.lab.scenarios.crypto_mining import FLEET
from cloudwarden.lab.seed import SeedResult
from cloudwarden.lab.server import Lab

pytestmark = pytest.mark.lab

ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


@dataclass
class Played:
    lab: Lab
    state_dir: Path
    seed: SeedResult
    results: dict[str, ScenarioResult]
    prod_creds: dict[str, str]

    def prod(self, service: str, region: str = org.HOME_REGION, **config: Any) -> Any:
        return self.lab.aws_client(service, region=region, access_key_id=self.prod_creds["AccessKeyId"],
                                   secret_access_key=self.prod_creds["SecretAccessKey"],
                                   session_token=self.prod_creds["SessionToken"], **config)

    def records(self) -> list[dict[str, Any]]:
        self.lab.client.flush()
        out: list[dict[str, Any]] = []
        for path in sorted((self.state_dir / "cloudtrail").rglob("*.json.gz")):
            out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
        return out


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    state_dir = tmp_path_factory.mktemp("lab")
    with Lab(state_dir, seed="demo") as lab:
        seed = SeedResult.load(state_dir)
        results = run_scenario("all", lab.endpoint_url, seed, lab.client)
        creds = lab.aws_client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{org.PROD}:role/{org.MEMBER_ACCESS_ROLE}", RoleSessionName="test-admin"
        )["Credentials"]
        yield Played(lab, state_dir, seed, {r.name: r for r in results}, creds)


def test_unknown_scenario_names_the_valid_ones() -> None:
    with pytest.raises(BadInputError) as caught:
        scenario_names("ransomware")
    assert "ransomware" in str(caught.value)
    for name in SCENARIOS:
        assert name in str(caught.value)
    assert scenario_names("all") == list(SCENARIOS)


def test_registry_describes_every_scenario() -> None:
    assert len(SCENARIOS) == 10
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name
        assert scenario.title and len(scenario.description) > 80
        assert scenario.mitre and all(t.startswith("T1") for t in scenario.mitre)
        assert scenario.finding_types and all(":" in t and "/" in t for t in scenario.finding_types)


def test_all_played_every_scenario_from_outside(played: Played) -> None:
    assert list(played.results) == list(SCENARIOS)
    for result in played.results.values():
        assert result.calls > 0
        assert set(result.source_ips) & {org.ATTACKER_IP, org.ATTACKER_IP_2}, result.name
        assert not set(result.source_ips) & set(org.OFFICE_IPS)
    compromised = played.results["compromised-credentials"]
    assert compromised.principals == [f"prod/{org.USER_CI}", f"prod/{BACKDOOR_USER}"]
    assert {"StopLogging", "DeleteDetector", "CreateLoginProfile"} <= set(compromised.event_names)


def test_backdoor_admin_user_exists(played: Played) -> None:
    iam = played.prod("iam")
    attached = iam.list_attached_user_policies(UserName=BACKDOOR_USER)["AttachedPolicies"]
    assert ADMIN_POLICY in [p["PolicyArn"] for p in attached]
    assert iam.get_login_profile(UserName=BACKDOOR_USER)["LoginProfile"]["UserName"] == BACKDOOR_USER
    assert iam.list_access_keys(UserName=BACKDOOR_USER)["AccessKeyMetadata"]


def test_trail_stopped_selectors_narrowed_detector_deleted(played: Played) -> None:
    cloudtrail = played.prod("cloudtrail")
    assert cloudtrail.get_trail_status(Name=org.TRAIL_PROD)["IsLogging"] is False
    selectors = cloudtrail.get_event_selectors(TrailName=org.TRAIL_PROD)["EventSelectors"]
    assert selectors and all(s["IncludeManagementEvents"] is False for s in selectors)
    assert played.prod("guardduty").list_detectors()["DetectorIds"] == []
    assert played.prod("ec2").describe_flow_logs()["FlowLogs"] == []


def test_data_lake_made_public(played: Played) -> None:
    policy = json.loads(played.prod("s3").get_bucket_policy(Bucket=org.BUCKET_DATA)["Policy"])
    assert any(s["Effect"] == "Allow" and s["Principal"] == "*" for s in policy["Statement"])
    s3control = played.prod("s3control")
    s3control.meta.events.register("before-send.s3-control", _strip_account_prefix(played.lab.endpoint_url))
    block = s3control.get_public_access_block(AccountId=org.PROD)["PublicAccessBlockConfiguration"]
    assert not any(block.values())
    assert played.results["public-s3-exposure"].principals == [f"prod/{org.USER_BOB}", "anonymous"]


def test_snapshots_shared_with_the_outside_account(played: Played) -> None:
    ec2 = played.prod("ec2")
    shared = []
    for snapshot in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        permissions = ec2.describe_snapshot_attribute(
            SnapshotId=snapshot["SnapshotId"], Attribute="createVolumePermission")["CreateVolumePermissions"]
        if {"UserId": org.ATTACKER_ACCOUNT} in permissions:
            shared.append(snapshot["SnapshotId"])
    assert shared
    rds = played.prod("rds")
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=org.RDS_PUBLIC, SnapshotType="manual")["DBSnapshots"]
    restores = [
        a["AttributeValues"]
        for s in snapshots
        for a in rds.describe_db_snapshot_attributes(DBSnapshotIdentifier=s["DBSnapshotIdentifier"])[
            "DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
        if a["AttributeName"] == "restore"
    ]
    assert [org.ATTACKER_ACCOUNT] in restores


def test_gpu_instances_run_in_the_unused_region(played: Played) -> None:
    reservations = played.prod("ec2", region=org.UNUSED_REGION).describe_instances()["Reservations"]
    types = [i["InstanceType"] for r in reservations for i in r["Instances"] if i["State"]["Name"] == "running"]
    for instance_type, count in FLEET:
        assert types.count(instance_type) >= count


def test_deploy_policy_escalated_to_everything(played: Played) -> None:
    iam = played.prod("iam")
    arn = f"arn:aws:iam::{org.PROD}:policy/{org.POLICY_DEPLOY}"
    default = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]


def test_ssh_opened_to_the_world(played: Played) -> None:
    ec2 = played.prod("ec2")
    worker = played.seed.resources[f"prod/instance/{org.INSTANCE_WORKER_TAG}"]
    instance = ec2.describe_instances(InstanceIds=[worker])["Reservations"][0]["Instances"][0]
    group = ec2.describe_security_groups(GroupIds=[instance["SecurityGroups"][0]["GroupId"]])["SecurityGroups"][0]
    assert any(p.get("FromPort") == 22 and {"CidrIp": "0.0.0.0/0"} in p.get("IpRanges", [])
               for p in group["IpPermissions"])


def test_flow_and_dns_logs_delivered_with_attack_patterns(played: Played) -> None:
    delivered = played.results["ec2-compromise"].objects_delivered
    flow_uris = [u for u in delivered if "/vpcflowlogs/" in u]
    dns_uris = [u for u in delivered if "/vpcdnsquerylogs/" in u]
    assert flow_uris and dns_uris
    s3 = played.prod("s3")
    rows: list[dict[str, str]] = []
    for uri in flow_uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        assert bucket == org.BUCKET_FLOW_LOGS
        assert key.startswith(f"AWSLogs/{org.PROD}/vpcflowlogs/{org.HOME_REGION}/") and key.endswith(".log.gz")
        rows += netlogs.parse_flow_log(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    brute = [r for r in rows if r["srcaddr"] == org.ATTACKER_IP and r["dstport"] == "22"]
    assert len(brute) >= 100 and {r["action"] for r in brute} == {"ACCEPT", "REJECT"}
    web_ip = brute[0]["dstaddr"]
    scanned = {r["dstport"] for r in rows if r["srcaddr"] == web_ip and r["packets"] == "1"}
    assert len(scanned) >= 150
    assert any(r["dstaddr"] == org.TOR_NODE_IP and r["dstport"] == "9001" for r in rows)
    assert len({r["interface-id"] for r in rows}) >= 2  # the other instances' ordinary traffic too
    names = []
    for uri in dns_uris:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        body = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).decode()
        names += [json.loads(line)["query_name"] for line in body.splitlines()]
    assert "pool.supportxmr.com." in names and f"{netlogs.C2_DOMAIN}." in names
    assert sum(n.endswith(f"{netlogs.EXFIL_DOMAIN}.") for n in names) >= 40


def test_cloudtrail_attributes_the_attacks(played: Played) -> None:
    records = played.records()
    ci_arn = f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"
    by_leaked_key = [r for r in records if r["userIdentity"].get("arn") == ci_arn
                     and r["sourceIPAddress"] == org.ATTACKER_IP]
    names = {r["eventName"] for r in by_leaked_key}
    assert {"GetCallerIdentity", "ListUsers", "CreateUser", "CreateAccessKey", "CreateLoginProfile",
            "AttachUserPolicy", "StopLogging", "DeleteDetector", "RunInstances"} <= names
    assert {r["userAgent"] for r in by_leaked_key} == {org.ATTACKER_USER_AGENT}
    run = next(r for r in by_leaked_key if r["eventName"] == "RunInstances")
    assert run["awsRegion"] == org.UNUSED_REGION

    logins = [r for r in records if r["eventName"] == "ConsoleLogin" and r["sourceIPAddress"] == org.ATTACKER_IP]
    failures = [r for r in logins if r["responseElements"]["ConsoleLogin"] == "Failure"]
    assert len(failures) >= 10 and all(r["userIdentity"].get("userName") == org.USER_BOB for r in failures)
    assert any(r["responseElements"]["ConsoleLogin"] == "Success"
               and r["additionalEventData"]["MFAUsed"] == "No" for r in logins)

    root = [r for r in records if r["userIdentity"].get("type") == "Root" and r["sourceIPAddress"] == org.ATTACKER_IP_2]
    assert {"ConsoleLogin", "ListAccounts"} <= {r["eventName"] for r in root}

    stolen = [r for r in records if r["userIdentity"].get("type") == "AssumedRole"
              and f"assumed-role/{org.ROLE_APP_INSTANCE}/" in r["userIdentity"]["arn"]
              and r["sourceIPAddress"] == org.ATTACKER_IP]
    assert {"AuthorizeSecurityGroupIngress", "DescribeInstanceAttribute"} <= {r["eventName"] for r in stolen}

    shared = [r for r in records if r["eventName"] == "ModifySnapshotAttribute"]
    assert shared and all(r["sourceIPAddress"] == org.ATTACKER_IP for r in shared)


def test_harvested_secrets_never_reach_cloudtrail(played: Played) -> None:
    harvested = played.results["secrets-harvest"]
    assert {"GetSecretValue", "BatchGetSecretValue", "GetParametersByPath", "GetParameters"} <= set(
        harvested.event_names)
    secretsmanager, ssm = played.prod("secretsmanager"), played.prod("ssm")
    values = [secretsmanager.get_secret_value(SecretId=s["ARN"])["SecretString"]
              for s in secretsmanager.list_secrets()["SecretList"]]
    values += [p["Value"] for p in ssm.get_parameters_by_path(Path="/", Recursive=True,
                                                               WithDecryption=True)["Parameters"]]
    assert len(values) >= 3
    played.lab.client.flush()
    text = "".join(gzip.decompress(p.read_bytes()).decode()
                   for p in (played.state_dir / "cloudtrail").rglob("*.json.gz"))
    for value in values:
        assert value not in text and json.dumps(value)[1:-1] not in text


def test_scenarios_survive_a_second_run(played: Played) -> None:
    again = run_scenario("all", played.lab.endpoint_url, played.seed, played.lab.client)
    assert [r.name for r in again] == list(SCENARIOS)
    tolerated = {code for r in again for code in r.error_codes}
    assert "EntityAlreadyExists" in tolerated  # the backdoor user was there already
    # with the flow logs deleted by the first run, only resolver query logs are delivered now
    assert all("/vpcflowlogs/" not in u for u in again[list(SCENARIOS).index("ec2-compromise")].objects_delivered)


def test_attack_command_plays_and_prints_a_table(played: Played) -> None:
    from cloudwarden.cli import lab_play

    app = typer.Typer()
    app.command("attack")(lab_play.attack)
    app.command("traffic")(lab_play.traffic)
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(app, ["attack", "console-no-mfa", "--state-dir", str(played.state_dir)],
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "console-no-mfa" in result.output and org.ATTACKER_IP in result.output
    bad = runner.invoke(app, ["attack", "nope", "--state-dir", str(played.state_dir)])
    assert isinstance(bad.exception, BadInputError) and "compromised-credentials" in str(bad.exception)


def _strip_account_prefix(endpoint_url: str) -> Any:
    host = endpoint_url.split("://", 1)[1]

    def strip(request: Any, **_: Any) -> None:
        request.url = request.url.replace(f"{org.PROD}.{host}", host)

    return strip
