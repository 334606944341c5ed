"""Routing findings to the outbox and to playbooks: dedupe by sent state, dedupe windows, throttles.

Messages are only queued here (the outbox's own tests cover delivery; ``test_stage`` delivers to a sink).
The playbook tests run against one seeded lab for the whole module, built only if they run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloudwarden.aws.session import AwsTarget
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.server import Lab
from cloudwarden.notify.config import Secret
from cloudwarden.notify.outbox import Outbox
from cloudwarden.notify.registry import Targets
from cloudwarden.notify.webhook import WebhookTarget
from cloudwarden.respond.records import Records, RunStatus
from cloudwarden.route.router import PlaybookSettings, RouteReport, route_findings
from cloudwarden.route.rules import RuleSet, RulesFileError, rules_from_mapping
from cloudwarden.store import Lifecycle, Store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HIGH_PATTERN = {"source": ["aws.securityhub"], "detail": {"findings": {"Severity": {"Label": ["HIGH", "CRITICAL"]}}}}
LEAKED = f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"


def posture(n: int, severity: Severity = Severity.HIGH, status: Status = Status.FAILED,
            seen: datetime = T0) -> Finding:
    return Finding.create(
        source=Source.POSTURE, rule_id="s3_bucket_public", type="Software and Configuration Checks",
        title=f"bucket {n} is public", severity=severity, account_id=org.PROD, region=org.HOME_REGION,
        resource=ResourceRef(type="AwsS3Bucket", id=f"arn:aws:s3:::bucket-{n}"), control_id="S3.8", status=status,
        seen=seen)


def leaked_key(severity: Severity = Severity.HIGH, rule_id: str = "iam-malicious-ip-caller") -> Finding:
    return Finding.create(
        source=Source.DETECT, rule_id=rule_id, type="UnauthorizedAccess:IAMUser/MaliciousIPCaller",
        title=f"{org.USER_CI} used from an attacker address", severity=severity, account_id=org.PROD,
        region=org.HOME_REGION, resource=ResourceRef(type="AwsIamUser", id=LEAKED), principal=LEAKED, seen=T0,
        evidence=Evidence(details={"eventName": "ListUsers", "sourceIPAddress": org.ATTACKER_IP}))


def targets(*names: str) -> Targets:
    # never contacted: these tests only queue
    return Targets({name: WebhookTarget(url=Secret(value=f"http://127.0.0.1:9/{name}"), secret=Secret(value="k" * 32))
                    for name in names})


def rules(*specs: dict[str, Any]) -> RuleSet:
    return rules_from_mapping(list(specs))


def high_rule(**extra: Any) -> dict[str, Any]:
    return {"name": "high", "pattern": HIGH_PATTERN, "targets": ["soc"], **extra}


class Router:
    """A store, an outbox over it and a clock, so each call routes at a chosen time."""

    def __init__(self, tmp: Path, ruleset: RuleSet, *names: str, playbooks: PlaybookSettings | None = None) -> None:
        self.store = Store.open(tmp / "store.duckdb")
        self.outbox = Outbox(self.store, targets(*(names or ("soc",))))
        self.rules = ruleset
        self.playbooks = playbooks
        self.run_id = self.store.start_run("test")

    def __call__(self, findings: list[Finding], at: datetime = T0, *, store_first: bool = True) -> RouteReport:
        if store_first:
            self.store.upsert_findings(self.run_id, findings)
        return route_findings(findings, self.rules, store=self.store, outbox=self.outbox, now=at,
                              playbooks=self.playbooks)

    def messages(self) -> list[tuple[str, list[str]]]:
        return [(e.target, sorted(e.message.finding_ids)) for e in self.outbox.entries()]

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    made = Router(tmp_path, rules(high_rule()))
    yield made
    made.close()


def test_matching_findings_go_in_one_message_per_target(router: Router) -> None:
    findings = [posture(1), posture(2, Severity.CRITICAL), posture(3, Severity.MEDIUM)]
    report = router(findings)
    assert report.findings == 3 and report.events == 3
    assert sorted(report.matched["high"]) == sorted([findings[0].id, findings[1].id])
    assert router.messages() == [("soc", sorted([findings[0].id, findings[1].id]))]
    [queued] = report.queued
    assert queued.new and queued.rules == ("high",) and queued.target == "soc"
    entry = router.outbox.entries()[0]
    assert entry.message.payload["rule"] == "high"
    # most severe first in the message
    assert entry.message.finding_ids == [findings[1].id, findings[0].id]


def test_the_same_finding_twice_is_sent_once(router: Router) -> None:
    finding = posture(1)
    again = finding.model_copy(update={"last_seen": T0 + timedelta(hours=3), "count": 2})
    first = router([finding, finding])
    second = router([again], T0 + timedelta(hours=3))
    assert len(first.queued) == 1 and not first.suppressed
    assert second.queued == [] and [h.reason for h in second.suppressed] == ["already-sent"]
    assert router.messages() == [("soc", [finding.id])]


def test_a_severity_change_is_sent_again_and_a_flap_inside_the_window_is_not(tmp_path: Path) -> None:
    route = Router(tmp_path, rules(high_rule(dedupe_window="1h")))
    high, critical = posture(1), posture(1, Severity.CRITICAL)
    route([high])
    flapped = route([critical], T0 + timedelta(minutes=10))  # a change, but within the window: held
    assert flapped.queued == [] and [h.reason for h in flapped.suppressed] == ["dedupe-window"]
    back = route([high], T0 + timedelta(minutes=20))  # back to what was sent: nothing to say
    assert [h.reason for h in back.suppressed] == ["already-sent"]
    changed = route([critical], T0 + timedelta(hours=2))  # a real change, after the window
    assert len(changed.queued) == 1
    assert route.messages() == [("soc", [high.id]), ("soc", [high.id])]
    keys = [e.key for e in route.outbox.entries()]
    assert len(set(keys)) == 2
    assert route.outbox.entries()[1].message.payload["findings"][0]["severity"] == "CRITICAL"
    # and back to HIGH later is a change again, with a key of its own (the outbox never drops it as a repeat)
    assert len(route([high], T0 + timedelta(hours=4)).queued) == 1
    assert len({e.key for e in route.outbox.entries()}) == 3
    route.close()


def test_a_reopened_finding_is_sent_again(router: Router) -> None:
    failed = posture(1)
    router([failed])
    router.store.mark_notified([failed.id])
    assert router([failed], T0 + timedelta(hours=1)).queued == []
    resolved = posture(1, status=Status.PASSED, seen=T0 + timedelta(hours=2))
    router.store.upsert_findings(router.run_id, [resolved])
    assert router.store.get_record(failed.id).lifecycle is Lifecycle.RESOLVED  # type: ignore[union-attr]
    returned = posture(1, seen=T0 + timedelta(hours=3))
    report = router([returned], T0 + timedelta(hours=3))
    record = router.store.get_record(failed.id)
    assert record is not None and record.lifecycle is Lifecycle.NEW and record.reopened_count == 1
    assert len(report.queued) == 1
    assert router.messages() == [("soc", [failed.id]), ("soc", [failed.id])]
    assert router([returned], T0 + timedelta(hours=4)).queued == []  # re-opened once, sent once


def test_throttle_holds_messages_until_the_window_frees(tmp_path: Path) -> None:
    route = Router(tmp_path, rules(high_rule(throttle={"max": 2, "per": "1h"})))
    first = route([posture(1), posture(2)])
    second = route([posture(3)], T0 + timedelta(minutes=5))
    third = route([posture(4), posture(5, Severity.CRITICAL)], T0 + timedelta(minutes=10))
    assert len(first.queued) == 1 and len(second.queued) == 1  # one message each, however many findings
    assert third.queued == [] and sorted(h.finding_id for h in third.throttled) == sorted(
        [posture(4).id, posture(5).id])
    later = route([posture(4), posture(5, Severity.CRITICAL)], T0 + timedelta(minutes=61))
    assert len(later.queued) == 1 and later.throttled == []
    assert route.messages()[-1] == ("soc", sorted([posture(4).id, posture(5).id]))
    route.close()


def test_rules_sharing_a_target_share_its_message(tmp_path: Path) -> None:
    crit = {"name": "critical", "pattern": {"detail": {"findings": {"Severity": {"Label": ["CRITICAL"]}}}},
            "targets": ["soc", "pager"]}
    route = Router(tmp_path, rules(high_rule(), crit), "soc", "pager")
    high, critical = posture(1), posture(2, Severity.CRITICAL)
    report = route([high, critical])
    assert sorted(route.messages()) == [("pager", [critical.id]), ("soc", sorted([high.id, critical.id]))]
    soc = next(q for q in report.queued if q.target == "soc")
    assert soc.rules == ("high",)  # the critical one reached soc through "high" first
    assert [(h.rule, h.target, h.reason) for h in report.suppressed] == [("critical", "soc", "same-batch")]
    route.close()


def test_an_unknown_target_is_refused_before_anything_is_queued(tmp_path: Path) -> None:
    route = Router(tmp_path, rules(high_rule(targets=["soc", "nowhere"])), "soc")
    with pytest.raises(RulesFileError, match="no notify target named 'nowhere'"):
        route([posture(1)])
    assert route.outbox.entries() == []
    route.close()


def test_a_playbook_target_without_aws_is_reported_and_tried_again(tmp_path: Path) -> None:
    rule = {"name": "creds", "pattern": {"source": ["aws.guardduty"]},
            "targets": [{"playbook": "compromised-iam-credentials"}]}
    route = Router(tmp_path, rules(rule))
    report = route([leaked_key(), posture(1)])
    [run] = report.playbook_runs
    assert (run.status, run.run_id, run.execute) == ("skipped", None, False)
    assert "no AWS target" in (run.error or "")
    assert [r.status for r in route([leaked_key()]).playbook_runs] == ["skipped"]  # not remembered as done
    route.close()


# --- playbooks on the lab -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="demo", flush_interval=3600.0) as running:
        yield running


def prod_keys(lab: Lab) -> dict[str, str]:
    creds = lab.aws_client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{org.PROD}:role/{org.MEMBER_ACCESS_ROLE}", RoleSessionName="check")["Credentials"]
    iam = lab.aws_client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"],
                         session_token=creds["SessionToken"])
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=org.USER_CI)["AccessKeyMetadata"]}


@pytest.mark.lab
@pytest.mark.parametrize("execute", [False, True])
def test_a_playbook_target_runs_on_the_lab_and_never_approves_itself(lab: Lab, tmp_path: Path,
                                                                    execute: bool) -> None:
    rule = {"name": "creds", "targets": [{"playbook": "compromised-iam-credentials", "execute": execute}],
            "pattern": {"source": ["aws.guardduty"], "detail": {"type": [{"prefix": "UnauthorizedAccess:IAMUser/"}]}}}
    settings = PlaybookSettings(AwsTarget(endpoint_url=lab.endpoint_url), tmp_path / "out",
                                role_name=org.MEMBER_ACCESS_ROLE, regions=[org.HOME_REGION])
    route = Router(tmp_path, rules(rule), playbooks=settings)
    before = prod_keys(lab)
    assert "Active" in before.values()
    other = leaked_key(Severity.MEDIUM, rule_id="iam-tor-caller")  # the same principal, another finding
    report = route([leaked_key(), posture(1), other])
    [run] = report.playbook_runs  # one run per principal, answering both findings
    assert run.error is None and run.run_id is not None and run.execute is execute
    assert run.finding_id == leaked_key().id and run.covers == (other.id,)
    assert [(h.finding_id, h.reason) for h in report.suppressed] == [(other.id, "same-principal")]
    # a dry run plans; an executing run stops for `respond approve` before any disruptive step
    assert run.status == ("awaiting-approval" if execute else "planned")
    assert run.steps and {s["outcome"] for s in run.steps} <= {"planned", "collected"}
    assert any(s["action"] == "iam.deactivate-access-key" and s["changes"] for s in run.steps)
    assert prod_keys(lab) == before  # the account is untouched
    record = Records(route.store).get_run(run.run_id)
    assert (record.execute, record.auto_approve) == (execute, False)
    assert record.status is (RunStatus.AWAITING_APPROVAL if execute else RunStatus.PLANNED)
    assert (tmp_path / "out" / "cases" / run.run_id / "plan.json").is_file()
    # routed again, the same finding does not start a second run
    again = route([leaked_key(), other], T0 + timedelta(hours=2))
    assert again.playbook_runs == [] and [h.reason for h in again.suppressed] == ["already-sent"] * 2
    assert len(Records(route.store).runs()) == 1
    route.close()
