"""The Posture, Identity and Response sections, from a summary built the way ``cloudwarden demo`` builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Evidence, Finding, ResourceRef, Source, Status
from cloudwarden.core.severity import Severity
from cloudwarden.iam.paths.findings import path_findings
from cloudwarden.iam.paths.graph import Hop
from cloudwarden.iam.paths.search import ADMIN, Path
from cloudwarden.posture.evaluate import Score
from cloudwarden.report import Organisation, ReportContext, build_summary, render_report
from cloudwarden.route.router import PlaybookRun, QueuedMessage, RouteReport

EVIL = "</script><script>alert(1)</script>"
SEEN = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
ORG = Organisation(name="demo", accounts={"management": "123456789012", "prod": "222222222222"})


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    content: list[Node | str] = field(default_factory=list)  # child elements and text, in document order

    @property
    def children(self) -> list[Node]:
        return [c for c in self.content if isinstance(c, Node)]

    def all_text(self) -> str:
        return " ".join(" ".join(c if isinstance(c, str) else c.all_text() for c in self.content).split())

    def walk(self) -> list[Node]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())]

    def by_id(self, ident: str) -> Node:
        (node,) = [n for n in self.walk() if n.attrs.get("id") == ident]
        return node

    def rows(self) -> list[list[str]]:
        return [[td.all_text() for td in tr.children if td.tag == "td"] for tr in self.find("tr") if tr.find("td")]


class Tree(HTMLParser):
    VOID = frozenset({"meta", "input", "br", "line", "rect", "link", "img"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("root", {})
        self._stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self._stack[-1].content.append(node)
        if tag not in self.VOID:
            self._stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, 0, -1):
            if self._stack[i].tag == tag:
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        self._stack[-1].content.append(data)


def parse(html: str) -> Node:
    tree = Tree()
    tree.feed(html)
    tree.close()
    return tree.root


# --- a realistic run, from the producers' own model objects ---------------------------------------------------


def _posture(n: int, control: str, status: Status, account: str, reason: str) -> Finding:
    return Finding.create(
        source=Source.POSTURE, rule_id=control, control_id=control, type="Software and Configuration Checks",
        title=f"control {control}", description=reason, status=status,
        severity=Severity.HIGH if status is Status.FAILED else Severity.INFORMATIONAL, account_id=account,
        region="us-east-1", resource=ResourceRef(type="AwsAccount", id=f"arn:aws:::{account}:res-{n}"), seen=SEEN,
    )


SSM_500 = "500 on ssm:GetServiceSetting"
NA_FINDINGS = [
    _posture(1, "RDS.19", Status.NOT_AVAILABLE, "123456789012", "RDS event subscriptions are not collected"),
    _posture(2, "RDS.20", Status.NOT_AVAILABLE, "222222222222", "RDS event subscriptions are not collected"),
    _posture(3, "SSM.7", Status.NOT_AVAILABLE, "123456789012", f"{SSM_500} for 123456789012/us-east-1"),
    _posture(4, "SSM.7", Status.NOT_AVAILABLE, "222222222222", f"{SSM_500} for 222222222222/eu-west-1"),
    _posture(5, "S3.1", Status.NOT_AVAILABLE, "222222222222", EVIL),
    _posture(6, "S3.2", Status.FAILED, "222222222222", "bucket is public"),
]

EXTERNAL = Finding.create(
    source=Source.IAM, rule_id="iam.external.s3bucket.crossaccount", type="ExternalAccess:S3Bucket/CrossAccount",
    title="Bucket prod-data is shared with 999988887777", status=Status.ACTIVE, severity=Severity.HIGH,
    account_id="222222222222", region="us-east-1",
    resource=ResourceRef(type="AwsS3Bucket", id="arn:aws:s3:::prod-data"),
    principal="arn:aws:iam::999988887777:root", seen=SEEN,
    evidence=Evidence(details={"grantees": ["999988887777"], "actions": [f"s3:Get{i}" for i in range(11)],
                               "via": "policy", "statements": []}),
)

ESCALATION = path_findings([Path(
    source="arn:aws:iam::222222222222:user/ci-deployer", target=ADMIN,
    reached="arn:aws:iam::222222222222:role/ci-deploy",
    hops=(
        Hop(kind="assume-role", technique="sts-001", actor="arn:aws:iam::222222222222:user/ci-deployer",
            target="arn:aws:iam::222222222222:role/build", resource="arn:aws:iam::222222222222:role/build",
            permissions=("sts:AssumeRole",)),
        Hop(kind="policy-edit", technique="iam-005", actor="arn:aws:iam::222222222222:role/build",
            target="arn:aws:iam::222222222222:role/ci-deploy", resource="arn:aws:iam::222222222222:role/ci-deploy",
            permissions=("iam:PutRolePolicy",), via="arn:aws:lambda:us-east-1:222222222222:function:builder"),
    ),
)], seen=SEEN)[0]

TRIGGER = Finding.create(
    source=Source.DETECT, rule_id="detect.cred-exfil", type="UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
    title="Instance credentials used from outside the instance", status=Status.ACTIVE, severity=Severity.HIGH,
    account_id="222222222222", region="us-east-1",
    resource=ResourceRef(type="AwsIamRole", id="arn:aws:iam::222222222222:role/app-instance-role"),
    principal="arn:aws:iam::222222222222:role/app-instance-role", seen=SEEN,
)
COVERED = Finding.create(
    source=Source.DETECT, rule_id="detect.threat-list", type="Recon:IAMUser/ThreatList",
    title="API call from an address on a threat list", status=Status.ACTIVE, severity=Severity.MEDIUM,
    account_id="222222222222", region="us-east-1",
    resource=ResourceRef(type="AwsIamRole", id="arn:aws:iam::222222222222:role/app-instance-role"), seen=SEEN,
)

FINDINGS = [*NA_FINDINGS, EXTERNAL, ESCALATION, TRIGGER, COVERED]

SCORES = [
    Score("cis-aws-5.0", "123456789012", passed=15, failed=28, not_available=3,
          failed_requirements=("1.2", "1.4", "1.5", "1.15", "2.1.1", "2.1.2", "3.3", "3.7")),
    Score("fsbp", "222222222222", passed=9, failed=1, not_available=0, failed_requirements=("S3.2",)),
    Score("fsbp", "123456789012", passed=0, failed=0, not_available=4),
]

ROUTE = RouteReport(
    findings=len(FINDINGS), events=12,
    matched={"high-severity-to-webhook": [EXTERNAL.id, ESCALATION.id, TRIGGER.id],
             "compromised-credentials-playbook": [TRIGGER.id]},
    queued=[QueuedMessage("k1", "demo-webhook", ("high-severity-to-webhook",),
                          (EXTERNAL.id, ESCALATION.id, TRIGGER.id), True)],
    playbook_runs=[
        PlaybookRun("compromised-credentials-playbook", "compromised-iam-credentials", TRIGGER.id, False, "planned",
                    "resp-20260301T100000Z-abc", case_dir="/out/cases/resp-20260301T100000Z-abc",
                    steps=({"path": "RevokeSessions", "action": "iam.revoke-sessions", "outcome": "planned",
                            "disruptive": True, "changes": [f"deny role app-instance-role {EVIL}"]},
                           {"path": "Collect[0]/CloudTrailActivity", "action": "collect.cloudtrail-activity",
                            "outcome": "collected", "disruptive": False, "changes": []}),
                    covers=(COVERED.id,)),
        PlaybookRun("cloudtrail-disabled-playbook", "cloudtrail-restore", "f" * 64, False, "error",
                    error="playbook cloudtrail-restore is not installed"),
    ],
)


def _stages() -> dict[str, Any]:
    return {
        "posture": {"snapshot_id": "snap-1", "documents": 174, "controls": 176,
                    "verdicts": {"FAILED": 339, "PASSED": 313, "NOT_AVAILABLE": 146}, "not_available": 146,
                    "muted": 0, "expired_mutes": [], "scores": [s.to_dict() for s in SCORES],
                    "encryption_by_default": {"123456789012": 83.3, "222222222222": 46.2}},
        "iam": {"principals": 21, "resource_policies": 25, "undecided": [],
                "external_access": {"ExternalAccess:S3Bucket/CrossAccount": 1}, "paths": {"findings": 1}},
        "route": {**ROUTE.to_dict(), "rules": ["high-severity-to-webhook", "compromised-credentials-playbook"],
                  "delivery": {"delivered": 1, "retrying": 0, "dead": 0}, "sink": {"accepted": 1}},
    }


def _render(findings: list[Finding], stages: dict[str, Any] | None) -> tuple[str, Node]:
    summary = build_summary(findings, {"collect": 1.0}, {"stages": stages} if stages is not None else None)
    context = ReportContext(title="t", generated_at=SEEN, tool_version="0.1.0", environment="lab", organisation=ORG)
    html = render_report(findings, summary, None, context)
    return html, parse(html)


# --- tests -------------------------------------------------------------------------------------------------


def test_posture_section_shows_scores_encryption_verdicts_and_reasons() -> None:
    html, page = _render(FINDINGS, _stages())
    scores = page.by_id("posture-scores").rows()
    assert scores[0][:2] == ["cis-aws-5.0", "management (123456789012)"]
    assert "34.9%" in scores[0][2] and scores[0][3:6] == ["15", "28", "3"]
    assert scores[0][6] == "1.2, 1.4, 1.5, 1.15, 2.1.1, 2.1.2 +2 more"
    assert "90.0%" in scores[1][2] and scores[1][1] == "prod (222222222222)"
    assert "n/a" in scores[2][2]  # nothing decided: no percentage invented
    bars = [n.attrs["style"] for n in page.by_id("posture-scores").find("span") if "fill" in n.attrs.get("class", "")]
    assert bars == ["width:34.9%", "width:90.0%", "width:0%"]
    encryption = page.by_id("posture-encryption").all_text()
    assert "management (123456789012)" in encryption and "83.3%" in encryption and "46.2%" in encryption
    verdicts = {li.attrs["data-status"]: li.all_text() for li in page.by_id("posture-verdicts").find("li")}
    assert verdicts == {"PASSED": "PASSED 313", "FAILED": "FAILED 339", "NOT_AVAILABLE": "NOT_AVAILABLE 146"}
    reasons = page.by_id("posture-not-available").rows()
    # The two ssm reasons differ only by account/region: one row, both controls' accounts counted.
    assert ["2", "500 on ssm:GetServiceSetting for <account>/<region>", "SSM.7", "2"] in reasons
    assert ["2", "RDS event subscriptions are not collected", "RDS.19, RDS.20", "2"] in reasons
    assert reasons[-1][1:3] == [EVIL, "S3.1"]  # shown as text, never as markup
    assert EVIL not in html


def test_identity_section_lists_external_access_and_paths_hop_by_hop() -> None:
    _, page = _render(FINDINGS, _stages())
    (row,) = page.by_id("external-access").rows()
    assert row[:6] == ["HIGH", "CrossAccount", "arn:aws:s3:::prod-data", "prod (222222222222)", "999988887777",
                       "policy"]
    assert row[6].startswith("s3:Get0, s3:Get1") and row[6].endswith("+3 more")
    assert page.by_id("path-count").all_text() == "1"
    (path,) = page.by_id("escalation-paths").find("div", **{"data-id": ESCALATION.id})
    hops = [li.all_text() for li in path.find("li")]
    assert hops[0] == "arn:aws:iam::222222222222:user/ci-deployer"
    assert hops[1].startswith("sts:AssumeRole on arn:aws:iam::222222222222:role/build sts-001")
    assert hops[1].endswith("assume-role arn:aws:iam::222222222222:role/build")
    assert "iam:PutRolePolicy on arn:aws:iam::222222222222:role/ci-deploy (via arn:aws:lambda:" in hops[2]
    assert hops[2].endswith("policy-edit arn:aws:iam::222222222222:role/ci-deploy")
    assert "can escalate to administrator in 2 steps" in path.all_text()


def test_response_section_shows_alerts_and_each_run_as_a_timeline() -> None:
    html, page = _render(FINDINGS, _stages())
    assert page.by_id("route-matched").rows() == [["high-severity-to-webhook", "3"],
                                                 ["compromised-credentials-playbook", "1"]]
    assert page.by_id("route-queued").rows() == [["demo-webhook", "high-severity-to-webhook", "3", "yes"]]
    assert "3 findings in 1 message; 1 received" in page.by_id("alert-counts").all_text()
    planned, failed = page.by_id("incidents").find("div", **{"class": "incident"})
    stages = [li.all_text() for li in planned.find("li") if "stage" in li.attrs.get("class", "")]
    assert stages[0].startswith("Finding HIGH Instance credentials used from outside the instance")
    assert "also answers 1 other finding about the same principal: API call from an address on a threat list" \
        in stages[0]
    assert stages[1] == "Rule compromised-credentials-playbook"
    assert stages[2].startswith("Playbook compromised-iam-credentials dry run planned resp-20260301T100000Z-abc")
    assert stages[3].startswith("Step 1 RevokeSessions iam.revoke-sessions planned disruptive")
    assert f"deny role app-instance-role {EVIL}" in stages[3]
    assert stages[4] == "Step 2 Collect[0]/CloudTrailActivity collect.cloudtrail-activity collected"
    assert failed.attrs["data-status"] == "error"
    assert "playbook cloudtrail-restore is not installed" in failed.all_text()
    assert "f" * 64 in failed.all_text()  # the finding is not in this run: its id stands in
    assert EVIL not in html


def test_no_stage_figures_leave_each_section_readable() -> None:
    _, page = _render([], None)
    assert "posture stage did not run" in page.by_id("posture").all_text()
    assert "route stage did not run" in page.by_id("response").all_text()
    identity = page.by_id("identity").all_text()
    assert page.by_id("external-count").all_text() == "0" and page.by_id("path-count").all_text() == "0"
    assert "the iam stage did not run" in identity
    assert not page.find("table", id="posture-scores") and not page.find("div", id="incidents")


def test_stages_that_ran_and_found_nothing_say_so() -> None:
    stages = {"posture": {"verdicts": {}, "scores": [], "encryption_by_default": {}},
              "iam": {"external_access": {}, "paths": "privilege-escalation paths skipped: not installed"},
              "route": RouteReport().to_dict()}
    _, page = _render([], stages)
    posture = page.by_id("posture").all_text()
    assert "No framework was scored." in posture and "Every control reached a verdict." in posture
    assert "no encryption control reached a verdict" in posture
    identity = page.by_id("identity").all_text()
    assert "No resource is shared outside the zone of trust." in identity
    assert "privilege-escalation paths skipped: not installed" in identity
    response = page.by_id("response").all_text()
    assert "No rule matched a finding." in response and "No routing rule started a playbook." in response
    assert page.by_id("run-count").all_text() == "0"


@pytest.mark.parametrize(("stages", "where"), [
    ({"posture": {"scores": "34.9"}}, "summary.stages.posture.scores"),
    ({"posture": {"scores": [{"framework": "fsbp", "score": 140}]}}, "summary.stages.posture.scores[0].score"),
    ({"route": {"playbook_runs": [{"steps": ["RevokeSessions"]}]}}, "summary.stages.route.playbook_runs[0].steps[0]"),
    ({"iam": ["not", "an", "object"]}, "summary.stages.iam"),
])
def test_figures_of_the_wrong_shape_are_a_clear_error(stages: dict[str, Any], where: str) -> None:
    with pytest.raises(BadInputError) as caught:
        _render([], stages)
    assert caught.value.where == where
