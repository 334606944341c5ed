"""Benign activity in the lab, so attack scenarios have an ordinary day to hide in.

Detection rules are only as good as the noise they are tested against. ``play_traffic`` plays what
the demo organisation's people and machines do on a working day, each from a plausible address
(``OFFICE_IPS``, the instances' own) with the tool they would use (AWS CLI v2 with its
``command/...`` suffix, boto3 scripts, Terraform, the console):

* developers (alice, bob; prod and dev) listing and describing EC2, S3, Lambda, RDS, CloudWatch and
  CloudWatch Logs, and reading objects from the data lake;
* the CI pipeline (ci-deployer's current key) assuming ``ci-deploy`` and shipping: static assets
  to the marketing bucket, a new Lambda package;
* ops-admin rotating svc-reporting's access key (create the new one, deactivate the old one,
  deleting an inactive leftover first), pulling the credential report and checking the trails;
* the web and worker instances using their instance-profile credentials (S3 reads, the database
  secret) from their own addresses;
* console sign-ins, with MFA where the user has it (bob has none: he signs in without);
* the prod instances' ordinary network traffic as flow logs and resolver query logs.

Everything is chosen by one ``random.Random(rng_seed)``, so two runs with the same seed against
the same seeded lab make the same calls in the same order. ``minutes_of_activity`` sets how much of
a day is played (about 15 calls per minute, all sent within seconds).
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab import demo_org as org
from cloudwarden.lab import netlogs
from cloudwarden.lab.actors import Actor
from cloudwarden.lab.client import LabClient
from cloudwarden.lab.scenarios.base import LabHelper, ScenarioContext, pages, tolerate
from cloudwarden.lab.scenarios.network import deliver_network_records, flow_destinations, interfaces
from cloudwarden.lab.seed.result import SeedResult

CLI_MAC = "aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off command/{command}"
CLI_LINUX = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-26-generic exe/x86_64.ubuntu.22 prompt/off command/{command}"
CLI_CI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-1016-azure exe/x86_64.ubuntu.22 prompt/off command/{command}"
BOTO3_LAPTOP = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/macos#23.3.0 md/arch#arm64 lang/python#3.12.2 "
    "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)
BOTO3_INSTANCE = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.79-99.167.amzn2023.x86_64 md/arch#x86_64 "
    "lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)
TERRAFORM = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 "
    "md/GOOS#linux md/GOARCH#amd64"
)
CONSOLE_BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36"
)
DEPLOY_EVERY_MINUTES = 7
CALLS_PER_MINUTE_HINT = 15


class TrafficResult(BaseModel):
    """What ``play_traffic`` played."""

    model_config = ConfigDict(frozen=True)

    calls: int
    failed_calls: int
    console_logins: int
    calls_by_principal: dict[str, int]
    event_names: list[str]
    principals: list[str]
    source_ips: list[str]
    objects_delivered: list[str]
    sequence: list[str]  # "<principal> <Operation>" in the order played
    started: datetime
    ended: datetime


def _lambda_package(version: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo("handler.py", date_time=(2024, 6, 1, 12, 0, 0))
        archive.writestr(info, f"VERSION = {version}\n\ndef handler(event, context):\n    return {{'ok': True}}\n")
    return buffer.getvalue()


class _Day:
    """One played day: the actors, the shared random generator, and what was learnt on the way."""

    def __init__(self, ctx: ScenarioContext, rng: random.Random) -> None:
        self.ctx, self.rng = ctx, rng
        office = org.OFFICE_IPS
        self.alice = ctx.actor(f"prod/{org.USER_ALICE}", source_ip=office[0], user_agent=CLI_MAC)
        self.bob = ctx.actor(f"prod/{org.USER_BOB}", source_ip=office[1], user_agent=BOTO3_LAPTOP)
        self.bob_tf = self.bob.with_origin(user_agent=TERRAFORM)
        self.dev_alice = ctx.actor(f"dev/{org.USER_ALICE}", source_ip=office[0], user_agent=CLI_MAC)
        self.dev_bob = ctx.actor(f"dev/{org.USER_BOB}", source_ip=office[1], user_agent=TERRAFORM)
        self.ops = ctx.actor(f"prod/{org.USER_OPS_ADMIN}", source_ip=office[1], user_agent=CLI_LINUX)
        ci_key = f"prod/{org.USER_CI}#2" if f"prod/{org.USER_CI}#2" in ctx.seed.credentials else f"prod/{org.USER_CI}"
        self.ci = ctx.actor(ci_key, source_ip=office[2], user_agent=CLI_CI)
        self.data_keys: list[str] = []
        self.instance_actors: list[Actor] = []
        self.deploys = 0

    # --- developer reads ------------------------------------------------------------------------

    def developer_read(self, who: Actor) -> None:
        reads: list[Callable[[Actor], Any]] = [
            lambda a: a.client("ec2").describe_instances(),
            lambda a: a.client("ec2").describe_security_groups(),
            lambda a: a.client("ec2").describe_vpcs(),
            lambda a: a.client("ec2").describe_subnets(),
            lambda a: a.client("s3").list_buckets(),
            self._read_data_lake,
            lambda a: a.client("lambda").list_functions(),
            lambda a: a.client("lambda").get_function(FunctionName=org.LAMBDA_PUBLIC),
            lambda a: a.client("cloudwatch").list_metrics(Namespace="AWS/EC2"),
            lambda a: a.client("cloudwatch").describe_alarms(),
            lambda a: a.client("logs").describe_log_groups(),
            lambda a: a.client("rds").describe_db_instances(),
            lambda a: a.client("sts").get_caller_identity(),
            lambda a: a.client("ecr").describe_repositories(),
        ]
        self.rng.choice(reads)(who)

    def dev_read(self, who: Actor) -> None:
        reads: list[Callable[[Actor], Any]] = [
            lambda a: a.client("ec2").describe_instances(),
            lambda a: a.client("s3").list_buckets(),
            lambda a: a.client("s3").list_objects_v2(Bucket=org.BUCKET_DEV_SCRATCH),
            lambda a: a.client("ec2").describe_vpcs(),
            lambda a: a.client("lambda").list_functions(),
        ]
        self.rng.choice(reads)(who)

    def _read_data_lake(self, who: Actor) -> None:
        s3 = who.client("s3")
        listing = s3.list_objects_v2(Bucket=org.BUCKET_DATA, MaxKeys=100)
        self.data_keys = [item["Key"] for item in listing.get("Contents", [])]
        if self.data_keys:
            s3.get_object(Bucket=org.BUCKET_DATA, Key=self.rng.choice(self.data_keys))["Body"].read()

    # --- CI -------------------------------------------------------------------------------------

    def deploy(self) -> None:
        self.deploys += 1
        prod = self.ctx.account("prod")
        self.ci.client("sts").get_caller_identity()
        run_id = 8_400_000_000 + self.rng.randint(0, 99_999_999)
        role = self.ci.assume_role(f"arn:aws:iam::{prod}:role/{org.ROLE_CI_DEPLOY}", f"GitHubActions-{run_id}",
                                   duration_seconds=3600)
        s3 = role.client("s3")
        for asset in ("index.html", "app.js", "app.css"):
            body = f"/* build {run_id} */ {asset}\n".encode()
            s3.put_object(Bucket=org.BUCKET_PUBLIC_ACL, Key=f"site/{asset}", Body=body,
                          ContentType="text/html" if asset.endswith("html") else "text/plain")
        functions = role.client("lambda")
        functions.update_function_code(FunctionName=org.LAMBDA_PUBLIC, ZipFile=_lambda_package(run_id))
        functions.get_function_configuration(FunctionName=org.LAMBDA_PUBLIC)

    # --- ops ------------------------------------------------------------------------------------

    def rotate_reporting_key(self) -> None:
        iam = self.ops.client("iam")
        keys = iam.list_access_keys(UserName=org.USER_REPORTING)["AccessKeyMetadata"]
        if len(keys) >= 2:  # a previous rotation left an inactive key: remove it first
            leftovers = [k for k in keys if k["Status"] == "Inactive"] or sorted(keys, key=lambda k: k["CreateDate"])
            iam.delete_access_key(UserName=org.USER_REPORTING, AccessKeyId=leftovers[0]["AccessKeyId"])
            keys = [k for k in keys if k["AccessKeyId"] != leftovers[0]["AccessKeyId"]]
        iam.create_access_key(UserName=org.USER_REPORTING)  # the new secret goes to the vault, never here
        for old in keys:
            iam.update_access_key(UserName=org.USER_REPORTING, AccessKeyId=old["AccessKeyId"], Status="Inactive")

    def ops_check(self) -> None:
        checks: list[Callable[[], Any]] = [
            lambda: self.ops.client("iam").list_users(),
            lambda: self.ops.client("cloudtrail").describe_trails(),
            lambda: self.ops.client("cloudtrail").get_trail_status(Name=org.TRAIL_PROD),
            lambda: self.ops.client("guardduty").list_detectors(),
            lambda: self.ops.client("iam").get_account_summary(),
            lambda: self.ops.client("ec2").describe_flow_logs(),
        ]
        self.rng.choice(checks)()

    def credential_report(self) -> None:
        iam = self.ops.client("iam")
        iam.generate_credential_report()
        tolerate(lambda: iam.get_credential_report(), "ReportNotPresent", "ReportInProgress")

    # --- instances ------------------------------------------------------------------------------

    def instance_work(self) -> None:
        if not self.instance_actors:
            return
        actor = self.rng.choice(self.instance_actors)
        if self.rng.random() < 0.15:
            secret = self.ctx.resource(f"prod/secret/{org.SECRET_DB}") or org.SECRET_DB
            actor.client("secretsmanager").get_secret_value(SecretId=secret)
            return
        s3 = actor.client("s3")
        s3.list_objects_v2(Bucket=org.BUCKET_DATA, Prefix="raw/", MaxKeys=50)
        if self.data_keys:
            s3.get_object(Bucket=org.BUCKET_DATA, Key=self.rng.choice(self.data_keys))["Body"].read()


def play_traffic(
    endpoint_url: str,
    seed: SeedResult,
    *,
    minutes_of_activity: int = 20,
    rng_seed: int = 7,
    lab_client: LabHelper | None = None,
) -> TrafficResult:
    """Play ``minutes_of_activity`` minutes of an ordinary working day against the lab.

    ``lab_client`` (default: ``LabClient(endpoint_url)``) signs people in to the console and
    delivers the network logs.
    """
    if minutes_of_activity < 1:
        raise BadInputError("minutes_of_activity", f"must be at least 1, got {minutes_of_activity}")
    if lab_client is None:
        lab_client = LabClient(endpoint_url)
    rng = random.Random(rng_seed)
    ctx = ScenarioContext(endpoint_url, seed, lab_client, rng=rng)
    started = datetime.now(UTC)
    day = _Day(ctx, rng)
    logins = 0

    # Morning: console sign-ins, a first look around, the instances' credentials refreshed.
    for account, user, mfa, ip in (("prod", org.USER_ALICE, True, org.OFFICE_IPS[0]),
                                   ("prod", org.USER_OPS_ADMIN, True, org.OFFICE_IPS[1]),
                                   ("prod", org.USER_BOB, False, org.OFFICE_IPS[1]),
                                   ("dev", org.USER_ALICE, True, org.OFFICE_IPS[0])):
        ctx.console_login(account, user, mfa_used=mfa, success=True, source_ip=ip, user_agent=CONSOLE_BROWSER)
        logins += 1
    day._read_data_lake(day.alice)
    reservations = pages(day.alice.client("ec2"), "describe_instances", "Reservations")
    prod_interfaces = interfaces(reservations)
    for interface in prod_interfaces.values():
        creds = ctx.instance_credentials("prod", org.ROLE_APP_INSTANCE, interface.instance_id)
        ip = interface.public_ip or interface.private_ip
        day.instance_actors.append(creds.with_origin(source_ip=ip, user_agent=BOTO3_INSTANCE))

    for minute in range(minutes_of_activity):
        for _ in range(rng.randint(2, 4)):
            day.developer_read(day.alice)
        for _ in range(rng.randint(1, 3)):
            day.developer_read(day.bob if rng.random() < 0.6 else day.bob_tf)
        day.dev_read(day.dev_alice if rng.random() < 0.5 else day.dev_bob)
        for _ in range(rng.randint(2, 3)):
            day.instance_work()
        day.ops_check()
        if minute % DEPLOY_EVERY_MINUTES == 2:
            day.deploy()
        if minute == minutes_of_activity // 2:
            day.rotate_reporting_key()
            day.credential_report()

    # The network side of the same day.
    delivered: list[str] = []
    flow_logs = pages(day.ops.client("ec2"), "describe_flow_logs", "FlowLogs")
    if prod_interfaces:
        prod = ctx.account("prod")
        end = datetime.now(UTC)
        start = end - timedelta(minutes=minutes_of_activity)
        nets = list(prod_interfaces.values())
        flows = netlogs.benign_flows(netlogs.FlowFactory(prod, rng, start, end), nets,
                                     office_ips=org.OFFICE_IPS, per_interface=3 * minutes_of_activity)
        eni_vpc = {i.eni_id: i.vpc_id for i in nets}
        by_vpc: dict[str, list[netlogs.FlowRecord]] = {}
        for record in flows:
            by_vpc.setdefault(eni_vpc[record.interface_id], []).append(record)
        queries = netlogs.benign_queries(netlogs.DnsFactory(prod, org.HOME_REGION, rng, start, end), nets,
                                         per_interface=2 * minutes_of_activity)
        delivered = deliver_network_records(lab_client, account_id=prod, destinations=flow_destinations(flow_logs),
                                            flows_by_vpc=by_vpc, queries=queries)

    by_principal: dict[str, int] = {}
    for call in ctx.calls:
        by_principal[call.actor] = by_principal.get(call.actor, 0) + 1
    summary = ctx.result("traffic", started)
    return TrafficResult(
        calls=summary.calls,
        failed_calls=summary.failed_calls,
        console_logins=logins,
        calls_by_principal=by_principal,
        event_names=summary.event_names,
        principals=summary.principals,
        source_ips=summary.source_ips,
        objects_delivered=delivered,
        sequence=[f"{call.actor} {call.operation}" for call in ctx.calls],
        started=started,
        ended=summary.ended,
    )
