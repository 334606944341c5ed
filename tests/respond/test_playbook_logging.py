"""cloudtrail-disabled and guardduty-disabled end to end on the lab, after compromised-credentials.

The scenario stops the prod trail and deletes prod's GuardDuty detector in us-east-1 (eu-west-1's
stays). One seeded lab for the module; the findings come from the shipped detection rules run over the
lab's CloudTrail. For each playbook: dry run, execute with auto-approve, run again, roll back, with the
account's state recorded after each.
"""

from __future__ import annotations

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
from cloudwarden.respond.records import RunStatus
from cloudwarden.respond.runner import RollbackResult, RunResult, rollback, run_playbook
from cloudwarden.respond.steps import Outcome
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
ROLE = org.MEMBER_ACCESS_ROLE
REGIONS = [org.HOME_REGION, org.SECOND_REGION]


class Account:
    def __init__(self, clients: dict[str, Any]) -> None:
        self.clients = clients

    def state(self) -> dict[str, Any]:
        trail = self.clients["cloudtrail"]
        described = trail.describe_trails(trailNameList=[org.TRAIL_PROD])["trailList"][0]
        detectors = {}
        for region in REGIONS:
            gd = self.clients[f"guardduty-{region}"]
            detectors[region] = sorted((d, gd.get_detector(DetectorId=d)["Status"])
                                       for d in gd.list_detectors()["DetectorIds"])
        return {"logging": trail.get_trail_status(Name=described["TrailARN"])["IsLogging"],
                "validation": described["LogFileValidationEnabled"], "detectors": detectors}


@dataclass
class Story:
    findings: dict[str, Finding]
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, RunResult] = field(default_factory=dict)
    rollbacks: dict[str, RollbackResult] = field(default_factory=dict)


def _story(lab: Lab, tmp: Path) -> Story:
    run_scenario("compromised-credentials", lab.endpoint_url, SeedResult.load(lab.state_dir), lab.client)
    lab.client.flush()
    pack = load_pack()
    detected = run_detection([lab.state_dir / "cloudtrail"], rules=pack.rules, allowlist=pack.allowlist).findings
    findings = {"cloudtrail-disabled": next(f for f in detected if f.rule_id == "cw.logging.cloudtrail-disabled"),
                "guardduty-disabled": next(f for f in detected
                                           if f.rule_id == "cw.logging.guardduty-detector-deleted")}
    creds = lab.aws_client("sts").assume_role(RoleArn=f"arn:aws:iam::{org.PROD}:role/{ROLE}",
                                              RoleSessionName="test-check")["Credentials"]
    keys = {"access_key_id": creds["AccessKeyId"], "secret_access_key": creds["SecretAccessKey"],
            "session_token": creds["SessionToken"]}
    clients = {"cloudtrail": lab.aws_client("cloudtrail", **keys),
               **{f"guardduty-{r}": lab.aws_client("guardduty", region=r, **keys) for r in REGIONS}}
    account = Account(clients)
    story = Story(findings)
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    story.states["start"] = account.state()
    with Store.open(tmp / "store.duckdb") as store:
        for playbook, finding in findings.items():
            def run(label: str, **kwargs: Any) -> None:
                story.runs[label] = run_playbook(playbook, finding, store=store, target=target,  # noqa: B023
                                                 output_dir=tmp / "out", role_name=ROLE, regions=REGIONS, **kwargs)
                story.states[label] = account.state()

            run(f"{playbook}/dry")
            run(f"{playbook}/first", execute=True, auto_approve=True)
            run(f"{playbook}/second", execute=True, auto_approve=True)
        for playbook in findings:
            for label in (f"{playbook}/second", f"{playbook}/first"):
                story.rollbacks[label] = rollback(story.runs[label].run_id, store=store, target=target,
                                                  role_name=ROLE)
        story.states["rolled-back"] = account.state()
    return story


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("respond-logging")
    with Lab(tmp / "lab", seed="demo") as lab:
        yield _story(lab, tmp)


def test_the_scenario_blinded_the_account(story: Story) -> None:
    start = story.states["start"]
    assert start["logging"] is False and start["validation"] is False
    assert start["detectors"][org.HOME_REGION] == [] and len(start["detectors"][org.SECOND_REGION]) == 1
    assert story.findings["cloudtrail-disabled"].resource.id == org.TRAIL_PROD


def test_dry_runs_change_nothing(story: Story) -> None:
    assert all(story.runs[f"{playbook}/dry"].status is RunStatus.PLANNED for playbook in story.findings)
    assert story.states["cloudtrail-disabled/dry"] == story.states["start"]
    assert story.states["guardduty-disabled/dry"] == story.states["cloudtrail-disabled/second"]
    planned = {s.path: s.changes for s in story.runs["guardduty-disabled/dry"].steps}
    assert planned["EnableDetectors[0]/EnableDetector"] == [
        f"create an enabled GuardDuty detector in {org.HOME_REGION}"]
    assert planned["EnableDetectors[1]/EnableDetector"] == []


def test_cloudtrail_playbook_restarts_logging_with_validation(story: Story) -> None:
    run = story.runs["cloudtrail-disabled/first"]
    assert run.status is RunStatus.SUCCEEDED, run.error
    state = story.states["cloudtrail-disabled/first"]
    assert state["logging"] is True and state["validation"] is True
    collected = next(s for s in run.steps if s.path == "Collect")
    assert "StopLogging" in collected.result["EventNames"]


def test_guardduty_playbook_recreates_only_the_missing_detector(story: Story) -> None:
    assert story.runs["guardduty-disabled/first"].status is RunStatus.SUCCEEDED
    start, after = story.states["start"]["detectors"], story.states["guardduty-disabled/first"]["detectors"]
    assert [status for _, status in after[org.HOME_REGION]] == ["ENABLED"]
    assert after[org.SECOND_REGION] == start[org.SECOND_REGION]


def test_running_again_changes_nothing(story: Story) -> None:
    for playbook in story.findings:
        second = story.runs[f"{playbook}/second"]
        assert second.status is RunStatus.SUCCEEDED
        assert [s.path for s in second.steps if s.outcome is Outcome.EXECUTED] == []
    assert story.states["guardduty-disabled/second"] == story.states["guardduty-disabled/first"]
    assert story.states["cloudtrail-disabled/second"] == story.states["cloudtrail-disabled/first"]


def test_rollback_puts_the_account_back_as_found(story: Story) -> None:
    assert all(r.status is RunStatus.ROLLED_BACK for r in story.rollbacks.values())
    assert story.states["rolled-back"] == story.states["start"]
