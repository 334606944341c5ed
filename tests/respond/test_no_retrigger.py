"""A remediation's own CloudTrail events never re-trigger the rule that started it.

One seeded lab: the public-s3-exposure scenario, detection finds the exposed bucket, the public-s3-bucket
playbook runs on it (execute, auto-approved), and detection runs again over all the lab's CloudTrail.
The playbook's calls are recorded with the ``cloudwarden-respond/<run id>`` User-Agent marker; with the
shipped allowlist no finding cites them, while without it they do (so the allowlist is what holds them
back), and routing never starts a playbook for a finding made only of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Finding
from cloudwarden.detect.cloudtrail_files import CloudTrailRecord, read_records
from cloudwarden.detect.engine import run_detection
from cloudwarden.detect.rules.loader import load_pack
from cloudwarden.detect.rules.model import Allowlist
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios import run_scenario
from cloudwarden.lab.seed import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.notify.outbox import Outbox
from cloudwarden.notify.registry import Targets
from cloudwarden.respond.actions.base import RESPOND_AGENT
from cloudwarden.respond.records import RunStatus
from cloudwarden.respond.runner import RunResult, run_playbook
from cloudwarden.route import router
from cloudwarden.route.rules import rules_from_mapping
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
PLAYBOOK = "public-s3-bucket"
ROUTE_RULE = {"name": "s3", "pattern": {"source": ["aws.guardduty"]}, "targets": [{"playbook": PLAYBOOK}]}


@dataclass
class Story:
    trigger: Finding  # the finding the playbook ran on
    run: RunResult
    records: list[CloudTrailRecord]  # every CloudTrail record of the lab after the run
    findings: list[Finding]  # detection over all of it, with the shipped allowlist
    unguarded: list[Finding]  # detection from the run's start, without any allowlist
    routed: router.RouteReport  # the unguarded findings made only of remediation calls, routed


def _story(lab: Lab, tmp: Path) -> Story:
    run_scenario("public-s3-exposure", lab.endpoint_url, SeedResult.load(lab.state_dir), lab.client)
    lab.client.flush()
    trail = lab.state_dir / "cloudtrail"
    pack = load_pack()
    before = run_detection([trail], rules=pack.rules, allowlist=pack.allowlist).findings
    trigger = next(f for f in before if f.rule_id == "cw.s3.bucket-public-access-granted")
    started = datetime.now(UTC) - timedelta(seconds=1)
    with Store.open(tmp / "store.duckdb") as store:
        run = run_playbook(PLAYBOOK, trigger, execute=True, auto_approve=True, store=store,
                           target=AwsTarget(endpoint_url=lab.endpoint_url), output_dir=tmp / "out",
                           role_name=org.MEMBER_ACCESS_ROLE)
        lab.client.flush()
        records, _ = read_records([trail])
        findings = run_detection([trail], rules=pack.rules, allowlist=pack.allowlist).findings
        unguarded = run_detection([trail], rules=pack.rules, allowlist=Allowlist(), since=started).findings
        ours = {r["eventID"] for r in records if RESPOND_AGENT in str(r.get("userAgent", ""))}
        only_ours = [f for f in unguarded if f.evidence.event_ids and set(f.evidence.event_ids) <= ours]
        routed = router.route_findings(only_ours, rules_from_mapping([ROUTE_RULE]), store=store,
                                       outbox=Outbox(store, Targets({})),
                                       playbooks=router.PlaybookSettings(AwsTarget(endpoint_url=lab.endpoint_url),
                                                                         tmp / "routed",
                                                                         role_name=org.MEMBER_ACCESS_ROLE))
    return Story(trigger, run, records, findings, unguarded, routed)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("no-retrigger")
    with Lab(tmp / "lab", seed="demo") as lab:
        yield _story(lab, tmp)


def _remediation_ids(story: Story) -> set[str]:
    return {r["eventID"] for r in story.records if RESPOND_AGENT in str(r.get("userAgent", ""))}


def test_every_playbook_call_is_in_cloudtrail_with_the_run_marker(story: Story) -> None:
    assert story.run.status is RunStatus.SUCCEEDED, story.run.error
    marked = [r for r in story.records if RESPOND_AGENT in str(r.get("userAgent", ""))]
    assert marked, "the playbook's calls reached CloudTrail without the marker"
    assert {str(r["userAgent"]).split(RESPOND_AGENT, 1)[1].split()[0] for r in marked} == {story.run.run_id}
    names = {r["eventName"] for r in marked}
    assert {"PutBucketPolicy", "PutBucketPublicAccessBlock"} <= names, " ".join(sorted(names))


def test_no_finding_cites_a_remediation_event(story: Story) -> None:
    ours = _remediation_ids(story)
    cited = {(f.rule_id, e) for f in story.findings for e in f.evidence.event_ids if e in ours}
    assert cited == set()


def test_without_the_allowlist_the_remediation_would_raise_findings(story: Story) -> None:
    ours = _remediation_ids(story)
    raised = [f for f in story.unguarded if ours & set(f.evidence.event_ids)]
    assert any(f.type.startswith("Policy:S3/") for f in raised), [f.type for f in raised]


def test_the_attackers_calls_still_produce_their_findings(story: Story) -> None:
    ours = _remediation_ids(story)
    after = {f.rule_id: f for f in story.findings}
    assert story.trigger.rule_id in after
    kept = set(after[story.trigger.rule_id].evidence.event_ids)
    assert kept and not kept & ours and kept >= set(story.trigger.evidence.event_ids)


def test_routing_never_starts_a_playbook_for_remediation_only_findings(story: Story) -> None:
    report = story.routed
    assert report.findings > 0
    assert report.playbook_runs == []
    assert {h.reason for h in report.suppressed} == {router.REMEDIATION}
    assert len(report.suppressed) == len(report.matched["s3"]) == report.findings


def test_routing_still_starts_a_playbook_for_the_attackers_finding(story: Story, tmp_path: Path) -> None:
    # without AWS settings the run is reported as skipped: what matters is that it was not held back
    with Store.open(tmp_path / "store.duckdb") as store:
        report = router.route_findings([story.trigger], rules_from_mapping([ROUTE_RULE]), store=store,
                                       outbox=Outbox(store, Targets({})))
    assert report.suppressed == []
    assert [(r.playbook, r.status) for r in report.playbook_runs] == [(PLAYBOOK, "skipped")]
