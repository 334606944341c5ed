"""Access analysis over the seeded demo organisation (one lab for the module): who-can, can, external and public
access, the ``iam`` stage and the CLI commands, all read from a real collected snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cloudwarden.aws.session import AwsTarget
from cloudwarden.cli import iam_access
from cloudwarden.iam.access import can, who_can
from cloudwarden.iam.catalog import get_catalog
from cloudwarden.iam.external import external_access
from cloudwarden.iam.snapshot import AccessModel
from cloudwarden.iam.stage import iam_stage
from cloudwarden.inventory.stage import collect_snapshot
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.server import Lab
from cloudwarden.pipeline.stages import StageContext
from cloudwarden.store.store import Store

pytestmark = pytest.mark.lab
PROD, DEV, MGMT = org.PROD, org.DEV, org.MANAGEMENT


@dataclass(frozen=True)
class Scanned:
    store_path: Path
    model: AccessModel


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    store_path = tmp_path_factory.mktemp("store") / "cw.duckdb"
    with Lab(tmp_path_factory.mktemp("lab"), seed="demo", flush_interval=3600.0) as lab, \
            Store.open(store_path) as store:
        collect_snapshot(AwsTarget(endpoint_url=lab.endpoint_url), store=store,
                         role_name=org.MEMBER_ACCESS_ROLE, regions=[org.HOME_REGION])
        model = AccessModel.from_store(store)
    yield Scanned(store_path, model)


def user(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def test_model_holds_the_organisation(scanned: Scanned) -> None:
    model = scanned.model
    assert model.errors == ()
    assert model.management_account == MGMT and {PROD, DEV} <= model.org_accounts
    assert model.principal(user(PROD, org.USER_LEGACY_ADMIN)) is not None
    levels = model.org_levels(PROD)
    assert levels.scps is not None and len(levels.scps) >= 3  # root, Workloads, Prod, the account
    assert any(p.label.endswith(org.SCP_PROTECT_SECURITY) for level in levels.scps for p in level)


def test_who_can_read_the_public_exports_bucket(scanned: Scanned) -> None:
    grants = who_can(scanned.model, "s3:GetObject", f"arn:aws:s3:::{org.BUCKET_PUBLIC_POLICY}/exports/day.csv")
    allowed = {g.principal for g in grants if g.decision == "allowed"}
    assert "*" in allowed  # anonymous, through the bucket policy
    assert {user(PROD, org.USER_LEGACY_ADMIN), user(PROD, org.USER_OPS_ADMIN)} <= allowed
    anonymous = next(g for g in grants if g.principal == "*")
    assert any("PartnerDownloads" in s for s in anonymous.statements)


def test_who_can_on_the_well_configured_bucket_excludes_anonymous(scanned: Scanned) -> None:
    grants = who_can(scanned.model, "s3:GetObject", f"arn:aws:s3:::{org.BUCKET_DATA}/k")
    allowed = {g.principal for g in grants if g.decision == "allowed"}
    assert "*" not in allowed and user(PROD, org.USER_OPS_ADMIN) in allowed
    assert user(PROD, org.USER_BOB) in allowed  # ReadOnlyAccess through the developers group
    assert user(DEV, org.USER_BOB) not in allowed  # another account, and the bucket has no policy


def test_scp_stops_admins_from_stopping_cloudtrail(scanned: Scanned) -> None:
    trail = f"arn:aws:cloudtrail:{org.HOME_REGION}:{PROD}:trail/{org.TRAIL_PROD}"
    allowed = {g.principal for g in who_can(scanned.model, "cloudtrail:StopLogging", trail)}
    assert user(PROD, org.USER_LEGACY_ADMIN) not in allowed and user(PROD, org.USER_OPS_ADMIN) not in allowed
    assert f"arn:aws:iam::{PROD}:role/{org.ROLE_BREAK_GLASS}" in allowed  # the exempted role


def test_can_for_legacy_admin_includes_everything_but_what_scps_deny(scanned: Scanned) -> None:
    result = can(scanned.model, user(PROD, org.USER_LEGACY_ADMIN))
    actions = {a for pairs in result.values() for a, _ in pairs}
    every = set(get_catalog().expand_action("*"))
    assert len(actions) > 0.99 * len(every)
    assert {"iam:CreateUser", "s3:DeleteBucket", "kms:ScheduleKeyDeletion"} <= actions
    assert "cloudtrail:StopLogging" not in actions  # protect-security-services
    assert {"Permissions management", "Write", "Read", "List"} <= set(result)


def test_can_for_a_developer_is_narrow(scanned: Scanned) -> None:
    result = can(scanned.model, user(PROD, org.USER_ALICE), service="s3")
    writes = result.get("Write", [])
    assert writes == [("s3:PutObject", f"arn:aws:s3:::{org.BUCKET_PUBLIC_ACL}/*")]
    assert "Permissions management" not in result


def test_external_access_on_the_demo_org(scanned: Scanned) -> None:
    items, undecided = external_access(scanned.model)
    assert undecided == []
    found = {(i.name, i.type) for i in items}
    assert (org.BUCKET_PUBLIC_POLICY, "ExternalAccess:S3Bucket/Public") in found
    assert (org.BUCKET_PUBLIC_ACL, "ExternalAccess:S3Bucket/Public") in found
    assert (org.KMS_ALIAS_PUBLIC, "ExternalAccess:KMSKey/Public") in found
    assert (org.LAMBDA_PUBLIC, "ExternalAccess:LambdaFunction/Public") in found
    assert (org.ROLE_TRUST_ANY, "ExternalAccess:IAMRole/Public") in found
    vendor = next(i for i in items if i.name == org.ROLE_VENDOR)
    assert vendor.type == "ExternalAccess:IAMRole/CrossAccount" and vendor.grantees == (org.EXTERNAL_ACCOUNT,)
    names = {i.name for i in items}
    assert org.BUCKET_DATA not in names
    assert org.MEMBER_ACCESS_ROLE not in names  # trusts the management account: inside the organisation
    assert org.BUCKET_PROD_TRAIL not in names  # CloudTrail's grant is pinned with aws:SourceArn


def test_iam_stage_returns_external_findings(scanned: Scanned, tmp_path: Path) -> None:
    ctx = StageContext(target=AwsTarget(endpoint_url="http://127.0.0.1:1"), accounts={}, store_path=scanned.store_path,
                       run_id="r1", output_dir=tmp_path)
    result = iam_stage(ctx)
    types = {f.type for f in result.findings if f.source.value == "iam"}
    assert "ExternalAccess:KMSKey/Public" in types and "ExternalAccess:IAMRole/CrossAccount" in types
    public_bucket = next(f for f in result.findings if f.resource.id == f"arn:aws:s3:::{org.BUCKET_PUBLIC_POLICY}")
    assert public_bucket.frameworks == {"fsbp": ["S3.2"]}
    assert public_bucket.evidence.details["statements"][0]["Sid"] == "PartnerDownloads"
    assert result.stats["principals"] == len(scanned.model.principals)
    assert "paths" in result.stats


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("who-can")(iam_access.who_can)
    app.command("can")(iam_access.can)
    app.command("external")(iam_access.external)
    return app


def test_cli_commands(scanned: Scanned, tmp_path: Path) -> None:
    runner = CliRunner()
    store = str(scanned.store_path)
    result = runner.invoke(_cli(), ["who-can", "s3:GetObject", f"arn:aws:s3:::{org.BUCKET_PUBLIC_POLICY}/k",
                                    "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    assert "*" in {g["principal"] for g in json.loads(result.stdout)["grants"]}
    result = runner.invoke(_cli(), ["can", user(PROD, org.USER_ALICE), "--service", "s3", "--store", store])
    assert result.exit_code == 0, result.output
    assert "Write" in result.stdout
    result = runner.invoke(_cli(), ["external", "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    assert {f["name"] for f in json.loads(result.stdout)["findings"]} >= {org.ROLE_VENDOR, org.KMS_ALIAS_PUBLIC}
    result = runner.invoke(_cli(), ["can", user(PROD, "nobody-here"), "--store", store])
    assert result.exit_code == 2 and "not a user or role" in result.output
    empty = tmp_path / "empty.duckdb"
    Store.open(empty).close()
    for args in (["external"], ["who-can", "s3:GetObject", "*"], ["can", user(PROD, org.USER_ALICE)]):
        result = runner.invoke(_cli(), [*args, "--store", str(empty)])
        assert result.exit_code == 2 and "cloudwarden scan" in result.output
