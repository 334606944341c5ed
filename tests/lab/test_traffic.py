"""Benign traffic against a real seeded lab: volume, principals and addresses, effects, determinism."""

from __future__ import annotations

import gzip
import json
import time
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
from cloudwarden.lab.seed import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.lab.traffic import TrafficResult, play_traffic

pytestmark = pytest.mark.lab


@dataclass
class Day:
    lab: Lab
    state_dir: Path
    seed: SeedResult
    result: TrafficResult
    seconds: float
    lambda_sha_before: str
    prod_creds: dict[str, str]

    def prod(self, service: str) -> Any:
        return self.lab.aws_client(service, access_key_id=self.prod_creds["AccessKeyId"],
                                   secret_access_key=self.prod_creds["SecretAccessKey"],
                                   session_token=self.prod_creds["SessionToken"])


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    state_dir = tmp_path_factory.mktemp("lab")
    with Lab(state_dir, seed="demo") as lab:
        seed = SeedResult.load(state_dir)
        creds = lab.aws_client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{org.PROD}:role/{org.MEMBER_ACCESS_ROLE}", RoleSessionName="test-admin"
        )["Credentials"]
        functions = lab.aws_client("lambda", access_key_id=creds["AccessKeyId"],
                                   secret_access_key=creds["SecretAccessKey"], session_token=creds["SessionToken"])
        sha = functions.get_function_configuration(FunctionName=org.LAMBDA_PUBLIC)["CodeSha256"]
        started = time.perf_counter()
        result = play_traffic(lab.endpoint_url, seed, lab_client=lab.client)
        seconds = time.perf_counter() - started
        yield Day(lab, state_dir, seed, result, seconds, sha, creds)


def test_a_few_hundred_calls_in_a_few_seconds(day: Day) -> None:
    assert 200 <= day.result.calls <= 500
    assert day.result.failed_calls == 0
    assert day.seconds < 60, f"traffic took {day.seconds:.1f}s"  # ~6 s on an idle 2-core machine


def test_principals_act_from_office_and_instance_addresses_only(day: Day) -> None:
    ips = set(day.result.source_ips)
    assert set(org.OFFICE_IPS) <= ips
    assert not ips & {org.ATTACKER_IP, org.ATTACKER_IP_2, org.TOR_NODE_IP}
    principals = set(day.result.principals)
    assert {f"prod/{org.USER_ALICE}", f"prod/{org.USER_BOB}", f"dev/{org.USER_ALICE}",
            f"prod/{org.USER_OPS_ADMIN}", f"prod/{org.USER_CI}#2"} <= principals
    assert any(p.startswith(f"{org.ROLE_CI_DEPLOY}/GitHubActions-") for p in principals)
    assert sum(p.startswith(f"{org.ROLE_APP_INSTANCE}/i-") for p in principals) >= 2
    # dormant and never-used keys stay untouched by ordinary traffic
    assert f"prod/{org.USER_LEGACY_ADMIN}" not in principals and f"prod/{org.USER_REPORTING}" not in principals
    assert day.result.console_logins == 4


def test_ci_deployed_and_admin_rotated_the_reporting_key(day: Day) -> None:
    sha = day.prod("lambda").get_function_configuration(FunctionName=org.LAMBDA_PUBLIC)["CodeSha256"]
    assert sha != day.lambda_sha_before
    assert day.prod("s3").get_object(Bucket=org.BUCKET_PUBLIC_ACL, Key="site/index.html")["Body"].read()
    keys = day.prod("iam").list_access_keys(UserName=org.USER_REPORTING)["AccessKeyMetadata"]
    assert sorted(k["Status"] for k in keys) == ["Active", "Inactive"]
    assert {"CreateAccessKey", "UpdateAccessKey", "UpdateFunctionCode", "PutObject", "AssumeRole"} <= set(
        day.result.event_names)


def test_cloudtrail_reads_like_a_working_day(day: Day) -> None:
    day.lab.client.flush()
    records: list[dict[str, Any]] = []
    for path in (day.state_dir / "cloudtrail").rglob("*.json.gz"):
        records += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    alice = [r for r in records if r["userIdentity"].get("arn") == f"arn:aws:iam::{org.PROD}:user/{org.USER_ALICE}"
             and r["eventType"] == "AwsApiCall"]
    assert alice and {r["sourceIPAddress"] for r in alice} == {org.OFFICE_IPS[0]}
    describe = next(r for r in alice if r["eventName"] == "DescribeInstances")
    assert describe["userAgent"].startswith("aws-cli/2.") and describe["userAgent"].endswith(
        "command/ec2.describe-instances")
    logins = {(r["userIdentity"].get("userName"), r["additionalEventData"]["MFAUsed"])
              for r in records if r["eventName"] == "ConsoleLogin"}
    assert (org.USER_ALICE, "Yes") in logins and (org.USER_BOB, "No") in logins
    terraform = [r for r in records if "Terraform/" in r.get("userAgent", "")]
    assert terraform
    deploys = [r for r in records if r["eventName"].startswith("UpdateFunctionCode")]
    assert deploys and all(r["sourceIPAddress"] == org.OFFICE_IPS[2] for r in deploys)
    assert all(org.ATTACKER_IP not in r["sourceIPAddress"] for r in records)


def test_benign_network_logs_delivered(day: Day) -> None:
    flow = [u for u in day.result.objects_delivered if "/vpcflowlogs/" in u]
    dns = [u for u in day.result.objects_delivered if "/vpcdnsquerylogs/" in u]
    assert flow and dns
    bucket, _, key = flow[0].removeprefix("s3://").partition("/")
    rows = netlogs.parse_flow_log(day.prod("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert rows and not {r["srcaddr"] for r in rows} & {org.ATTACKER_IP, org.TOR_NODE_IP}


def test_same_seed_same_calls(day: Day) -> None:
    again = play_traffic(day.lab.endpoint_url, day.seed, lab_client=day.lab.client)
    # The rotation found the previous run's inactive key and deleted it first: the only difference.
    extra = [c for c in again.sequence if c not in day.result.sequence]
    assert extra == [f"prod/{org.USER_OPS_ADMIN} DeleteAccessKey"]
    assert [c for c in again.sequence if c != extra[0]] == day.result.sequence
    other = play_traffic(day.lab.endpoint_url, day.seed, lab_client=day.lab.client, minutes_of_activity=3,
                         rng_seed=8)
    assert other.sequence != again.sequence[: len(other.sequence)]
    with pytest.raises(BadInputError, match="minutes_of_activity"):
        play_traffic(day.lab.endpoint_url, day.seed, lab_client=day.lab.client, minutes_of_activity=0)


def test_traffic_command_prints_calls_per_principal(day: Day) -> None:
    from cloudwarden.cli import lab_play

    app = typer.Typer()
    app.command("attack")(lab_play.attack)
    app.command("traffic")(lab_play.traffic)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["traffic", "--state-dir", str(day.state_dir), "--minutes", "2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"prod/{org.USER_ALICE}" in result.output and "Benign traffic" in result.output
