"""Network detection on the lab: benign traffic alone raises nothing; ec2-compromise in the middle of it raises
all seven GuardDuty network types for web-1, read from the prod account's buckets through the member role, with
web-1 named from an inventory snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding
from cloudwarden.detect.stage import network_stage
from cloudwarden.inventory.stage import collect_snapshot
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios import run_scenario
from cloudwarden.lab.seed.result import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.lab.traffic import play_traffic
from cloudwarden.pipeline.stages import StageContext, StageResult
from cloudwarden.store import Store

pytestmark = pytest.mark.lab

SEVEN = {"Recon:EC2/Portscan", "UnauthorizedAccess:EC2/SSHBruteForce", "CryptoCurrency:EC2/BitcoinTool.B!DNS",
         "Backdoor:EC2/C&CActivity.B!DNS", "UnauthorizedAccess:EC2/TorClient", "Trojan:EC2/DNSDataExfiltration",
         "CryptoCurrency:EC2/BitcoinTool.B"}


@dataclass
class Played:
    benign: StageResult
    attacked: StageResult
    web_arn: str
    web_eni: str


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    root = tmp_path_factory.mktemp("netlogs-lab")
    with Lab(root / "lab", port=0, seed="demo", flush_interval=3600.0) as lab:
        seed = SeedResult.load(root / "lab")
        target = AwsTarget(endpoint_url=lab.endpoint_url)
        ctx = StageContext(target=target, accounts=dict(seed.accounts), store_path=root / "store.duckdb",
                           run_id="run-1", output_dir=root, role_name=org.MEMBER_ACCESS_ROLE)
        play_traffic(lab.endpoint_url, seed, lab_client=lab.client, minutes_of_activity=5)
        benign = network_stage(ctx)
        run_scenario("ec2-compromise", lab.endpoint_url, seed, lab.client)
        with Store.open(ctx.store_path) as store:
            collect_snapshot(target, store=store, accounts=[org.PROD], services=["ec2"],
                             role_name=org.MEMBER_ACCESS_ROLE)
        attacked = network_stage(ctx)
        ec2 = lab.aws_client("ec2", **_prod_credentials(lab))
        instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
        web = next(i for i in instances if {"Key": "Name", "Value": org.INSTANCE_WEB_TAG} in i.get("Tags", []))
        arn = f"arn:aws:ec2:{org.HOME_REGION}:{org.PROD}:instance/{web['InstanceId']}"
        yield Played(benign, attacked, arn, web["NetworkInterfaces"][0]["NetworkInterfaceId"])


def _prod_credentials(lab: Lab) -> dict[str, str]:
    creds = lab.aws_client("sts").assume_role(RoleArn=f"arn:aws:iam::{org.PROD}:role/{org.MEMBER_ACCESS_ROLE}",
                                              RoleSessionName="test")["Credentials"]
    return {"access_key_id": creds["AccessKeyId"], "secret_access_key": creds["SecretAccessKey"],
            "session_token": creds["SessionToken"]}


def test_benign_traffic_alone_raises_no_network_finding(played: Played) -> None:
    stats = played.benign.stats
    assert stats["flow_records"] > 50 and stats["dns_queries"] >= 20  # the buckets held a day's traffic
    assert stats["read_report"]["files_skipped"] == [] and stats["read_report"]["records_skipped"] == []
    assert played.benign.findings == []


def test_ec2_compromise_raises_every_network_type_for_web_1(played: Played) -> None:
    findings: list[Finding] = played.attacked.findings
    assert {f.type for f in findings} == SEVEN
    for finding in findings:
        assert finding.resource.id == played.web_arn and finding.resource.type == "AwsEc2Instance", finding.type
        assert finding.evidence.details["instance_name"] == org.INSTANCE_WEB_TAG
        assert finding.account_id == org.PROD and finding.region == org.HOME_REGION
        assert finding.evidence.event_ids and all(e.startswith("s3://") for e in finding.evidence.event_ids)
        assert finding.mitre and finding.first_seen <= finding.last_seen
    by_type = {f.type: f for f in findings}
    ssh = by_type["UnauthorizedAccess:EC2/SSHBruteForce"]
    assert ssh.evidence.details["peer_addresses"] == [org.ATTACKER_IP] and ssh.count >= 100
    assert ssh.evidence.details["interface_ids"] == [played.web_eni]
    assert by_type["Recon:EC2/Portscan"].evidence.details["distinct_ports"] == 200
    assert by_type["UnauthorizedAccess:EC2/TorClient"].evidence.details["peer_addresses"] == [org.TOR_NODE_IP]
    assert played.attacked.stats["instances_known"] >= 2
