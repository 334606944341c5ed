"""ec2-malware and security-group-opened end to end on the lab, after the ec2-compromise scenario.

One seeded lab for the module. The fixture plays the scenario, builds the findings (the security-group
one by running the shipped detection rules over the lab's CloudTrail, the instance one as GuardDuty
would report web-1), then responds as a person would and records the account's state after each step:
dry run, execute with auto-approve, run again, roll back. The tests assert on that record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cloudwarden.aws.session import AwsTarget
from cloudwarden.cli.respond import app
from cloudwarden.core.finding import Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules.loader import load_pack
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios import run_scenario
from cloudwarden.lab.seed import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.respond.actions.aws import CASE_TAG
from cloudwarden.respond.actions.ec2 import ISOLATION_GROUP, STATUS_TAG
from cloudwarden.respond.asl import validate
from cloudwarden.respond.case import verify_manifest
from cloudwarden.respond.records import RunStatus
from cloudwarden.respond.runner import RollbackResult, RunResult, rollback, run_playbook
from cloudwarden.respond.steps import Outcome
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
ROLE = org.MEMBER_ACCESS_ROLE
PREFIX = "arn:aws:lambda:us-east-1:111122223333:function:cw-"


class Account:
    """The prod account's EC2 as its administrator sees it."""

    def __init__(self, ec2: Any, web: str, worker_sg: str, case: str) -> None:
        self.ec2, self.web, self.worker_sg, self.case = ec2, web, worker_sg, case

    def instance(self) -> dict[str, Any]:
        found = self.ec2.describe_instances(InstanceIds=[self.web])["Reservations"][0]["Instances"][0]
        protection = self.ec2.describe_instance_attribute(InstanceId=self.web, Attribute="disableApiTermination")
        profiles = self.ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [self.web]}])["IamInstanceProfileAssociations"]
        snapshots = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": f"tag:{CASE_TAG}", "Values": [self.case]}])["Snapshots"]
        return {
            "state": found["State"]["Name"],
            "tags": {t["Key"]: t["Value"] for t in found.get("Tags", []) if t["Key"].startswith("cloudwarden:")},
            "protected": protection["DisableApiTermination"]["Value"],
            "delete_on_termination": {m["DeviceName"]: m["Ebs"]["DeleteOnTermination"]
                                      for m in found["BlockDeviceMappings"]},
            "groups": sorted(g["GroupId"] for g in found["SecurityGroups"]),
            "profiles": [a["IamInstanceProfile"]["Arn"] for a in profiles if a["State"] == "associated"],
            "case_snapshots": sorted(s["VolumeId"] for s in snapshots),
        }

    def worker_rules(self) -> list[tuple[Any, ...]]:
        """One (protocol, from, to, source) per rule: sources are CIDRs or group ids."""
        group = self.ec2.describe_security_groups(GroupIds=[self.worker_sg])["SecurityGroups"][0]
        return sorted((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), source)
                      for p in group["IpPermissions"]
                      for source in [*(r["CidrIp"] for r in p.get("IpRanges", [])),
                                     *(g["GroupId"] for g in p.get("UserIdGroupPairs", []))])

    def isolation_groups(self) -> list[str]:
        return [g["GroupId"] for g in self.ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [ISOLATION_GROUP]}])["SecurityGroups"]]


@dataclass
class Story:
    tmp: Path
    web: str
    web_volumes: list[str]
    sg_finding: Finding
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, RunResult] = field(default_factory=dict)
    rollbacks: dict[str, RollbackResult] = field(default_factory=dict)
    cli: dict[str, Any] = field(default_factory=dict)
    web_user_data_password: str = ""


