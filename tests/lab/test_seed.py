"""The demo organisation as seeded: every documented weakness is there, the good parts are good.

One lab (``cloudwarden.lab.server.Lab``: moto's server on a free port, in this process, behind the
CloudTrail recorder) is started with ``seed="demo"`` once for the module; each test
then looks through boto3 as the account's administrator (``OrganizationAccountAccessRole`` assumed
from the management account), the way a scanner would.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudwarden.core.errors import BadInputError, RuntimeFailure
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.client import LabClient
from cloudwarden.lab.seed import SeedResult, seed_demo
from cloudwarden.lab.seed.context import fake_secret, strip_account_host_prefix
from cloudwarden.lab.server import Lab

pytestmark = pytest.mark.lab

_CONFIG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


@dataclass
class Seeded:
    endpoint: str
    state_dir: Path
    result: SeedResult
    seconds: float
    sessions: dict[str, boto3.session.Session]

    def client(self, alias: str, service: str, region: str = org.HOME_REGION) -> Any:
        client = self.sessions[alias].client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            config=_CONFIG,  # type: ignore[call-overload]
        )
        if service == "s3control":
            client.meta.events.register("before-send.s3-control", strip_account_host_prefix)
        return client


def _admin_sessions(endpoint: str) -> dict[str, boto3.session.Session]:
    management = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=org.HOME_REGION
    )
    sessions = {"management": management}
    sts = management.client("sts", endpoint_url=endpoint)
    for alias, account in org.MEMBER_ACCOUNTS.items():
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{org.MEMBER_ACCESS_ROLE}", RoleSessionName="test-seed"
        )["Credentials"]
        sessions[alias] = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=org.HOME_REGION,
        )
    return sessions


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    with pytest.MonkeyPatch.context() as env:
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_PROFILE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "MOTO_ACCOUNT_ID",
        ):
            env.delenv(name, raising=False)
        state_dir = tmp_path_factory.mktemp("lab-state")
        # The lab server seeds with its CloudTrail recorder paused; timing its start bounds the seeding.
        started = time.perf_counter()
        with Lab(state_dir, seed="demo") as running:
            seconds = time.perf_counter() - started
            result = SeedResult.load(state_dir)
            yield Seeded(running.endpoint_url, state_dir, result, seconds, _admin_sessions(running.endpoint_url))


# --- the seed itself -------------------------------------------------------------------------------


def test_seeding_is_fast(lab: Seeded) -> None:
    # Starting and seeding takes about 8 s on an idle machine (target: under 20 s); under `pytest -n auto`
    # next to the other lab tests it has taken up to 40 s. This bound catches a regression (retries,
    # timeouts, moto's default AMIs loaded), not a slow runner.
    assert lab.seconds < 90, f"starting and seeding the lab took {lab.seconds:.1f}s"


def test_seed_file_round_trips_and_is_private(lab: Seeded) -> None:
    path = lab.state_dir / "seed.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SeedResult.load(lab.state_dir) == lab.result
    raw = json.loads(path.read_text())
    assert raw["credentials"]["prod/bob"]["secret_access_key"] == lab.result.credentials["prod/bob"].secret_access_key


def test_secrets_stay_out_of_repr(lab: Seeded) -> None:
    secret = lab.result.credentials["prod/ci-deployer"].secret_access_key
    assert secret not in repr(lab.result)
    assert secret not in repr(lab.result.credentials["prod/ci-deployer"])


def test_load_reports_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"seed\.json"):
        SeedResult.load(tmp_path)
    (tmp_path / "seed.json").write_text('{"accounts": {}, "organization_id": 3}')
    with pytest.raises(BadInputError, match="organization_id"):
        SeedResult.load(tmp_path)
    (tmp_path / "seed.json").write_text("{not json")
    with pytest.raises(BadInputError, match="not valid JSON"):
        SeedResult.load(tmp_path)


def test_seeding_twice_is_refused_and_keeps_the_first_seed(lab: Seeded, tmp_path: Path) -> None:
    with pytest.raises(RuntimeFailure, match="already holds an organisation"):
        seed_demo(lab.endpoint, tmp_path)
    assert not (tmp_path / "seed.json").exists()
    assert SeedResult.load(lab.state_dir) == lab.result


def test_result_names_accounts_regions_and_resources(lab: Seeded) -> None:
    result = lab.result
    assert result.accounts == {"management": org.MANAGEMENT, "prod": org.PROD, "dev": org.DEV}
    assert result.organization_id.startswith("o-")
    assert set(result.regions_used) == {org.HOME_REGION, org.SECOND_REGION}
    for key, prefix in {
        "prod/vpc/main": "vpc-",
        "prod/instance/web-1": "i-",
        "prod/sg/web-open-admin": "sg-",
        "prod/subnet/public-a": "subnet-",
        "prod/snapshot/web-1-data-backup": "snap-",
        "prod/ami/web-golden-2024.06": "ami-",
        "prod/flow-log/main": "fl-",
        "prod/trail/prod-trail": "arn:aws:cloudtrail:",
        "prod/resolver-query-log-config/prod-main-dns": "rslvr-qlc-",
    }.items():
        assert result.resources[key].startswith(prefix), key
    users_with_keys = {
        "prod/alice",
        "prod/bob",
        "prod/ci-deployer",
        "prod/ci-deployer#2",
        "prod/legacy-admin",
        "prod/ops-admin",
        "prod/svc-reporting",
        "dev/alice",
        "dev/bob",
    }
    assert set(result.credentials) == users_with_keys


def test_seeded_keys_act_as_their_user(lab: Seeded) -> None:
    pair = lab.result.credentials[f"prod/{org.USER_CI}#2"]
    sts = boto3.client(
        "sts",
        endpoint_url=lab.endpoint,
        region_name=org.HOME_REGION,
        aws_access_key_id=pair.access_key_id,
        aws_secret_access_key=pair.secret_access_key,
    )
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"


def test_fake_secrets_are_stable_and_distinct() -> None:
    assert fake_secret("a/b") == fake_secret("a/b")
    assert fake_secret("a/b") != fake_secret("a/c")
    assert len(fake_secret("x", 40)) == 40


# --- Organizations ---------------------------------------------------------------------------------


def test_organization_has_fixed_accounts_in_their_ous(lab: Seeded) -> None:
    orgs = lab.client("management", "organizations")
    accounts = {a["Id"]: a for a in orgs.list_accounts()["Accounts"]}
    assert set(accounts) == {org.MANAGEMENT, org.PROD, org.DEV}
    root = orgs.list_roots()["Roots"][0]["Id"]
    top = {
        ou["Name"]: ou["Id"] for ou in orgs.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    }
    assert set(top) == {org.OU_WORKLOADS, org.OU_SECURITY}
    nested = {
        ou["Name"]: ou["Id"]
        for ou in orgs.list_organizational_units_for_parent(ParentId=top[org.OU_WORKLOADS])["OrganizationalUnits"]
    }
    assert set(nested) == {org.OU_PROD, org.OU_DEV}
    assert orgs.list_parents(ChildId=org.PROD)["Parents"][0]["Id"] == nested[org.OU_PROD]
    assert orgs.list_parents(ChildId=org.DEV)["Parents"][0]["Id"] == nested[org.OU_DEV]


def test_scps_deny_leaving_and_protect_security_services_except_break_glass(lab: Seeded) -> None:
    orgs = lab.client("management", "organizations")
    root = orgs.list_roots()["Roots"][0]["Id"]
    on_root = {
        p["Name"] for p in orgs.list_policies_for_target(TargetId=root, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    }
    assert on_root == {"FullAWSAccess", org.SCP_DENY_LEAVE_ORG}
    workloads = lab.result.resources[f"management/ou/{org.OU_WORKLOADS}"]
    on_workloads = orgs.list_policies_for_target(TargetId=workloads, Filter="SERVICE_CONTROL_POLICY")["Policies"]
    protect = next(p for p in on_workloads if p["Name"] == org.SCP_PROTECT_SECURITY)
    content = json.loads(orgs.describe_policy(PolicyId=protect["Id"])["Policy"]["Content"])
    denied = {action for st in content["Statement"] for action in st["Action"]}
    assert {"cloudtrail:StopLogging", "guardduty:DeleteDetector"} <= denied
    for statement in content["Statement"]:
        assert statement["Effect"] == "Deny"
        assert statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"].endswith(f":role/{org.ROLE_BREAK_GLASS}")


def test_member_access_role_is_assumable_and_admin(lab: Seeded) -> None:
    for alias, account in org.MEMBER_ACCOUNTS.items():
        assert lab.client(alias, "sts").get_caller_identity()["Account"] == account
        iam = lab.client(alias, "iam")
        attached = iam.list_attached_role_policies(RoleName=org.MEMBER_ACCESS_ROLE)["AttachedPolicies"]
        assert [p["PolicyName"] for p in attached] == ["AdministratorAccess"]
        trust = iam.get_role(RoleName=org.MEMBER_ACCESS_ROLE)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"]["AWS"] == f"arn:aws:iam::{org.MANAGEMENT}:root"


# --- IAM -------------------------------------------------------------------------------------------


def _credential_report(lab: Seeded, alias: str) -> dict[str, dict[str, str]]:
    iam = lab.client(alias, "iam")
    iam.generate_credential_report()
    content = iam.get_credential_report()["Content"].decode()
    return {row["user"]: row for row in csv.DictReader(io.StringIO(content))}


def _age_days(lab: Seeded, stamp: str) -> float:
    when = datetime.fromisoformat(stamp)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (lab.result.seeded_at - when) / timedelta(days=1)


def test_credential_report_shows_old_unused_and_doubled_keys(lab: Seeded) -> None:
    report = _credential_report(lab, "prod")
    bob = report[org.USER_BOB]
    assert bob["password_enabled"] == "true" and bob["mfa_active"] == "false"
    assert _age_days(lab, bob["access_key_1_last_rotated"]) == pytest.approx(400, abs=0.01)
    legacy = report[org.USER_LEGACY_ADMIN]
    assert _age_days(lab, legacy["access_key_1_last_used_date"]) == pytest.approx(200, abs=0.01)
    reporting = report[org.USER_REPORTING]
    assert reporting["access_key_1_active"] == "true"
    assert reporting["access_key_1_last_used_date"] == "N/A"
    assert _age_days(lab, reporting["access_key_1_last_rotated"]) == pytest.approx(120, abs=0.01)
    assert _age_days(lab, reporting["user_creation_time"]) == pytest.approx(120, abs=0.01)
    ci = report[org.USER_CI]
    assert ci["access_key_1_active"] == ci["access_key_2_active"] == "true"
    for user in (org.USER_ALICE, org.USER_OPS_ADMIN):
        assert report[user]["mfa_active"] == "true" and report[user]["password_enabled"] == "true"
    alice = report[org.USER_ALICE]
    assert _age_days(lab, alice["access_key_1_last_rotated"]) < 90
    assert alice["access_key_2_active"] == "false"


def test_dev_mirrors_developers_without_mfa_for_bob(lab: Seeded) -> None:
    report = _credential_report(lab, "dev")
    assert set(report) == {"<root_account>", org.USER_ALICE, org.USER_BOB} or set(report) >= {
        org.USER_ALICE,
        org.USER_BOB,
    }
    assert report[org.USER_BOB]["mfa_active"] == "false"
    assert report[org.USER_ALICE]["mfa_active"] == "true"
    iam = lab.client("dev", "iam")
    members = {u["UserName"] for u in iam.get_group(GroupName=org.GROUP_DEVELOPERS)["Users"]}
    assert members == {org.USER_ALICE, org.USER_BOB}


def test_admin_policies_inline_and_attached(lab: Seeded) -> None:
    iam = lab.client("prod", "iam")
    inline = iam.get_user_policy(UserName=org.USER_LEGACY_ADMIN, PolicyName="legacy-full-access")["PolicyDocument"]
    assert inline["Statement"][0] | {"Sid": None} == {"Sid": None, "Effect": "Allow", "Action": "*", "Resource": "*"}
    attached = iam.list_attached_user_policies(UserName=org.USER_OPS_ADMIN)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    # alice gets her permissions through the developers group only.
    assert iam.list_attached_user_policies(UserName=org.USER_ALICE)["AttachedPolicies"] == []
    assert iam.list_user_policies(UserName=org.USER_ALICE)["PolicyNames"] == []
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=org.USER_ALICE)["Groups"]] == [
        org.GROUP_DEVELOPERS
    ]


def test_risky_trust_policies(lab: Seeded) -> None:
    iam = lab.client("prod", "iam")
    any_trust = iam.get_role(RoleName=org.ROLE_TRUST_ANY)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert any_trust["Principal"] == {"AWS": "*"} and "Condition" not in any_trust
    vendor = iam.get_role(RoleName=org.ROLE_VENDOR)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert vendor["Principal"] == {"AWS": f"arn:aws:iam::{org.EXTERNAL_ACCOUNT}:root"}
    assert "Condition" not in vendor
    glass = iam.get_role(RoleName=org.ROLE_BREAK_GLASS)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert glass["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def test_deploy_policy_allows_self_escalation(lab: Seeded) -> None:
    iam = lab.client("prod", "iam")
    arn = lab.result.resources[f"prod/policy/{org.POLICY_DEPLOY}"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(document)
    by_sid = {st["Sid"]: st for st in document["Statement"]}
    assert by_sid["PassRoles"]["Action"] == "iam:PassRole" and by_sid["PassRoles"]["Resource"] == "*"
    assert by_sid["SelfUpdate"]["Resource"] == arn
    attached = iam.list_attached_role_policies(RoleName=org.ROLE_CI_DEPLOY)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [arn]
    profile = iam.get_instance_profile(InstanceProfileName=org.ROLE_APP_INSTANCE)["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == [org.ROLE_APP_INSTANCE]


def test_password_policies(lab: Seeded) -> None:
    prod = lab.client("prod", "iam").get_account_password_policy()["PasswordPolicy"]
    assert prod["MinimumPasswordLength"] == 8
    assert prod["RequireSymbols"] is False
    # No reuse prevention and no expiry (the lab reports an unset age as 0 where AWS omits it).
    assert not prod.get("PasswordReusePrevention") and not prod.get("MaxPasswordAge")
    assert prod["ExpirePasswords"] is False
    with pytest.raises(ClientError) as missing:
        lab.client("dev", "iam").get_account_password_policy()
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    strong = lab.client("management", "iam").get_account_password_policy()["PasswordPolicy"]
    assert strong["MinimumPasswordLength"] >= 14 and strong["PasswordReusePrevention"] == 24
    assert strong["MaxPasswordAge"] == 90 and strong["RequireSymbols"] is True


# --- S3 --------------------------------------------------------------------------------------------


def _no_encryption_configuration(s3: Any, bucket: str) -> bool:
    try:
        s3.get_bucket_encryption(Bucket=bucket)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError"
    return False


def test_public_buckets(lab: Seeded) -> None:
    s3 = lab.client("prod", "s3")
    grants = s3.get_bucket_acl(Bucket=org.BUCKET_PUBLIC_ACL)["Grants"]
    assert any(
        g["Grantee"].get("URI") == "http://acs.amazonaws.com/groups/global/AllUsers" and g["Permission"] == "READ"
        for g in grants
    )
    assert _no_encryption_configuration(s3, org.BUCKET_PUBLIC_ACL)
    policy = json.loads(s3.get_bucket_policy(Bucket=org.BUCKET_PUBLIC_POLICY)["Policy"])
    public = [st for st in policy["Statement"] if st["Principal"] == "*" and st["Effect"] == "Allow"]
    assert public and public[0]["Action"] == "s3:GetObject" and "Condition" not in public[0]
    ownership = s3.get_bucket_ownership_controls(Bucket=org.BUCKET_PUBLIC_ACL)["OwnershipControls"]
    assert ownership["Rules"][0]["ObjectOwnership"] == "ObjectWriter"
    for bucket in (org.BUCKET_PUBLIC_ACL, org.BUCKET_PUBLIC_POLICY):
        assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
        with pytest.raises(ClientError):
            s3.get_public_access_block(Bucket=bucket)


def test_public_policy_bucket_is_readable_anonymously(lab: Seeded) -> None:
    anonymous = boto3.client(
        "s3",
        endpoint_url=lab.endpoint,
        region_name=org.HOME_REGION,
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    body = anonymous.get_object(Bucket=org.BUCKET_PUBLIC_POLICY, Key="exports/customers-2024-06.csv")["Body"].read()
    assert body.startswith(b"customer_id,name,email")


def test_account_block_public_access_off_in_prod_on_in_dev(lab: Seeded) -> None:
    prod = lab.client("prod", "s3control").get_public_access_block(AccountId=org.PROD)
    assert not any(prod["PublicAccessBlockConfiguration"].values())
    dev = lab.client("dev", "s3control").get_public_access_block(AccountId=org.DEV)
    assert all(dev["PublicAccessBlockConfiguration"].values())


def test_data_lake_is_well_configured(lab: Seeded) -> None:
    s3 = lab.client("prod", "s3")
    rule = s3.get_bucket_encryption(Bucket=org.BUCKET_DATA)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert (
        rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
        == lab.result.resources[f"prod/kms/{org.KMS_ALIAS_ROTATED}"]
    )
    assert all(s3.get_public_access_block(Bucket=org.BUCKET_DATA)["PublicAccessBlockConfiguration"].values())
    logging = s3.get_bucket_logging(Bucket=org.BUCKET_DATA)["LoggingEnabled"]
    assert logging["TargetBucket"] == org.BUCKET_PROD_ACCESS_LOGS
    assert s3.get_bucket_versioning(Bucket=org.BUCKET_DATA)["Status"] == "Enabled"
    ownership = s3.get_bucket_ownership_controls(Bucket=org.BUCKET_DATA)["OwnershipControls"]
    assert ownership["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
    assert s3.list_objects_v2(Bucket=org.BUCKET_DATA)["KeyCount"] >= 10
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=org.BUCKET_DATA)["TagSet"]}
    assert tags == {"Environment": "prod", "Owner": "data-team", "CostCenter": "CC-2400"}


def test_access_log_buckets_require_tls(lab: Seeded) -> None:
    policy = json.loads(lab.client("prod", "s3").get_bucket_policy(Bucket=org.BUCKET_PROD_ACCESS_LOGS)["Policy"])
    deny = next(st for st in policy["Statement"] if st["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dev_scratch_bucket_unencrypted(lab: Seeded) -> None:
    s3 = lab.client("dev", "s3")
    assert _no_encryption_configuration(s3, org.BUCKET_DEV_SCRATCH)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=org.BUCKET_DEV_SCRATCH)


def test_trail_buckets_let_cloudtrail_write(lab: Seeded) -> None:
    policy = json.loads(lab.client("management", "s3").get_bucket_policy(Bucket=org.BUCKET_ORG_TRAIL)["Policy"])
    write = next(st for st in policy["Statement"] if st["Sid"] == "AWSCloudTrailWrite")
    assert write["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert f"arn:aws:s3:::{org.BUCKET_ORG_TRAIL}/AWSLogs/{lab.result.organization_id}/*" in write["Resource"]
    prod = lab.client("prod", "s3")
    assert json.loads(prod.get_bucket_policy(Bucket=org.BUCKET_PROD_TRAIL)["Policy"])["Statement"]
    assert "LoggingEnabled" not in prod.get_bucket_logging(Bucket=org.BUCKET_PROD_TRAIL)


# --- network and compute ---------------------------------------------------------------------------


def _ingress(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    permissions: list[dict[str, Any]] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0][
        "IpPermissions"
    ]
    return permissions


def test_admin_ports_open_to_the_world(lab: Seeded) -> None:
    ec2 = lab.client("prod", "ec2")
    open_ports = {
        (p["FromPort"], r["CidrIp"])
        for p in _ingress(ec2, lab.result.resources["prod/sg/web-open-admin"])
        for r in p.get("IpRanges", [])
    }
    assert {(22, "0.0.0.0/0"), (3389, "0.0.0.0/0")} <= open_ports
    v6 = {
        (p["FromPort"], r["CidrIpv6"])
        for p in _ingress(ec2, lab.result.resources["prod/sg/web-open-admin"])
        for r in p.get("Ipv6Ranges", [])
    }
    assert (22, "::/0") in v6
    worker = _ingress(ec2, lab.result.resources[f"prod/sg/{org.SG_WORKER}"])
    assert all(r["CidrIp"] != "0.0.0.0/0" for p in worker for r in p.get("IpRanges", []))


def test_default_security_groups(lab: Seeded) -> None:
    ec2 = lab.client("prod", "ec2")
    main = ec2.describe_security_groups(GroupIds=[lab.result.resources["prod/sg/default-main"]])["SecurityGroups"][0]
    assert main["IpPermissions"] == [] and main["IpPermissionsEgress"] == []
    legacy = _ingress(ec2, lab.result.resources["prod/sg/default-legacy"])
    assert any(r["CidrIp"] == "0.0.0.0/0" for p in legacy for r in p.get("IpRanges", []))
    dev_default = lab.result.resources["dev/sg/default-main"]
    dev = lab.client("dev", "ec2").describe_security_groups(GroupIds=[dev_default])["SecurityGroups"][0]
    assert dev["IpPermissions"][0]["UserIdGroupPairs"][0]["GroupId"] == dev_default
    assert dev["IpPermissionsEgress"][0]["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"


def test_nacls(lab: Seeded) -> None:
    ec2 = lab.client("prod", "ec2")
    allow_all = ec2.describe_network_acls(NetworkAclIds=[lab.result.resources[f"prod/nacl/{org.NACL_ALLOW_ALL}"]])[
        "NetworkAcls"
    ][0]
    ingress = [e for e in allow_all["Entries"] if not e["Egress"] and e["RuleNumber"] == 100]
    assert ingress[0]["RuleAction"] == "allow" and ingress[0]["Protocol"] == "-1"
    assert ingress[0]["CidrBlock"] == "0.0.0.0/0"
    assert [a["SubnetId"] for a in allow_all["Associations"]] == [lab.result.resources["prod/subnet/legacy-a"]]
    restricted = ec2.describe_network_acls(NetworkAclIds=[lab.result.resources[f"prod/nacl/{org.NACL_RESTRICTED}"]])[
        "NetworkAcls"
    ][0]
    denied = {
        e["PortRange"]["From"]
        for e in restricted["Entries"]
        if not e["Egress"] and e["RuleAction"] == "deny" and "PortRange" in e
    }
    assert denied == {22, 3389}
    assert len(restricted["Associations"]) == 3


def test_flow_logs_only_on_the_main_vpc(lab: Seeded) -> None:
    logs = lab.client("prod", "ec2").describe_flow_logs()["FlowLogs"]
    assert {f["ResourceId"] for f in logs} == {lab.result.resources["prod/vpc/main"]}
    assert logs[0]["LogDestination"] == f"arn:aws:s3:::{org.BUCKET_FLOW_LOGS}"
    assert lab.client("dev", "ec2").describe_flow_logs()["FlowLogs"] == []


def _instance(lab: Seeded, tag: str) -> dict[str, Any]:
    ec2 = lab.client("prod", "ec2")
    instance: dict[str, Any] = ec2.describe_instances(InstanceIds=[lab.result.resources[f"prod/instance/{tag}"]])[
        "Reservations"
    ][0]["Instances"][0]
    return instance


def test_web_instance_is_weak_and_worker_is_hardened(lab: Seeded) -> None:
    ec2 = lab.client("prod", "ec2")
    web = _instance(lab, org.INSTANCE_WEB_TAG)
    assert web["MetadataOptions"]["HttpTokens"] == "optional"
    web_volumes = ec2.describe_volumes(VolumeIds=[m["Ebs"]["VolumeId"] for m in web["BlockDeviceMappings"]])["Volumes"]
    assert len(web_volumes) == 2 and not any(v["Encrypted"] for v in web_volumes)
    assert web["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{org.ROLE_APP_INSTANCE}")
    tags = {t["Key"]: t["Value"] for t in web["Tags"]}
    assert tags["Name"] == org.INSTANCE_WEB_TAG and {"Environment", "Owner", "CostCenter"} <= set(tags)
    worker = _instance(lab, org.INSTANCE_WORKER_TAG)
    assert worker["MetadataOptions"]["HttpTokens"] == "required"
    worker_volumes = ec2.describe_volumes(VolumeIds=[m["Ebs"]["VolumeId"] for m in worker["BlockDeviceMappings"]])[
        "Volumes"
    ]
    assert all(v["Encrypted"] for v in worker_volumes)


def test_web_user_data_holds_a_plaintext_password(lab: Seeded) -> None:
    import base64

    ec2 = lab.client("prod", "ec2")
    value = ec2.describe_instance_attribute(
        InstanceId=lab.result.resources["prod/instance/web-1"], Attribute="userData"
    )["UserData"]["Value"]
    script = base64.b64decode(value).decode()
    assert script.startswith("#!/bin/bash")
    assert f"DB_PASSWORD={fake_secret('prod/rds/reporting-master', 20)}" in script


def test_public_snapshot_and_ami(lab: Seeded) -> None:
    ec2 = lab.client("prod", "ec2")
    public = ec2.describe_snapshot_attribute(
        SnapshotId=lab.result.resources["prod/snapshot/web-1-data-backup"], Attribute="createVolumePermission"
    )["CreateVolumePermissions"]
    assert {"Group": "all"} in public
    private = ec2.describe_snapshot_attribute(
        SnapshotId=lab.result.resources["prod/snapshot/worker-1-backup"], Attribute="createVolumePermission"
    )["CreateVolumePermissions"]
    assert private == []
    image = ec2.describe_images(ImageIds=[lab.result.resources[f"prod/ami/{org.AMI_PUBLIC}"]])["Images"][0]
    assert image["Public"] is True
    base = ec2.describe_images(ImageIds=[lab.result.resources[f"prod/ami/{org.AMI_BASE}"]])["Images"][0]
    assert base["Public"] is False


def test_ebs_encryption_by_default(lab: Seeded) -> None:
    assert lab.client("prod", "ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    assert lab.client("management", "ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True


# --- KMS, secrets, parameters ----------------------------------------------------------------------


def test_kms_rotation_and_public_key_policy(lab: Seeded) -> None:
    kms = lab.client("prod", "kms")
    key = lab.result.resources
    assert kms.get_key_rotation_status(KeyId=key[f"prod/kms/{org.KMS_ALIAS_ROTATED}"])["KeyRotationEnabled"] is True
    assert (
        kms.get_key_rotation_status(KeyId=key[f"prod/kms/{org.KMS_ALIAS_NOT_ROTATED}"])["KeyRotationEnabled"] is False
    )
    shared = json.loads(
        kms.get_key_policy(KeyId=key[f"prod/kms/{org.KMS_ALIAS_PUBLIC}"], PolicyName="default")["Policy"]
    )
    assert any(st["Principal"] == "*" and "Condition" not in st for st in shared["Statement"])
    data = json.loads(
        kms.get_key_policy(KeyId=key[f"prod/kms/{org.KMS_ALIAS_ROTATED}"], PolicyName="default")["Policy"]
    )
    assert all(st["Principal"] != "*" for st in data["Statement"])
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    assert {org.KMS_ALIAS_ROTATED, org.KMS_ALIAS_NOT_ROTATED, org.KMS_ALIAS_PUBLIC} <= aliases


def test_secret_rotation(lab: Seeded) -> None:
    sm = lab.client("prod", "secretsmanager")
    assert not sm.describe_secret(SecretId=org.SECRET_DB).get("RotationEnabled", False)
    rotated = sm.describe_secret(SecretId=org.SECRET_ROTATED)
    assert rotated["RotationEnabled"] is True and rotated["RotationRules"]["AutomaticallyAfterDays"] == 30


def test_ssm_parameters(lab: Seeded) -> None:
    ssm = lab.client("prod", "ssm")
    plain = ssm.get_parameter(Name=org.SSM_PLAINTEXT_PASSWORD)["Parameter"]
    assert plain["Type"] == "String" and plain["Value"] == fake_secret("prod/rds/orders-master", 24)
    assert ssm.get_parameter(Name=org.SSM_SECURE)["Parameter"]["Type"] == "SecureString"


# --- logging and detection -------------------------------------------------------------------------


def test_organization_trail(lab: Seeded) -> None:
    cloudtrail = lab.client("management", "cloudtrail")
    trail = cloudtrail.get_trail(Name=org.TRAIL_ORG)["Trail"]
    assert trail["IsMultiRegionTrail"] and trail["IsOrganizationTrail"] and trail["LogFileValidationEnabled"]
    assert trail["S3BucketName"] == org.BUCKET_ORG_TRAIL
    assert trail["KmsKeyId"] == lab.result.resources[f"management/kms-arn/{org.KMS_ALIAS_ORG_TRAIL}"]
    assert cloudtrail.get_trail_status(Name=org.TRAIL_ORG)["IsLogging"] is True


def test_prod_trail_single_region_without_validation_with_data_events(lab: Seeded) -> None:
    cloudtrail = lab.client("prod", "cloudtrail")
    trail = cloudtrail.get_trail(Name=org.TRAIL_PROD)["Trail"]
    assert trail["IsMultiRegionTrail"] is False and trail["LogFileValidationEnabled"] is False
    assert trail["S3BucketName"] == org.BUCKET_PROD_TRAIL
    assert cloudtrail.get_trail_status(Name=org.TRAIL_PROD)["IsLogging"] is True
    selectors = cloudtrail.get_event_selectors(TrailName=org.TRAIL_PROD)["EventSelectors"]
    assert selectors[0]["DataResources"] == [
        {"Type": "AWS::S3::Object", "Values": [f"arn:aws:s3:::{org.BUCKET_PUBLIC_POLICY}/"]}
    ]


def test_guardduty_on_in_management_and_prod_off_in_dev(lab: Seeded) -> None:
    for alias in ("management", "prod"):
        for region in (org.HOME_REGION, org.SECOND_REGION):
            guardduty = lab.client(alias, "guardduty", region)
            detectors = guardduty.list_detectors()["DetectorIds"]
            assert detectors == [lab.result.resources[f"{alias}/guardduty/{region}"]]
            assert guardduty.get_detector(DetectorId=detectors[0])["Status"] == "ENABLED"
    assert lab.client("dev", "guardduty").list_detectors()["DetectorIds"] == []


def test_dns_query_logging_to_the_dns_bucket(lab: Seeded) -> None:
    resolver = lab.client("prod", "route53resolver")
    config_id = lab.result.resources["prod/resolver-query-log-config/prod-main-dns"]
    config = resolver.get_resolver_query_log_config(ResolverQueryLogConfigId=config_id)["ResolverQueryLogConfig"]
    assert config["DestinationArn"] == f"arn:aws:s3:::{org.BUCKET_DNS_LOGS}"
    associations = resolver.list_resolver_query_log_config_associations()["ResolverQueryLogConfigAssociations"]
    assert [(a["ResolverQueryLogConfigId"], a["ResourceId"]) for a in associations] == [
        (config_id, lab.result.resources["prod/vpc/main"])
    ]


# --- data services ---------------------------------------------------------------------------------


def test_rds_public_unencrypted_and_private_encrypted(lab: Seeded) -> None:
    rds = lab.client("prod", "rds")
    public = rds.describe_db_instances(DBInstanceIdentifier=org.RDS_PUBLIC)["DBInstances"][0]
    assert public["PubliclyAccessible"] is True and public["StorageEncrypted"] is False
    private = rds.describe_db_instances(DBInstanceIdentifier=org.RDS_PRIVATE)["DBInstances"][0]
    assert private["PubliclyAccessible"] is False and private["StorageEncrypted"] is True
    assert private["MultiAZ"] is True and private["DeletionProtection"] is True


def test_lambda_public_policy_and_secrets_in_environment(lab: Seeded) -> None:
    lam = lab.client("prod", "lambda")
    policy = json.loads(lam.get_policy(FunctionName=org.LAMBDA_PUBLIC)["Policy"])
    statement = policy["Statement"][0]
    assert statement["Principal"] == "*" and statement["Action"] == "lambda:InvokeFunction"
    variables = lam.get_function_configuration(FunctionName=org.LAMBDA_PUBLIC)["Environment"]["Variables"]
    assert variables["STRIPE_API_KEY"].startswith("sk_live_") and len(variables["STRIPE_API_KEY"]) == 32
    assert variables["DB_PASSWORD"] == fake_secret("prod/rds/orders-master", 24)


def test_ecr_scan_on_push(lab: Seeded) -> None:
    ecr = lab.client("prod", "ecr")
    repos = {r["repositoryName"]: r for r in ecr.describe_repositories()["repositories"]}
    assert repos[org.ECR_NO_SCAN]["imageScanningConfiguration"]["scanOnPush"] is False
    assert repos[org.ECR_SCANNED]["imageScanningConfiguration"]["scanOnPush"] is True
    assert repos[org.ECR_SCANNED]["imageTagMutability"] == "IMMUTABLE"


def test_seeding_leaves_no_cloudtrail_records(lab: Seeded) -> None:
    # Seeding runs before recording: what the tests did since may be recorded, what the seeder did not.
    LabClient(lab.endpoint).flush()
    names = set()
    for path in lab.state_dir.rglob("*.json.gz"):
        records = json.loads(gzip.decompress(path.read_bytes()))["Records"]
        # The refused second seeding (test above) is recorded, with its error: that one is expected.
        names |= {record["eventName"] for record in records if "errorCode" not in record}
    seeder_only = {"CreateOrganization", "CreateAccount", "CreateUser", "RunInstances", "CreateBucket", "CreateTrail"}
    assert names & seeder_only == set()
    assert "seed.json" in os.listdir(lab.state_dir)


def test_remaining_documented_weaknesses(lab: Seeded) -> None:
    prod_iam, dev_iam = lab.client("prod", "iam"), lab.client("dev", "iam")
    assert prod_iam.get_role(RoleName=org.ROLE_SUPPORT)["Role"]["RoleName"] == org.ROLE_SUPPORT
    with pytest.raises(ClientError):
        dev_iam.get_role(RoleName=org.ROLE_SUPPORT)
    assert prod_iam.list_user_policies(UserName=org.USER_CI)["PolicyNames"] == ["assume-ci-deploy"]
    dev_bob = _credential_report(lab, "dev")[org.USER_BOB]
    assert _age_days(lab, dev_bob["access_key_1_last_rotated"]) == pytest.approx(200, abs=0.01)
    assert lab.client("dev", "ec2").get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is False
    assert "KmsKeyId" not in lab.client("prod", "cloudtrail").get_trail(Name=org.TRAIL_PROD)["Trail"]
    reporting = lab.client("prod", "rds").describe_db_instances(DBInstanceIdentifier=org.RDS_PUBLIC)["DBInstances"][0]
    assert reporting["MultiAZ"] is False
    ecr = lab.client("prod", "ecr")
    web = ecr.describe_repositories(repositoryNames=[org.ECR_NO_SCAN])["repositories"][0]
    assert web["imageTagMutability"] == "MUTABLE"
    with pytest.raises(ClientError) as no_lifecycle:
        ecr.get_lifecycle_policy(repositoryName=org.ECR_NO_SCAN)
    assert no_lifecycle.value.response["Error"]["Code"] == "LifecyclePolicyNotFoundException"
    management_bpa = lab.client("management", "s3control").get_public_access_block(AccountId=org.MANAGEMENT)
    assert all(management_bpa["PublicAccessBlockConfiguration"].values())
