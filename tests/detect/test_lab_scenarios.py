"""The lab's attack scenarios, played in the middle of its benign traffic, are all detected from the CloudTrail
the lab delivered; benign traffic alone raises nothing, and no finding rests on a benign call."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloudwarden.core.finding import Finding
from cloudwarden.detect.engine import CloudTrailDB, run_detection
from cloudwarden.detect.rules import load_pack
from cloudwarden.detect.stage import detect_stage
from cloudwarden.lab.scenarios import SCENARIOS, run_scenario
from cloudwarden.lab.seed.result import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.lab.traffic import play_traffic

pytestmark = pytest.mark.lab

MALICIOUS = "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"
KALI = "PenTest:IAMUser/KaliLinux"
# The CloudTrail finding types each scenario must produce (docs/scenarios.md; the anomaly types come with
# baselines, the flow-log and DNS ones with the network detections).
EXPECTED: dict[str, set[str]] = {
    "console-no-mfa": {"UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", MALICIOUS,
                       "UnauthorizedAccess:IAMUser/ConsoleBruteForce"},
    "root-usage": {"Policy:IAMUser/RootCredentialUsage", "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"},
    "public-s3-exposure": {"Policy:S3/BucketBlockPublicAccessDisabled", "Policy:S3/AccountBlockPublicAccessDisabled",
                           "Policy:S3/BucketAnonymousAccessGranted", "Policy:S3/BucketPublicAccessGranted",
                           "UnauthorizedAccess:S3/MaliciousIPCaller.Custom", KALI},
    "ec2-compromise": {"UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", KALI,
                       "Exfiltration:EC2/SecurityGroupOpenedToWorld"},
    "privilege-escalation": {MALICIOUS, KALI, "PrivilegeEscalation:IAMUser/PolicyVersionCreated"},
    "secrets-harvest": {MALICIOUS, KALI, "CredentialAccess:IAMUser/SecretsBulkRetrieval"},
    "snapshot-exfiltration": {MALICIOUS, KALI, "Exfiltration:EC2/SnapshotSharedExternally",
                              "Exfiltration:RDS/SnapshotSharedExternally"},
    "crypto-mining": {MALICIOUS, KALI, "Impact:EC2/UnusualInstanceLaunch"},
    "compromised-credentials": {MALICIOUS, KALI, "Stealth:IAMUser/CloudTrailLoggingDisabled",
                                "Persistence:IAMUser/BackdoorAccessKeyCreated",
                                "PrivilegeEscalation:IAMUser/AdministrativePolicyAttached",
                                "Persistence:IAMUser/LoginProfileCreated",
                                "DefenseEvasion:IAMUser/GuardDutyDetectorDeleted",
                                "Discovery:IAMUser/BurstOfDiscoveryCalls"},
    "log-tampering": {MALICIOUS, KALI, "DefenseEvasion:IAMUser/CloudTrailEventSelectorsChanged",
                      "DefenseEvasion:IAMUser/FlowLogsDeleted"},
}


@dataclass
class Played:
    cloudtrail: Path  # everything the lab delivered
    benign: Path  # a copy taken after the benign traffic, before any attack
    benign_ids: set[str]
    scenario_ids: dict[str, set[str]]


def _event_ids(path: Path) -> set[str]:
    db, _ = CloudTrailDB.from_paths([path])
    try:
        return {r["event_id"] for r in db.query("SELECT event_id FROM cloudtrail")}
    finally:
        db.close()


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    root = tmp_path_factory.mktemp("detect-lab")
    with Lab(root / "lab", port=0, seed="demo") as lab:
        seed = SeedResult.load(root / "lab")
        play_traffic(lab.endpoint_url, seed, lab_client=lab.client)
        lab.client.flush()
        cloudtrail = root / "lab" / "cloudtrail"
        benign = root / "benign"
        shutil.copytree(cloudtrail, benign)
        seen = _event_ids(cloudtrail)
        benign_ids = set(seen)
        scenario_ids: dict[str, set[str]] = {}
        for name in SCENARIOS:  # one at a time, so each call is known to belong to its scenario
            run_scenario(name, lab.endpoint_url, seed, lab.client)
            lab.client.flush()
            now = _event_ids(cloudtrail)
            scenario_ids[name] = now - seen
            seen = now
        yield Played(cloudtrail, benign, benign_ids, scenario_ids)


def _detect(path: Path) -> list[Finding]:
    pack = load_pack()
    return run_detection([path], rules=pack.rules, allowlist=pack.allowlist).findings


def test_every_scenario_is_detected_in_the_noise(played: Played) -> None:
    assert set(EXPECTED) == set(SCENARIOS)
    found = _detect(played.cloudtrail)
    owner = {eid: name for name, ids in played.scenario_ids.items() for eid in ids}
    types: dict[str, set[str]] = defaultdict(set)
    for finding in found:
        assert finding.evidence.event_ids and finding.mitre, finding.type
        for event_id in finding.evidence.event_ids:
            assert event_id not in played.benign_ids, f"{finding.type} rests on a benign call {event_id}"
            types[owner[event_id]].add(finding.type)
    missing = {name: sorted(want - types[name]) for name, want in EXPECTED.items() if not want <= types[name]}
    assert not missing, missing


def test_benign_traffic_alone_raises_nothing(played: Played) -> None:
    assert len(played.benign_ids) > 200  # a real day of traffic was played
    assert _detect(played.benign) == []


def test_the_demo_stage_reads_the_delivered_cloudtrail(played: Played, tmp_path: Path) -> None:
    from cloudwarden.aws.session import AwsTarget
    from cloudwarden.pipeline.stages import StageContext

    context = StageContext(target=AwsTarget(), accounts={}, store_path=tmp_path / "s.duckdb", run_id="run-1",
                           output_dir=tmp_path, cloudtrail_dir=played.cloudtrail)
    result = detect_stage(context)
    assert {f.type for f in result.findings} >= set().union(*EXPECTED.values())
    assert result.stats["read_report"]["files_skipped"] == []