def _story(lab: Lab, tmp: Path) -> Story:
    seed = SeedResult.load(lab.state_dir)
    run_scenario("ec2-compromise", lab.endpoint_url, seed, lab.client)
    lab.client.flush()
    pack = load_pack()
    detected = run_detection([lab.state_dir / "cloudtrail"], rules=pack.rules, allowlist=pack.allowlist).findings
    sg_finding = next(f for f in detected if f.rule_id == "cw.ec2.security-group-open-to-world")
    web = seed.resources[f"prod/instance/{org.INSTANCE_WEB_TAG}"]
    instance_finding = Finding.create(
        source=Source.DETECT, rule_id="ec2-crypto-mining", type="CryptoCurrency:EC2/BitcoinTool.B",
        title=f"{org.INSTANCE_WEB_TAG} talks to mining pools", severity=Severity.HIGH, account_id=org.PROD,
        region=org.HOME_REGION, resource=ResourceRef(type="AwsEc2Instance",
                                                     id=f"arn:aws:ec2:{org.HOME_REGION}:{org.PROD}:instance/{web}"),
        principal=f"arn:aws:sts::{org.PROD}:assumed-role/{org.ROLE_APP_INSTANCE}/{web}", mitre=["T1496"])
    creds = lab.aws_client("sts").assume_role(RoleArn=f"arn:aws:iam::{org.PROD}:role/{ROLE}",
                                              RoleSessionName="test-check")["Credentials"]
    ec2 = lab.aws_client("ec2", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"],
                         session_token=creds["SessionToken"])
    account = Account(ec2, web, sg_finding.resource.id, instance_finding.id)
    story = Story(tmp, web, [seed.resources["prod/volume/web-1-root"], seed.resources["prod/volume/web-1-data"]],
                  sg_finding)
    target = AwsTarget(endpoint_url=lab.endpoint_url)

    def state() -> dict[str, Any]:
        return {"web": account.instance(), "worker_rules": account.worker_rules(),
                "isolation_groups": account.isolation_groups()}

    story.states["start"] = state()
    with Store.open(tmp / "store.duckdb") as store:
        def run(label: str, playbook: str, finding: Finding, **kwargs: Any) -> None:
            story.runs[label] = run_playbook(playbook, finding, store=store, target=target, output_dir=tmp / "out",
                                             role_name=ROLE, **kwargs)
            story.states[label] = state()

        run("ec2-dry", "ec2-malware", instance_finding)
        run("ec2-first", "ec2-malware", instance_finding, execute=True, auto_approve=True)
        run("ec2-second", "ec2-malware", instance_finding, execute=True, auto_approve=True)
        run("sg-dry", "security-group-opened", sg_finding)
        run("sg-first", "security-group-opened", sg_finding, execute=True, auto_approve=True)
        run("sg-second", "security-group-opened", sg_finding, execute=True, auto_approve=True)
        for label in ("ec2-second", "ec2-first", "sg-first"):
            story.rollbacks[label] = rollback(story.runs[label].run_id, store=store, target=target, role_name=ROLE)
        story.states["rolled-back"] = state()
    runner = CliRunner()
    story.cli["export"] = runner.invoke(app, ["export", "ec2-malware", "--function-arn-prefix", PREFIX])
    story.cli["export-bad"] = runner.invoke(app, ["export", "ec2-malware", "--function-arn-prefix", "arn:aws:s3:::x"])
    story.cli["report"] = runner.invoke(app, ["report", story.runs["ec2-first"].run_id,
                                              "--store", str(tmp / "store.duckdb")])
    return story


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("respond-ec2")
    with Lab(tmp / "lab", seed="demo") as lab:
        yield _story(lab, tmp)


def test_the_scenario_left_a_running_instance_and_a_world_open_ssh_rule(story: Story) -> None:
    start = story.states["start"]
    assert start["web"]["state"] == "running" and start["web"]["profiles"] and not start["web"]["protected"]
    assert ("tcp", 22, 22, "0.0.0.0/0") in start["worker_rules"]
    assert story.sg_finding.evidence.event_ids and story.sg_finding.resource.id.startswith("sg-")


def test_ec2_dry_run_acquires_evidence_and_changes_nothing(story: Story) -> None:
    dry = story.runs["ec2-dry"]
    assert dry.status is RunStatus.PLANNED and dry.error is None
    assert story.states["ec2-dry"] == story.states["start"]
    steps = {s.path: s for s in dry.steps}
    assert len(steps["SnapshotVolumes"].changes) == 2
    assert steps["Isolate"].outcome is Outcome.PLANNED and any(ISOLATION_GROUP in c for c in steps["Isolate"].changes)
    metadata = json.loads((dry.case_dir / "evidence" / f"ec2-{story.web}-metadata.json").read_text())
    assert metadata["instance"]["InstanceId"] == story.web and metadata["user_data"]["bytes"] > 0
    assert "DB_PASSWORD" not in (dry.case_dir / "evidence" / f"ec2-{story.web}-metadata.json").read_text()
    assert (dry.case_dir / "evidence" / f"ec2-{story.web}-console.json").exists()


