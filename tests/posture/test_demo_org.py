"""The seeded demo organisation, collected and evaluated: every weakness in docs/demo-org.md yields its FAIL,
and the resources configured well on purpose pass the same controls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding
from cloudwarden.inventory.stage import collect_snapshot
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.server import Lab
from cloudwarden.posture.evaluate import evaluate
from cloudwarden.store import resources as snapshots
from cloudwarden.store.store import Store

pytestmark = pytest.mark.lab
PROD, DEV, MGMT = org.PROD, org.DEV, org.MANAGEMENT
HOME = org.HOME_REGION


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[dict[str, Any]], list[Finding]]]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="demo", flush_interval=3600.0) as lab, \
            Store.open(tmp_path_factory.mktemp("store") / "cw.duckdb") as store:
        result = collect_snapshot(AwsTarget(endpoint_url=lab.endpoint_url), store=store,
                                  role_name=org.MEMBER_ACCESS_ROLE, regions=[HOME, org.SECOND_REGION])
        docs = snapshots.resources(store, result.snapshot_id)
    yield docs, evaluate(docs)


def names(docs: list[dict[str, Any]]) -> dict[str, str]:
    """ARN -> the name docs/demo-org.md uses (KMS keys by alias, default groups by their VPC's name)."""
    out = {d["arn"]: d["name"] for d in docs}
    vpcs = {d["data"].get("VpcId"): d["name"] for d in docs if d["type"] == "AwsEc2Vpc"}
    for d in docs:
        if d["type"] == "AwsIamPolicy":
            out[d["arn"]] = d["data"].get("PolicyName") or d["arn"].rsplit("/", 1)[-1]
        if d["type"] == "AwsKmsKey":
            aliases = (d["calls"].get("ListAliases") or {}).get("Aliases") or []
            if aliases:
                out[d["arn"]] = aliases[0]["AliasName"]
        if d["type"] == "AwsEc2SecurityGroup" and d["data"].get("GroupName") == "default":
            out[d["arn"]] = f"default/{vpcs.get(d['data'].get('VpcId'))}"
    return out


def status(scan: tuple[list[dict[str, Any]], list[Finding]], account: str, control: str, name: str,
           region: str = HOME) -> set[str]:
    docs, findings = scan
    labels = names(docs)
    found = {f.status.value for f in findings if f.account_id == account and f.control_id == control
             and f.region == region and labels.get(f.resource.id) == name}
    assert found, f"no {control} verdict for {name} in {account}/{region}"
    return found


ACCOUNT_NAME = {PROD: PROD, DEV: DEV, MGMT: MGMT}
WEAKNESSES: list[tuple[str, str, str]] = [
    *[(a, c, a) for a in (PROD, DEV) for c in ("IAM.7", "IAM.15", "IAM.16")],
    (PROD, "IAM.5", "bob"), (DEV, "IAM.5", "bob"), (PROD, "IAM.3", "bob"), (DEV, "IAM.3", "bob"),
    (PROD, "CW.IAM.1", "ci-deployer"), (PROD, "IAM.2", "ci-deployer"),
    (PROD, "IAM.1", "legacy-admin"), (PROD, "IAM.2", "legacy-admin"), (PROD, "IAM.3", "legacy-admin"),
    (PROD, "IAM.8", "legacy-admin"), (PROD, "IAM.22", "legacy-admin"),
    (PROD, "IAM.2", "ops-admin"), (PROD, "CW.IAM.2", "ops-admin"),
    # AdministratorAccess is attached in every account (break-glass, ops-admin): IAM.1 per account
    *[(a, "IAM.1", "AdministratorAccess") for a in (MGMT, PROD, DEV)],
    (PROD, "IAM.2", "svc-reporting"), (PROD, "IAM.3", "svc-reporting"), (PROD, "IAM.8", "svc-reporting"),
    (PROD, "IAM.22", "svc-reporting"),
    (PROD, "CW.IAM.3", "cross-account-any"), (PROD, "CW.IAM.4", "vendor-audit"),
    (PROD, "IAM.21", "deploy-permissions"), (DEV, "IAM.18", DEV), (PROD, "S3.1", PROD),
    *[(PROD, c, org.BUCKET_PUBLIC_ACL) for c in ("S3.2", "S3.8", "S3.9", "S3.12", "CW.S3.1")],
    *[(PROD, c, org.BUCKET_PUBLIC_POLICY) for c in ("S3.2", "S3.8", "S3.9")],
    (PROD, "S3.9", org.BUCKET_PROD_TRAIL), (PROD, "CloudTrail.7", org.TRAIL_PROD),
    *[(DEV, c, org.BUCKET_DEV_SCRATCH) for c in ("S3.8", "S3.9", "CW.S3.1")],
    *[(PROD, c, org.BUCKET_PROD_TRAIL if c == "S3.5" else org.TRAIL_PROD) for c in
      ("S3.5", "CloudTrail.2", "CloudTrail.4", "CloudTrail.5")],
    (PROD, "CloudTrail.1", PROD), *[(a, c, a) for a in (PROD, DEV, MGMT) for c in ("S3.22", "S3.23")],
    *[(PROD, c, org.SG_WEB_OPEN) for c in ("EC2.18", "EC2.19", "EC2.53", "EC2.54")],
    (PROD, "EC2.21", org.NACL_ALLOW_ALL), (PROD, "EC2.6", org.VPC_PROD_NO_FLOW_TAG),
    (PROD, "EC2.2", f"default/{org.VPC_PROD_NO_FLOW_TAG}"), (DEV, "EC2.6", org.VPC_DEV_TAG),
    (DEV, "EC2.2", f"default/{org.VPC_DEV_TAG}"), (PROD, "EC2.7", f"{PROD}/{HOME}"), (DEV, "EC2.7", f"{DEV}/{HOME}"),
    (PROD, "EC2.8", org.INSTANCE_WEB_TAG), (PROD, "EC2.3", org.INSTANCE_WEB_TAG),
    (PROD, "EC2.9", org.INSTANCE_WEB_TAG), (PROD, "CW.NET.1", org.INSTANCE_WEB_TAG),
    (PROD, "CW.EC2.5", org.INSTANCE_WEB_TAG), (PROD, "EC2.1", org.SNAPSHOT_PUBLIC_TAG),
    (PROD, "CW.EC2.4", org.SNAPSHOT_PUBLIC_TAG), (PROD, "CW.EC2.3", org.AMI_PUBLIC),
    (PROD, "KMS.4", org.KMS_ALIAS_NOT_ROTATED), (PROD, "KMS.5", org.KMS_ALIAS_PUBLIC),
    (PROD, "SecretsManager.1", org.SECRET_DB), (PROD, "CW.SSM.1", org.SSM_PLAINTEXT_PASSWORD),
    *[(PROD, c, org.RDS_PUBLIC) for c in ("RDS.2", "RDS.3", "RDS.5")],
    (PROD, "Lambda.1", org.LAMBDA_PUBLIC), (PROD, "CW.Lambda.1", org.LAMBDA_PUBLIC),
    *[(PROD, c, org.ECR_NO_SCAN) for c in ("ECR.1", "ECR.2", "ECR.3")],
    *[(a, c, a) for a in (PROD, DEV, MGMT) for c in ("IAM.9", "IAM.6")],
    *[(a, "Config.1", f"{a}/{HOME}") for a in (PROD, DEV, MGMT)],
]
DEV_GUARDDUTY = [(DEV, "GuardDuty.1", f"{DEV}/{r}", r) for r in (HOME, org.SECOND_REGION)]


@pytest.mark.parametrize(("account", "control", "name"), WEAKNESSES,
                         ids=[f"{a[-4:]}-{c}-{n}" for a, c, n in WEAKNESSES])
def test_every_documented_weakness_fails(scanned: Any, account: str, control: str, name: str) -> None:
    assert "FAILED" in status(scanned, account, control, name)


@pytest.mark.parametrize(("account", "control", "name", "region"), DEV_GUARDDUTY)
def test_dev_has_no_guardduty_in_any_region(scanned: Any, account: str, control: str, name: str,
                                            region: str) -> None:
    assert status(scanned, account, control, name, region) == {"FAILED"}


WELL_CONFIGURED: list[tuple[str, str, str]] = [
    *[(MGMT, c, MGMT) for c in ("IAM.7", "IAM.15", "IAM.16", "IAM.18", "S3.1", "CloudTrail.1")],
    (MGMT, "IAM.1", "AWSSupportAccess"), (MGMT, "IAM.27", "break-glass"),
    (MGMT, "EC2.7", f"{MGMT}/{HOME}"), (DEV, "S3.1", DEV), (PROD, "IAM.18", PROD),
    *[(MGMT, c, org.TRAIL_ORG) for c in ("CloudTrail.2", "CloudTrail.4", "CloudTrail.7")],
    *[(MGMT, c, org.BUCKET_ORG_TRAIL) for c in ("S3.2", "S3.8", "S3.9", "CW.S3.1")],
    *[(PROD, c, "alice") for c in ("IAM.5", "IAM.2", "IAM.3", "IAM.8", "IAM.22", "CW.IAM.1", "CW.IAM.2")],
    (DEV, "IAM.5", "alice"), (PROD, "IAM.5", "ops-admin"),
    *[(PROD, c, org.BUCKET_DATA) for c in ("S3.2", "S3.8", "S3.9", "CW.S3.1", "S3.12")],
    (PROD, "EC2.6", org.VPC_PROD_TAG), (PROD, "EC2.2", f"default/{org.VPC_PROD_TAG}"),
    (PROD, "EC2.21", org.NACL_RESTRICTED),
    *[(PROD, c, org.INSTANCE_WORKER_TAG) for c in ("EC2.8", "EC2.3", "EC2.9", "CW.NET.1", "CW.EC2.5")],
    (PROD, "EC2.1", org.SNAPSHOT_PRIVATE_TAG), (PROD, "CW.EC2.4", org.SNAPSHOT_PRIVATE_TAG),
    (PROD, "SecretsManager.1", org.SECRET_ROTATED), (PROD, "CW.SSM.1", org.SSM_SECURE),
    *[(PROD, c, org.RDS_PRIVATE) for c in ("RDS.2", "RDS.3", "RDS.5", "RDS.8", "RDS.10", "CW.NET.2")],
    *[(PROD, c, org.ECR_SCANNED) for c in ("ECR.1", "ECR.2", "ECR.3")], (PROD, "KMS.4", org.KMS_ALIAS_ROTATED),
    *[(PROD, c, org.SG_WEB_PUBLIC) for c in ("EC2.18", "EC2.19", "EC2.53", "EC2.54")],
    *[(a, "GuardDuty.1", f"{a}/{r}") for a in (MGMT, PROD) for r in (HOME, org.SECOND_REGION)],
]


@pytest.mark.parametrize(("account", "control", "name"), WELL_CONFIGURED,
                         ids=[f"{a[-4:]}-{c}-{n}" for a, c, n in WELL_CONFIGURED])
def test_well_configured_resources_pass(scanned: Any, account: str, control: str, name: str) -> None:
    region = name.split("/")[-1] if name.startswith(account + "/") else HOME
    assert status(scanned, account, control, name, region) == {"PASSED"}


def test_no_verdict_is_lost(scanned: Any) -> None:
    """Every control reached a verdict (or said why not) in every account it applies to."""
    _, findings = scanned
    accounts = {f.account_id for f in findings}
    assert {PROD, DEV, MGMT} <= accounts
    unreachable = [f for f in findings if f.status.value == "NOT_AVAILABLE"]
    assert all(f.description for f in unreachable)
