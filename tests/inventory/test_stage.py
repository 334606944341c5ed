"""collect_snapshot over the seeded demo organisation: real documents, as the snapshot contract describes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.inventory.stage import CollectOptions, ProgressEvent, SnapshotResult, collect_snapshot
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.seed.context import fake_secret
from cloudwarden.lab.server import Lab
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="demo", flush_interval=3600.0) as running:
        yield running


@pytest.fixture(scope="module")
def scanned(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, SnapshotResult,
                                                                                   list[ProgressEvent]]]:
    events: list[ProgressEvent] = []
    with Store.open(tmp_path_factory.mktemp("store") / "cw.duckdb") as store:
        result = collect_snapshot(
            AwsTarget(endpoint_url=lab.endpoint_url), store=store, role_name=org.MEMBER_ACCESS_ROLE,
            regions=[org.HOME_REGION, org.SECOND_REGION], progress=events.append,
        )
        yield store, result, events


@pytest.fixture(scope="module")
def docs(scanned: tuple[Store, SnapshotResult, list[ProgressEvent]]) -> list[dict[str, Any]]:
    store, result, _ = scanned
    return snapshots.resources(store, result.snapshot_id)


def one(docs: list[dict[str, Any]], type_: str, account: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["type"] == type_ and d["account"] == account and d["name"] == name]
    assert len(found) == 1, f"{len(found)} {type_} {name} in {account}"
    return found[0]


def test_every_member_account_and_region_is_covered(scanned: tuple[Store, SnapshotResult, list[ProgressEvent]],
                                                    docs: list[dict[str, Any]]) -> None:
    _, result, events = scanned
    assert set(result.accounts) == {org.MANAGEMENT, org.PROD, org.DEV}
    regions = {(d["account"], d["region"]) for d in docs if d["type"] == "AwsAccountRegion"}
    assert regions == {(a, r) for a in result.accounts for r in (org.HOME_REGION, org.SECOND_REGION)}
    planned = [e for e in events if e.kind == "planned"]
    finished = [e for e in events if e.kind == "finished"]
    assert len(planned) == len(finished) > 50
    assert sum(e.resources for e in finished) >= result.total_resources


def test_document_shape_is_the_contracts(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        assert set(doc) == {"arn", "type", "account", "region", "name", "tags", "data", "calls"}, doc["arn"]
        for answer in doc["calls"].values():
            assert "ResponseMetadata" not in answer
    instance = one(docs, "AwsEc2Instance", org.PROD, org.INSTANCE_WEB_TAG)
    assert instance["tags"]["Environment"] == "prod"
    assert isinstance(instance["data"]["LaunchTime"], str)  # datetimes as ISO-8601 strings
    assert instance["arn"].startswith(f"arn:aws:ec2:{org.HOME_REGION}:{org.PROD}:instance/i-")


def test_bobs_credential_report_row_shows_an_old_access_key(docs: list[dict[str, Any]]) -> None:
    account = one(docs, "AwsAccount", org.PROD, org.PROD)
    rows = {row["user"]: row for row in account["calls"]["GetCredentialReport"]["rows"]}
    bob = rows[org.USER_BOB]
    rotated = datetime.fromisoformat(bob["access_key_1_last_rotated"])
    assert bob["access_key_1_active"] == "true" and bob["mfa_active"] == "false"
    assert datetime.now(UTC) - rotated > timedelta(days=365)
    assert datetime.now(UTC) - datetime.fromisoformat(rows[org.USER_ALICE]["access_key_1_last_rotated"]) < timedelta(
        days=90)
    assert account["arn"] == f"arn:aws:iam::{org.PROD}:root"


def test_account_block_public_access_comes_through_the_s3_control_host_fix(docs: list[dict[str, Any]]) -> None:
    prod = one(docs, "AwsAccount", org.PROD, org.PROD)["calls"]["GetPublicAccessBlock"]
    dev = one(docs, "AwsAccount", org.DEV, org.DEV)["calls"]["GetPublicAccessBlock"]
    assert prod["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is False
    assert dev["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def test_public_bucket_policy_is_decoded_and_not_configured_answers_stay_errors(docs: list[dict[str, Any]]) -> None:
    bucket = one(docs, "AwsS3Bucket", org.PROD, org.BUCKET_PUBLIC_POLICY)
    policy = bucket["calls"]["GetBucketPolicy"]
    assert isinstance(policy["Policy"], str)
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Principal"] == "*" and statement["Action"] == "s3:GetObject"
    assert bucket["calls"]["GetPublicAccessBlock"]["error"]["code"] == "NoSuchPublicAccessBlockConfiguration"
    assert bucket["region"] == org.HOME_REGION and bucket["data"]["BucketRegion"] == org.HOME_REGION
    scratch = one(docs, "AwsS3Bucket", org.DEV, org.BUCKET_DEV_SCRATCH)
    assert scratch["calls"]["GetBucketEncryption"]["error"]["code"] == "ServerSideEncryptionConfigurationNotFoundError"


def test_kms_rotation_of_the_legacy_key_is_false(docs: list[dict[str, Any]]) -> None:
    def by_alias(alias: str) -> dict[str, Any]:
        keys = [d for d in docs if d["type"] == "AwsKmsKey"
                and alias in [a["AliasName"] for a in d["calls"]["ListAliases"].get("Aliases", [])]]
        assert len(keys) == 1
        return keys[0]

    assert by_alias(org.KMS_ALIAS_NOT_ROTATED)["calls"]["GetKeyRotationStatus"]["KeyRotationEnabled"] is False
    assert by_alias(org.KMS_ALIAS_ROTATED)["calls"]["GetKeyRotationStatus"]["KeyRotationEnabled"] is True
    shared = by_alias(org.KMS_ALIAS_PUBLIC)["calls"]["GetKeyPolicy"]["PolicyDocument"]
    assert any(s.get("Principal") in ("*", {"AWS": "*"}) for s in shared["Statement"])


def test_dev_regions_store_an_empty_detector_list(docs: list[dict[str, Any]]) -> None:
    for region in (org.HOME_REGION, org.SECOND_REGION):
        dev = one(docs, "AwsAccountRegion", org.DEV, f"{org.DEV}/{region}")
        assert dev["calls"]["ListDetectors"] == {"DetectorIds": []}
        prod = one(docs, "AwsAccountRegion", org.PROD, f"{org.PROD}/{region}")
        assert len(prod["calls"]["ListDetectors"]["DetectorIds"]) == 1
    detectors = [d for d in docs if d["type"] == "AwsGuardDutyDetector"]
    assert {d["account"] for d in detectors} == {org.MANAGEMENT, org.PROD}
    assert all(d["calls"]["GetDetector"]["Status"] == "ENABLED" for d in detectors)


def test_secrets_are_verdicts_never_values(docs: list[dict[str, Any]]) -> None:
    parameter = one(docs, "AwsSsmParameter", org.PROD, org.SSM_PLAINTEXT_PASSWORD)
    assert parameter["calls"]["GetParameter_plaintext_check"]["looks_secret"] is True
    flags = one(docs, "AwsSsmParameter", org.PROD, "/prod/app/feature_flags")
    assert flags["calls"]["GetParameter_plaintext_check"]["looks_secret"] is False
    assert "GetParameter_plaintext_check" not in one(docs, "AwsSsmParameter", org.PROD, org.SSM_SECURE)["calls"]
    function = one(docs, "AwsLambdaFunction", org.PROD, org.LAMBDA_PUBLIC)
    variables = function["data"]["Environment"]["Variables"]
    assert variables["DB_PASSWORD"]["looks_secret"] and variables["STRIPE_API_KEY"]["looks_secret"]
    assert variables["APP_ENV"]["looks_secret"] is False
    assert function["calls"]["GetPolicy"]["PolicyDocument"]["Statement"][0]["Principal"] == "*"
    user_data = one(docs, "AwsEc2Instance", org.PROD, org.INSTANCE_WEB_TAG)["calls"][
        "DescribeInstanceAttribute_userData"]
    assert user_data["plaintext_check"]["looks_secret"] is True
    assert "DB_PASSWORD=****" in user_data["UserDataText"] and "DB_USER=reporting_admin" in user_data["UserDataText"]
    everything = json.dumps(docs)
    for purpose, length in (("prod/rds/orders-master", 24), ("prod/rds/reporting-master", 20),
                            ("prod/payments/stripe", 24), ("prod/app/api-token", 40)):
        assert fake_secret(purpose, length) not in everything, purpose
    assert "Base32StringSeed" not in everything and "QRCodePNG" not in everything


def test_iam_comes_from_authorization_details_with_per_user_calls(docs: list[dict[str, Any]]) -> None:
    legacy = one(docs, "AwsIamUser", org.PROD, org.USER_LEGACY_ADMIN)
    inline = legacy["data"]["UserPolicyList"][0]["PolicyDocument"]
    assert inline["Statement"][0]["Action"] == "*"
    assert legacy["region"] == "us-east-1"
    bob = one(docs, "AwsIamUser", org.PROD, org.USER_BOB)
    key_id = bob["calls"]["ListAccessKeys"]["AccessKeyMetadata"][0]["AccessKeyId"]
    assert "AccessKeyLastUsed" in bob["calls"]["GetAccessKeyLastUsed"][key_id]
    assert bob["calls"]["ListMFADevices"]["MFADevices"] == []
    assert "LoginProfile" in bob["calls"]["GetLoginProfile"]
    trust = one(docs, "AwsIamRole", org.PROD, org.ROLE_TRUST_ANY)["data"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"AWS": "*"}
    admin = [d for d in docs if d["arn"] == "arn:aws:iam::aws:policy/AdministratorAccess"]
    assert len(admin) == 1 and admin[0]["account"] == "aws"
    assert set(admin[0]["data"]["AttachedInAccounts"]) >= {org.PROD, org.DEV}
    assert admin[0]["data"]["PolicyVersionList"][0]["Document"]["Statement"][0]["Action"] == "*"


def test_organizations_only_from_the_management_account(docs: list[dict[str, Any]]) -> None:
    accounts = [d for d in docs if d["type"] == "AwsOrganizationsAccount"]
    assert {d["account"] for d in accounts} == {org.MANAGEMENT}
    paths = {d["data"]["Id"]: d["data"]["Path"] for d in accounts}
    assert paths[org.PROD] == f"/{org.OU_WORKLOADS}/{org.OU_PROD}/"
    scp = one(docs, "AwsOrganizationsPolicy", org.MANAGEMENT, org.SCP_PROTECT_SECURITY)
    assert scp["calls"]["DescribePolicy"]["PolicyDocument"]["Statement"]
    assert [t["Name"] for t in scp["calls"]["ListTargetsForPolicy"]["Targets"]] == [org.OU_WORKLOADS]


def test_network_and_snapshot_details(docs: list[dict[str, Any]]) -> None:
    snapshot = one(docs, "AwsEc2Snapshot", org.PROD, org.SNAPSHOT_PUBLIC_TAG)
    assert snapshot["calls"]["DescribeSnapshotAttribute_createVolumePermission"]["CreateVolumePermissions"] == [
        {"Group": "all"}]
    image = one(docs, "AwsEc2Image", org.PROD, org.AMI_PUBLIC)
    assert image["calls"]["DescribeImageAttribute_launchPermission"]["LaunchPermissions"] == [{"Group": "all"}]
    legacy = one(docs, "AwsEc2Vpc", org.PROD, org.VPC_PROD_NO_FLOW_TAG)
    main = one(docs, "AwsEc2Vpc", org.PROD, org.VPC_PROD_TAG)
    assert legacy["calls"]["DescribeFlowLogs"]["FlowLogs"] == []
    assert len(main["calls"]["DescribeFlowLogs"]["FlowLogs"]) == 1
    trail = one(docs, "AwsCloudTrailTrail", org.PROD, org.TRAIL_PROD)
    assert trail["calls"]["GetTrailStatus"]["IsLogging"] is True
    assert trail["data"]["LogFileValidationEnabled"] is False


def test_errors_and_calls_are_recorded_in_the_snapshot(
    scanned: tuple[Store, SnapshotResult, list[ProgressEvent]],
) -> None:
    store, result, _ = scanned
    status = snapshots.snapshot_status(store, result.snapshot_id)
    assert status is not None
    assert status == (result.status, result.errors)
    # the lab does not implement every API: those calls are errors, never empty answers
    assert result.status == "partial"
    assert {"account", "region", "service", "operation", "code", "message"} == set(result.errors[0])
    assert not [e for e in result.errors if e["code"] in ("AccessDenied", "KeyError", "TypeError")]
    assert result.api_calls == sum(result.api_calls_by_service.values()) > 300
    assert result.api_calls_by_service["iam"] > 20
    assert snapshots.latest_snapshot_id(store) == result.snapshot_id


def test_caps_cut_a_type_and_say_so(lab: Lab, tmp_path: Path) -> None:
    with Store.open(tmp_path / "cw.duckdb") as store:
        result = collect_snapshot(AwsTarget(endpoint_url=lab.endpoint_url), store=store, services=["ec2"],
                                  accounts=None, options=CollectOptions(caps={"AwsEc2Subnet": 2}))
        subnets = snapshots.resources(store, result.snapshot_id, types="AwsEc2Subnet")
    assert len(subnets) == 2
    assert result.accounts == (org.MANAGEMENT,)
    capped = [e for e in result.errors if e["code"] == "CapReached"]
    assert [e["operation"] for e in capped] == ["DescribeSubnets"]
