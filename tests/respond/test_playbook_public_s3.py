"""public-s3-bucket end to end on the lab, after the public-s3-exposure scenario.

One seeded lab for the module. The fixture plays the scenario, adds what a real bucket also holds (a
statement for the account itself, a "Principal *" statement narrowed to a VPC endpoint, a public-read
ACL grant), builds the finding by running the shipped detection rules over the lab's CloudTrail, then
responds: dry run, execute waiting for approval, execute with auto-approve, run again, roll back, and a
run on a bucket tagged ``cloudwarden:exclude``. The tests assert on the recorded states.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules.loader import load_pack
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios import run_scenario
from cloudwarden.lab.seed import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.respond.actions import EXCLUDE_TAG
from cloudwarden.respond.actions.s3 import TLS_SID
from cloudwarden.respond.records import RunStatus
from cloudwarden.respond.runner import RollbackResult, RunResult, rollback, run_playbook
from cloudwarden.respond.steps import Outcome
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
ROLE = org.MEMBER_ACCESS_ROLE
BUCKET = org.BUCKET_DATA
EXCLUDED = org.BUCKET_PUBLIC_POLICY
INTERNAL = {"Sid": "InternalRead", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{org.PROD}:root"},
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
VPCE = {"Sid": "ThroughEndpoint", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0abc1234"}}}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


class Account:
    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def bucket(self, name: str) -> dict[str, Any]:
        s3 = self.s3
        try:
            block: Any = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except s3.exceptions.ClientError:
            block = None
        try:
            policy: Any = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]
        except s3.exceptions.ClientError:
            policy = None
        try:
            encryption: Any = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        except s3.exceptions.ClientError:
            encryption = None
        grants = sorted((g["Grantee"].get("URI") or g["Grantee"].get("ID", ""), g["Permission"])
                        for g in s3.get_bucket_acl(Bucket=name)["Grants"])
        return {"block": block, "policy": policy, "encryption": encryption, "grants": grants}

    def state(self) -> dict[str, Any]:
        return {BUCKET: self.bucket(BUCKET), EXCLUDED: self.bucket(EXCLUDED)}


@dataclass
class Story:
    finding: Finding
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, RunResult] = field(default_factory=dict)
    rollbacks: dict[str, RollbackResult] = field(default_factory=dict)


def _story(lab: Lab, tmp: Path) -> Story:
    run_scenario("public-s3-exposure", lab.endpoint_url, SeedResult.load(lab.state_dir), lab.client)
    lab.client.flush()
    pack = load_pack()
    detected = run_detection([lab.state_dir / "cloudtrail"], rules=pack.rules, allowlist=pack.allowlist).findings
    finding = next(f for f in detected if f.rule_id == "cw.s3.bucket-public-access-granted")
    creds = lab.aws_client("sts").assume_role(RoleArn=f"arn:aws:iam::{org.PROD}:role/{ROLE}",
                                              RoleSessionName="test-check")["Credentials"]
    s3 = lab.aws_client("s3", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"],
                        session_token=creds["SessionToken"])
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    policy["Statement"] += [INTERNAL, VPCE]
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    s3.put_bucket_tagging(Bucket=EXCLUDED, Tagging={"TagSet": [{"Key": EXCLUDE_TAG, "Value": "legal hold"}]})
    excluded_finding = finding.model_copy(update={"id": "excluded", "resource": finding.resource.model_copy(
        update={"id": f"arn:aws:s3:::{EXCLUDED}"})})
    account = Account(s3)
    story = Story(finding)
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    story.states["start"] = account.state()
    with Store.open(tmp / "store.duckdb") as store:
        def run(label: str, on: Finding, **kwargs: Any) -> None:
            story.runs[label] = run_playbook("public-s3-bucket", on, store=store, target=target,
                                             output_dir=tmp / "out", role_name=ROLE, **kwargs)
            story.states[label] = account.state()

        run("dry", finding)
        run("gated", finding, execute=True)
        run("first", finding, execute=True, auto_approve=True)
        run("second", finding, execute=True, auto_approve=True)
        run("excluded", excluded_finding, execute=True, auto_approve=True)
        for label in ("second", "first"):
            story.rollbacks[label] = rollback(story.runs[label].run_id, store=store, target=target, role_name=ROLE)
        story.states["rolled-back"] = account.state()
    return story


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("respond-s3")
    with Lab(tmp / "lab", seed="demo") as lab:
        yield _story(lab, tmp)


def test_the_finding_names_the_exposed_bucket_and_who_exposed_it(story: Story) -> None:
    assert story.finding.resource.id == f"arn:aws:s3:::{BUCKET}"
    assert story.finding.principal == f"arn:aws:iam::{org.PROD}:user/{org.USER_BOB}"
    start = story.states["start"][BUCKET]
    assert start["block"] is None and (ALL_USERS, "READ") in start["grants"]
    assert [s.get("Sid") for s in start["policy"]] == ["PublicRead", "InternalRead", "ThroughEndpoint"]


def test_dry_run_and_unapproved_execute_change_nothing(story: Story) -> None:
    assert story.runs["dry"].status is RunStatus.PLANNED
    assert story.states["dry"] == story.states["start"]
    steps = {s.path: s for s in story.runs["dry"].steps}
    assert steps["RemovePublicAccess"].changes == [
        f"remove the public statement PublicRead from the policy of bucket {BUCKET}",
        f"remove the ACL grant AllUsers:READ from bucket {BUCKET}"]
    assert steps["Collect"].outcome is Outcome.COLLECTED and steps["Collect"].result["Events"] > 0
    gated = story.runs["gated"]
    assert gated.status is RunStatus.AWAITING_APPROVAL
    assert {p.split("@")[0] for p in gated.pending} == {"RemovePublicAccess", "BlockPublicAccess",
                                                        "DenyInsecureTransport"}
    assert story.states["gated"] == story.states["start"]


def test_execute_removes_only_the_public_parts_and_hardens(story: Story) -> None:
    assert story.runs["first"].status is RunStatus.SUCCEEDED, story.runs["first"].error
    after = story.states["first"][BUCKET]
    assert after["block"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                              "RestrictPublicBuckets": True}
    assert [s.get("Sid") for s in after["policy"]] == ["InternalRead", "ThroughEndpoint", TLS_SID]
    assert after["policy"][0] == INTERNAL and after["policy"][1] == VPCE
    assert after["policy"][2]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert after["grants"] == [g for g in story.states["start"][BUCKET]["grants"] if g[0] != ALL_USERS]
    assert after["encryption"] == story.states["start"][BUCKET]["encryption"]  # already encrypted: untouched


def test_running_again_changes_nothing(story: Story) -> None:
    assert story.runs["second"].status is RunStatus.SUCCEEDED
    assert story.states["second"] == story.states["first"]
    assert [s.path for s in story.runs["second"].steps if s.outcome is Outcome.EXECUTED] == []


def test_an_excluded_bucket_is_never_touched(story: Story) -> None:
    run = story.runs["excluded"]
    assert run.status is RunStatus.SUCCEEDED
    assert story.states["excluded"][EXCLUDED] == story.states["start"][EXCLUDED]
    acted = [s for s in run.steps if s.action.startswith("s3.")]
    assert len(acted) == 4 and all(s.result["Excluded"] == [f"s3-bucket/{EXCLUDED}"] for s in acted)
    assert all(s.changes == [] for s in acted)


def test_rollback_restores_the_bucket_as_found(story: Story) -> None:
    assert story.rollbacks["first"].status is RunStatus.ROLLED_BACK
    assert story.rollbacks["second"].restored == []
    assert story.states["rolled-back"] == story.states["start"]