def test_ec2_execute_preserves_evidence_then_isolates(story: Story) -> None:
    first, web = story.runs["ec2-first"], story.states["ec2-first"]["web"]
    assert first.status is RunStatus.SUCCEEDED, first.error
    order = [s.path for s in first.steps]
    assert order.index("SnapshotVolumes") < order.index("RemoveInstanceProfile") < order.index("Isolate")
    assert web["tags"] == {CASE_TAG: first.steps[0].result["Tags"][CASE_TAG], STATUS_TAG: "under-investigation"}
    assert web["protected"] and set(web["delete_on_termination"].values()) == {False}
    assert web["case_snapshots"] == sorted(story.web_volumes)
    assert web["profiles"] == [] and web["state"] == "stopped"
    isolation = story.states["ec2-first"]["isolation_groups"]
    assert web["groups"] == isolation and len(isolation) == 1
    assert verify_manifest(first.case_dir) == []


def test_ec2_run_again_same_state_and_no_duplicate_snapshots(story: Story) -> None:
    second = story.runs["ec2-second"]
    assert second.status is RunStatus.SUCCEEDED
    assert story.states["ec2-second"] == story.states["ec2-first"]
    assert [s.path for s in second.steps if s.outcome is Outcome.EXECUTED] == []
    snapshot_step = next(s for s in second.steps if s.path == "SnapshotVolumes")
    assert snapshot_step.result["Created"] == []


def test_ec2_rollback_restores_the_instance_and_keeps_the_snapshots(story: Story) -> None:
    assert story.rollbacks["ec2-first"].status is RunStatus.ROLLED_BACK
    assert story.rollbacks["ec2-second"].restored == []  # the second run changed nothing
    web, start = story.states["rolled-back"]["web"], story.states["start"]["web"]
    for key in ("state", "tags", "protected", "delete_on_termination", "groups", "profiles"):
        assert web[key] == start[key], key
    assert web["case_snapshots"] == sorted(story.web_volumes)  # evidence is kept
    assert story.states["rolled-back"]["isolation_groups"] == []
    assert any("kept the evidence snapshots" in line for line in story.rollbacks["ec2-first"].restored)


def test_security_group_playbook_revokes_only_the_named_rule(story: Story) -> None:
    start = story.states["start"]["worker_rules"]
    assert story.states["sg-dry"]["worker_rules"] == start
    dry_step = story.runs["sg-dry"].steps[0]
    assert dry_step.changes == [f"revoke tcp port 22 from 0.0.0.0/0 from security group {story.sg_finding.resource.id}"]
    first = story.runs["sg-first"]
    assert first.status is RunStatus.SUCCEEDED
    after = story.states["sg-first"]["worker_rules"]
    assert after == [r for r in start if r != ("tcp", 22, 22, "0.0.0.0/0")]
    assert ("tcp", 22, 22, org.VPC_PROD_CIDR) in after  # the internal SSH rule is not the finding's
    assert story.states["sg-second"]["worker_rules"] == after
    assert story.runs["sg-second"].steps[0].outcome is Outcome.UNCHANGED
    assert story.runs["sg-second"].steps[0].result["AlreadyAbsent"] == [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "Cidr": "0.0.0.0/0"}]
    # The web instance's own world-open groups were never named by this finding.
    assert story.states["sg-first"]["web"]["groups"] == story.states["ec2-first"]["web"]["groups"]
    assert story.rollbacks["sg-first"].status is RunStatus.ROLLED_BACK
    assert story.states["rolled-back"]["worker_rules"] == start


def test_export_maps_tasks_to_lambda_functions(story: Story) -> None:
    exported = story.cli["export"]
    assert exported.exit_code == 0, exported.output
    definition = json.loads(exported.output)
    assert validate(definition) == []
    assert definition["States"]["Isolate"]["Resource"] == f"{PREFIX}ec2-isolate"
    branch = definition["States"]["CaptureEvidence"]["Branches"][0]["States"]["CaptureMetadata"]
    assert branch["Resource"] == f"{PREFIX}ec2-capture-metadata"
    assert "cloudwarden:" not in json.dumps({k: v for k, v in definition.items() if k != "Comment"})
    assert story.cli["export-bad"].exit_code != 0


def test_report_is_an_incident_timeline_with_evidence_hashes(story: Story) -> None:
    report = story.cli["report"]
    assert report.exit_code == 0, report.output
    text = report.output
    first = story.runs["ec2-first"]
    assert text.startswith(f"# Incident timeline: ec2-malware, run {first.run_id}")
    assert "| type | CryptoCurrency:EC2/BitcoinTool.B |" in text
    assert f"stop instance {story.web} (running)" in text and "rolled back" in text
    manifest = json.loads((first.case_dir / "manifest.json").read_text())
    metadata = next(f for f in manifest["files"] if f["path"].endswith("-metadata.json"))
    assert f"| `{metadata['path']}` | `{metadata['sha256']}` |" in text
    assert "verifies." in text
