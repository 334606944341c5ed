"""compromised-iam-credentials end to end on the lab, after the compromised-credentials scenario.

One seeded lab per module (moto's state is process-wide). The module fixture plays the scenario and then
responds as a person would, recording the account's state after each step: dry run, execute waiting for
approval, execute with auto-approve, run again, approve the recovery gate, roll back. The tests assert on
that record, so they hold whichever xdist worker runs them, in any order.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from cloudwarden.aws.session import AwsTarget
from cloudwarden.cli.respond import app
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import Finding, ResourceRef, Source
from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org as org
from cloudwarden.lab.scenarios import run_scenario
from cloudwarden.lab.scenarios.compromised_credentials import BACKDOOR_USER
from cloudwarden.lab.seed import SeedResult
from cloudwarden.lab.server import Lab
from cloudwarden.respond.actions.iam import REVOKE_POLICY_NAME, quarantine_arn
from cloudwarden.respond.case import verify_manifest
from cloudwarden.respond.journal import ChainReport, verify_chain
from cloudwarden.respond.records import RunStatus
from cloudwarden.respond.runner import RollbackResult, RunResult, approve, rollback, run_playbook
from cloudwarden.respond.steps import Outcome
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
PLAYBOOK = "compromised-iam-credentials"
LEAKED = f"arn:aws:iam::{org.PROD}:user/{org.USER_CI}"
QUARANTINE = quarantine_arn(org.PROD)
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
ROLE = org.MEMBER_ACCESS_ROLE


class Account:
    """The prod account as its administrator sees it."""

    def __init__(self, iam: Any) -> None:
        self.iam = iam

    def keys(self, user: str) -> dict[str, str]:
        return {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}

    def state(self) -> dict[str, Any]:
        users = (org.USER_CI, BACKDOOR_USER)
        return {
            "keys": {u: self.keys(u) for u in users},
            "attached": {u: sorted(p["PolicyArn"] for p in self.iam.list_attached_user_policies(UserName=u)[
                "AttachedPolicies"]) for u in users},
            "inline": {u: sorted(self.iam.list_user_policies(UserName=u)["PolicyNames"]) for u in users},
            "backdoor_login": self.has_login(BACKDOOR_USER),
            "local_policies": sorted(p["Arn"] for p in self.iam.list_policies(Scope="Local")["Policies"]),
        }

    def has_login(self, user: str) -> bool:
        try:
            self.iam.get_login_profile(UserName=user)
        except self.iam.exceptions.NoSuchEntityException:
            return False
        return True


@dataclass
class Story:
    tmp: Path
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, RunResult] = field(default_factory=dict)
    rollbacks: dict[str, RollbackResult] = field(default_factory=dict)
    refused_approval: str = ""
    chain: ChainReport | None = None
    tampered_seq: int = 0
    tampered_problems: list[str] = field(default_factory=list)
    cli: dict[str, Any] = field(default_factory=dict)


def _respond(lab: Lab, tmp: Path, account: Account) -> Story:
    story = Story(tmp)
    target = AwsTarget(endpoint_url=lab.endpoint_url)
    finding = Finding.create(
        source=Source.DETECT, rule_id="iam-malicious-ip-caller", title=f"{org.USER_CI} used from an attacker address",
        type="UnauthorizedAccess:IAMUser/MaliciousIPCaller", severity=Severity.HIGH, account_id=org.PROD,
        region=org.HOME_REGION, resource=ResourceRef(type="AwsIamUser", id=LEAKED), principal=LEAKED)
    story.states["start"] = account.state()
    with Store.open(tmp / "store.duckdb") as store:
        def run(label: str, **kwargs: Any) -> None:
            story.runs[label] = run_playbook(PLAYBOOK, finding, store=store, target=target, output_dir=tmp / "out",
                                             role_name=ROLE, **kwargs)
            story.states[label] = account.state()

        run("dry")
        try:
            approve(story.runs["dry"].run_id, store=store, target=target, role_name=ROLE)
        except BadInputError as exc:
            story.refused_approval = str(exc)
        run("gated", execute=True)
        run("first", execute=True, auto_approve=True)
        run("second", execute=True, auto_approve=True)
        story.runs["recovered"] = approve(story.runs["second"].run_id, store=store, target=target, role_name=ROLE)
        story.states["recovered"] = account.state()
        for label in ("second", "first"):
            story.rollbacks[label] = rollback(story.runs[label].run_id, store=store, target=target, role_name=ROLE)
        story.states["rolled-back"] = account.state()
        story.rollbacks["again"] = rollback(story.runs["first"].run_id, store=store, target=target, role_name=ROLE)
        story.chain = verify_chain(store)
    # Tamper with a copy of the store: one executed step's audit entry rewritten.
    shutil.copy(tmp / "store.duckdb", tmp / "tampered.duckdb")
    conn = duckdb.connect(str(tmp / "tampered.duckdb"))
    row = conn.execute("SELECT seq FROM audit_log WHERE action = 'iam.deactivate-access-key' "
                       "AND details->>'phase' = 'executed' ORDER BY seq LIMIT 1").fetchone()
    assert row is not None
    story.tampered_seq = int(row[0])
    conn.execute("UPDATE audit_log SET details = json_object('phase', 'nothing happened') WHERE seq = ?", [row[0]])
    conn.close()
    with Store.open(tmp / "tampered.duckdb") as store:
        story.tampered_problems = verify_chain(store).problems
    # The command line: list, and a dry run from a finding file.
    runner = CliRunner()
    finding_file = tmp / "finding.json"
    finding_file.write_text(json.dumps(finding.to_json_dict()))
    common = ["--store", str(tmp / "cli.duckdb"), "--endpoint-url", lab.endpoint_url]
    story.cli["list"] = runner.invoke(app, ["list"])
    story.cli["run"] = runner.invoke(app, ["run", PLAYBOOK, "--finding", str(finding_file), "--role-name", ROLE,
                                           "--output-dir", str(tmp / "cli-out"), "--quiet", *common])
    story.cli["missing"] = runner.invoke(app, ["run", PLAYBOOK, "--finding", "no-such-id", *common])
    return story


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    tmp = tmp_path_factory.mktemp("respond")
    with Lab(tmp / "lab", seed="demo") as lab:
        run_scenario("compromised-credentials", lab.endpoint_url, SeedResult.load(lab.state_dir), lab.client)
        creds = lab.aws_client("sts").assume_role(RoleArn=f"arn:aws:iam::{org.PROD}:role/{ROLE}",
                                                  RoleSessionName="test-check")["Credentials"]
        iam = lab.aws_client("iam", access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"],
                             session_token=creds["SessionToken"])
        yield _respond(lab, tmp, Account(iam))


def test_the_scenario_left_an_active_leaked_key_and_an_admin_backdoor(story: Story) -> None:
    start = story.states["start"]
    assert set(start["keys"][org.USER_CI].values()) == {"Active"}
    assert set(start["keys"][BACKDOOR_USER].values()) == {"Active"}
    assert ADMIN in start["attached"][BACKDOOR_USER] and start["backdoor_login"]


def test_dry_run_plans_everything_and_changes_nothing(story: Story) -> None:
    dry = story.runs["dry"]
    assert dry.status is RunStatus.PLANNED and dry.error is None
    assert story.states["dry"] == story.states["start"]
    steps = {s.path: s for s in dry.steps}
    assert len(steps["DeactivateAccessKeys"].changes) == 2
    assert steps["EradicateUsers[0]/DeactivateBackdoorKeys"].outcome is Outcome.PLANNED
    assert any("AdministratorAccess" in c for c in steps["EradicateUsers[0]/DetachBackdoorAdmin"].changes)
    created = json.loads((dry.case_dir / "evidence" / "created-resources.json").read_text())
    assert created["Users"] == [f"arn:aws:iam::{org.PROD}:user/{BACKDOOR_USER}"]
    assert json.loads((dry.case_dir / "plan.json").read_text())["status"] == "planned"
    assert "only a run awaiting approval" in story.refused_approval


def test_execute_without_approval_waits_and_changes_nothing(story: Story) -> None:
    gated = story.runs["gated"]
    assert gated.status is RunStatus.AWAITING_APPROVAL
    assert any(p.startswith("DeactivateAccessKeys@") for p in gated.pending)
    assert not any(p.startswith("Recover@") for p in gated.pending)  # recovery is approved on its own
    assert story.states["gated"] == story.states["start"]


def test_execute_auto_approved_contains_and_eradicates(story: Story) -> None:
    first, state = story.runs["first"], story.states["first"]
    # Everything ran but recovery, which waits for a person even under auto-approve.
    assert first.status is RunStatus.AWAITING_APPROVAL and first.error is None
    assert len(first.pending) == 1 and first.pending[0].startswith("Recover@")
    assert set(state["keys"][org.USER_CI].values()) == {"Inactive"}
    assert set(state["keys"][BACKDOOR_USER].values()) == {"Inactive"}
    assert QUARANTINE in state["attached"][org.USER_CI] and QUARANTINE in state["attached"][BACKDOOR_USER]
    assert ADMIN not in state["attached"][BACKDOOR_USER] and not state["backdoor_login"]
    assert REVOKE_POLICY_NAME in state["inline"][org.USER_CI]
    executed = {s.path for s in first.steps if s.outcome is Outcome.EXECUTED}
    assert {"DeactivateAccessKeys", "RevokeSessions", "Quarantine", "EradicateUsers[0]/DeactivateBackdoorKeys",
            "EradicateUsers[0]/DeleteBackdoorLogin", "EradicateUsers[0]/DetachBackdoorAdmin"} <= executed


def test_the_case_folder_is_complete_and_its_manifest_catches_changes(story: Story) -> None:
    folder = story.runs["first"].case_dir
    assert folder == story.tmp / "out" / "cases" / story.runs["first"].run_id
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"finding.json", "playbook.asl.json", "execution-1.json", "audit.json", "manifest.json",
            "evidence/cloudtrail-activity.json", "evidence/created-resources.json"} <= names
    activity = json.loads((folder / "evidence" / "cloudtrail-activity.json").read_text())
    assert {r["eventName"] for r in activity["records"]} >= {"CreateUser", "CreateAccessKey", "StopLogging"}
    assert {r["sourceIPAddress"] for r in activity["records"]} == {org.ATTACKER_IP}
    copy = story.tmp / "case-copy"
    shutil.copytree(folder, copy)
    assert verify_manifest(copy) == []
    (copy / "evidence" / "created-resources.json").write_text("{}")
    assert verify_manifest(copy) == ["evidence/created-resources.json: content changed (sha256 differs from the "
                                     "manifest)"]


def test_running_again_reaches_the_same_end_state_without_duplicates(story: Story) -> None:
    second = story.runs["second"]
    assert second.status is RunStatus.AWAITING_APPROVAL
    assert story.states["second"] == story.states["first"]
    assert story.states["second"]["local_policies"].count(QUARANTINE) == 1
    assert story.states["second"]["inline"][org.USER_CI].count(REVOKE_POLICY_NAME) == 1
    # Nothing else had anything left to do; only the session cutoff may move forward to this run's start (it
    # does when the second run starts in a later second than the first: run times have whole-second resolution).
    assert [s.path for s in second.steps if s.outcome is Outcome.EXECUTED] in ([], ["RevokeSessions"])


def test_approving_the_recovery_gate_lifts_the_quarantine(story: Story) -> None:
    assert story.runs["recovered"].status is RunStatus.SUCCEEDED
    state = story.states["recovered"]
    assert QUARANTINE not in state["attached"][org.USER_CI]
    assert set(state["keys"][org.USER_CI].values()) == {"Inactive"}  # the leaked keys stay off
    assert QUARANTINE in state["attached"][BACKDOOR_USER]


def test_rollback_restores_what_the_runs_changed(story: Story) -> None:
    assert story.rollbacks["second"].status is RunStatus.ROLLED_BACK
    assert story.rollbacks["first"].status is RunStatus.ROLLED_BACK
    assert story.rollbacks["again"].restored == []  # a second rollback has nothing left to undo
    state, start = story.states["rolled-back"], story.states["start"]
    assert state["keys"] == start["keys"]  # every key active again
    assert state["attached"] == start["attached"]  # quarantine gone, AdministratorAccess back on the backdoor
    assert state["inline"] == start["inline"]
    assert QUARANTINE not in state["local_policies"]
    assert not state["backdoor_login"]  # a deleted password cannot come back, and rollback says so
    assert any("cannot be recovered" in line for line in story.rollbacks["first"].restored)


def test_the_audit_chain_verifies_and_a_tampered_entry_is_detected(story: Story) -> None:
    assert story.chain is not None and story.chain.ok and story.chain.entries > 40
    assert story.tampered_problems == [
        f"entry {story.tampered_seq}: its content does not match its hash (altered after it was written)"]


def test_cli_lists_playbooks_and_a_run_prints_its_id(story: Story) -> None:
    listed, ran, missing = story.cli["list"], story.cli["run"], story.cli["missing"]
    names = [line for line in listed.output.splitlines() if line and not line.startswith(" ")]
    assert listed.exit_code == 0 and PLAYBOOK in names
    assert ran.exit_code == 0, ran.output
    run_id = ran.output.strip().splitlines()[-1].removeprefix("run id: ")
    assert (story.tmp / "cli-out" / "cases" / run_id / "plan.json").exists()
    assert missing.exit_code != 0 and isinstance(missing.exception, BadInputError)
