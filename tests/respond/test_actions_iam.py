"""IAM and collection actions against the lab: plan changes nothing, execute changes only what differs,
verify re-reads, rollback restores; exclusion tags are honoured and bad parameters refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from cloudwarden.iam import get_catalog
from cloudwarden.lab.server import Lab
from cloudwarden.respond.actions import ACTIONS, EXCLUDE_TAG, ActionContext, Evidence, get_action
from cloudwarden.respond.actions.iam import QUARANTINE_POLICY_NAME, REVOKE_POLICY_NAME, quarantine_arn
from cloudwarden.respond.asl import StatesError, TaskCall
from cloudwarden.respond.journal import Journal, verify_chain
from cloudwarden.respond.records import Records
from cloudwarden.respond.steps import Mode, Outcome, StepRunner
from cloudwarden.store import Store

pytestmark = pytest.mark.lab
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with Lab(tmp_path_factory.mktemp("lab"), seed="empty", flush_interval=3600) as running:
        yield running


@pytest.fixture(scope="module")
def iam(lab: Lab) -> Any:
    return lab.aws_client("iam")


@pytest.fixture
def ctx(lab: Lab, tmp_path: Path) -> ActionContext:
    clients: dict[tuple[str, str | None], Any] = {}

    def client(service: str, region: str | None) -> Any:
        if (service, region) not in clients:
            clients[(service, region)] = lab.aws_client(service, region=region or "us-east-1")
        return clients[(service, region)]

    return ActionContext(client, lab.accounts["management"], "us-east-1", "run-test",
                         datetime.now(UTC).replace(microsecond=0), Evidence(tmp_path / "evidence"))


def user(iam: Any, name: str, keys: int = 0, tags: dict[str, str] | None = None) -> list[str]:
    iam.create_user(UserName=name, Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()])
    return [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(keys)]


def statuses(iam: Any, name: str) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}


def attached(iam: Any, name: str) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]


def test_registry_declares_schema_and_permissions_for_every_action() -> None:
    assert {"iam.deactivate-access-key", "iam.revoke-sessions", "iam.attach-quarantine-policy",
            "iam.delete-login-profile", "iam.detach-admin-policy", "collect.cloudtrail-activity",
            "collect.created-resources"} <= set(ACTIONS)
    for action in ACTIONS.values():
        Draft7Validator.check_schema(action.input_schema)
        assert action.permissions, action.name
        unknown = [p for p in action.permissions if not get_catalog().action_exists(p)]
        assert not unknown, f"{action.name} declares permissions IAM does not know: {unknown}"
        assert not (action.read_only and action.disruptive)


def test_deactivate_keys_plan_execute_verify_rerun_rollback(iam: Any, ctx: ActionContext) -> None:
    keys = user(iam, "leaky", keys=2)
    action = get_action("iam.deactivate-access-key")
    params = {"Principal": f"arn:aws:iam::{ctx.account_id}:user/leaky"}
    plan = action.plan(ctx, params)
    assert sorted(plan.result["Deactivated"]) == sorted(keys) and len(plan.changes) == 2
    assert set(statuses(iam, "leaky").values()) == {"Active"}  # a plan changes nothing
    done = action.execute(ctx, params)
    assert set(statuses(iam, "leaky").values()) == {"Inactive"}
    assert action.verify(ctx, params, done.result) == []
    again = action.execute(ctx, params)
    assert again.changes == [] and again.undo is None and sorted(again.result["AlreadyInactive"]) == sorted(keys)
    assert done.undo is not None
    action.rollback(ctx, done.undo)
    assert set(statuses(iam, "leaky").values()) == {"Active"}


def test_deactivate_only_the_keys_named(iam: Any, ctx: ActionContext) -> None:
    first, second = user(iam, "two-keys", keys=2)
    get_action("iam.deactivate-access-key").execute(ctx, {"UserName": "two-keys", "AccessKeyIds": [second]})
    assert statuses(iam, "two-keys") == {first: "Active", second: "Inactive"}


def test_a_missing_principal_is_nothing_to_do(ctx: ActionContext) -> None:
    for name in ("iam.deactivate-access-key", "iam.revoke-sessions", "iam.attach-quarantine-policy",
                 "iam.delete-login-profile", "iam.detach-admin-policy"):
        outcome = get_action(name).execute(ctx, {"UserName": "nobody-here"})
        assert outcome.changes == [] and outcome.undo is None, name


def revoke_policy(iam: Any, name: str) -> dict[str, Any]:
    document = iam.get_user_policy(UserName=name, PolicyName=REVOKE_POLICY_NAME)["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def test_revoke_sessions_is_a_dated_deny_all_that_only_moves_forward(iam: Any, ctx: ActionContext) -> None:
    user(iam, "sessions")
    action = get_action("iam.revoke-sessions")
    first = {"UserName": "sessions", "NotBefore": "2026-01-01T00:00:00Z"}
    done = action.execute(ctx, first)
    statement = revoke_policy(iam, "sessions")["Statement"][0]
    assert statement["Effect"] == "Deny" and statement["Action"] == "*" and statement["Resource"] == "*"
    assert statement["Condition"] == {"DateLessThan": {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"}}
    assert action.execute(ctx, first).changes == []
    assert action.execute(ctx, {**first, "NotBefore": "2025-06-01T00:00:00Z"}).changes == []  # never backwards
    later = action.execute(ctx, {**first, "NotBefore": "2026-02-01T00:00:00Z"})
    assert later.undo is not None and later.undo["Previous"]["Statement"][0] == statement
    action.rollback(ctx, later.undo)
    assert revoke_policy(iam, "sessions")["Statement"][0] == statement
    assert done.undo is not None
    action.rollback(ctx, done.undo)
    assert iam.list_user_policies(UserName="sessions")["PolicyNames"] == []


def test_revoke_sessions_defaults_to_the_run_start_for_roles(iam: Any, ctx: ActionContext) -> None:
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    get_action("iam.revoke-sessions").execute(ctx, {"RoleName": "app"})
    document = iam.get_role_policy(RoleName="app", PolicyName=REVOKE_POLICY_NAME)["PolicyDocument"]
    document = document if isinstance(document, dict) else json.loads(document)
    cutoff = document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert datetime.fromisoformat(cutoff) == ctx.started_at


def test_quarantine_creates_once_attaches_and_rolls_back(iam: Any, ctx: ActionContext) -> None:
    user(iam, "q1")
    user(iam, "q2")
    action = get_action("iam.attach-quarantine-policy")
    arn = quarantine_arn(ctx.account_id)
    first = action.execute(ctx, {"UserName": "q1"})
    second = action.execute(ctx, {"UserName": "q2"})
    assert first.undo is not None and first.undo["CreatedPolicy"] is True
    assert second.undo is not None and second.undo["CreatedPolicy"] is False
    assert arn in attached(iam, "q1") and arn in attached(iam, "q2")
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    document = document if isinstance(document, dict) else json.loads(document)
    assert document["Statement"][0]["Effect"] == "Deny" and document["Statement"][0]["Action"] == "*"
    assert action.execute(ctx, {"UserName": "q1"}).changes == []
    action.rollback(ctx, first.undo)  # q2 still uses the policy: it stays
    assert arn not in attached(iam, "q1") and QUARANTINE_POLICY_NAME in arn
    iam.get_policy(PolicyArn=arn)
    action.rollback(ctx, second.undo)
    remove = get_action("iam.remove-quarantine-policy")
    assert remove.plan(ctx, {"UserName": "q2"}).changes == []


def test_delete_login_profile_is_irreversible_and_says_so(iam: Any, ctx: ActionContext) -> None:
    user(iam, "console")
    iam.create_login_profile(UserName="console", Password="Str0ng!Passw0rd-x")
    action = get_action("iam.delete-login-profile")
    assert action.plan(ctx, {"UserName": "console"}).changes == ["delete the console password of user console"]
    done = action.execute(ctx, {"UserName": "console"})
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="console")
    assert not action.reversible and done.undo is not None
    assert "cannot be recovered" in action.rollback(ctx, done.undo)[0]


def test_detach_admin_policies_only(iam: Any, ctx: ActionContext) -> None:
    user(iam, "admin-ish")
    star = iam.create_policy(PolicyName="everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]["Arn"]
    narrow = iam.create_policy(PolicyName="narrow", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    ))["Policy"]["Arn"]
    for arn in (ADMIN, star, narrow):
        iam.attach_user_policy(UserName="admin-ish", PolicyArn=arn)
    action = get_action("iam.detach-admin-policy")
    done = action.execute(ctx, {"UserName": "admin-ish"})
    assert sorted(done.result["Detached"]) == sorted([ADMIN, star])
    assert attached(iam, "admin-ish") == [narrow]
    assert done.undo is not None
    action.rollback(ctx, done.undo)
    assert sorted(attached(iam, "admin-ish")) == sorted([ADMIN, star, narrow])


def call(resource: str, params: dict[str, Any], path: str = "S") -> TaskCall:
    return TaskCall(resource, params, path, path, 0, {})


def test_excluded_resources_are_never_touched_even_auto_approved(iam: Any, ctx: ActionContext) -> None:
    keys = user(iam, "protected", keys=1, tags={EXCLUDE_TAG: "true"})
    with Store.open(":memory:") as store:
        steps = StepRunner(Mode.EXECUTE, ctx, Journal(store), Records(store), "run-x", auto_approve=True)
        result = steps(call("cloudwarden:iam.deactivate-access-key", {"UserName": "protected"}))
        assert result["Excluded"] == ["user/protected"]
        assert steps.steps[0].outcome is Outcome.EXCLUDED
        assert [e.details["phase"] for e in Journal(store).entries()] == ["excluded"]
        assert verify_chain(store).ok
    assert statuses(iam, "protected") == {keys[0]: "Active"}


def test_disruptive_steps_wait_and_are_audited_before_they_run(iam: Any, ctx: ActionContext) -> None:
    keys = user(iam, "gated", keys=1)
    with Store.open(":memory:") as store:
        steps = StepRunner(Mode.EXECUTE, ctx, Journal(store), Records(store), "run-y")
        with pytest.raises(Exception, match="waits for approval") as waiting:
            steps(call("cloudwarden:iam.deactivate-access-key", {"UserName": "gated"}))
        assert statuses(iam, "gated") == {keys[0]: "Active"}
        key = waiting.value.key  # type: ignore[attr-defined]
        approved = StepRunner(Mode.EXECUTE, ctx, Journal(store), Records(store), "run-y", approved=frozenset({key}))
        approved(call("cloudwarden:iam.deactivate-access-key", {"UserName": "gated"}))
        phases = [e.details["phase"] for e in Journal(store).entries()]
        assert phases == ["awaiting-approval", "execute", "executed"]
        assert len(Records(store).undo_records("run-y")) == 1
    assert statuses(iam, "gated") == {keys[0]: "Inactive"}


def test_bad_parameters_are_refused_before_anything_runs(ctx: ActionContext) -> None:
    with Store.open(":memory:") as store:
        steps = StepRunner(Mode.PLAN, ctx, Journal(store), Records(store), "run-z")
        with pytest.raises(StatesError) as caught:
            steps(call("cloudwarden:iam.deactivate-access-key", {"UserName": "a", "RoleName": "b"}))
        assert caught.value.error == "cloudwarden.InvalidParameters"
        with pytest.raises(StatesError):
            steps(call("cloudwarden:iam.revoke-sessions", {"Principal": "arn:aws:s3:::bucket"}))
        assert Journal(store).entries() == []


def test_collect_activity_and_created_resources(lab: Lab, iam: Any, ctx: ActionContext) -> None:
    user(iam, "intruder")
    iam.attach_user_policy(UserName="intruder", PolicyArn=ADMIN)
    key = iam.create_access_key(UserName="intruder")["AccessKey"]
    as_intruder = lab.aws_client("iam", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])
    as_intruder.list_users()
    as_intruder.create_user(UserName="intruder-backdoor")
    backdoor_key = as_intruder.create_access_key(UserName="intruder-backdoor")["AccessKey"]
    as_intruder.create_login_profile(UserName="intruder-backdoor", Password="Secr3t!Passw0rd-z")
    as_intruder.attach_user_policy(UserName="intruder-backdoor", PolicyArn=ADMIN)
    with pytest.raises(as_intruder.exceptions.EntityAlreadyExistsException):
        as_intruder.create_user(UserName="intruder-backdoor")  # failed calls create nothing
    params = {"UserName": "intruder", "Regions": ["us-east-1"]}
    activity = get_action("collect.cloudtrail-activity").execute(ctx, params).result
    assert activity["EventNames"]["CreateUser"] == 2 and activity["Errors"] == 1
    created = get_action("collect.created-resources").execute(ctx, params).result
    assert created["Users"] == [f"arn:aws:iam::{ctx.account_id}:user/intruder-backdoor"]
    assert created["AccessKeys"] == [{"UserName": "intruder-backdoor", "AccessKeyId": backdoor_key["AccessKeyId"]}]
    assert created["LoginProfiles"] == ["intruder-backdoor"]
    assert created["Attachments"] == [{"Kind": "user", "Name": "intruder-backdoor", "PolicyArn": ADMIN}]
    evidence = ctx.evidence.folder / "cloudtrail-activity.json"
    text = evidence.read_text()
    assert backdoor_key["SecretAccessKey"] not in text and "Secr3t!Passw0rd-z" not in text
    assert len(json.loads(text)["records"]) == activity["Events"]
    assert (ctx.evidence.folder / "created-resources.json").exists()


def test_evidence_never_overwrites_different_content(tmp_path: Path) -> None:
    evidence = Evidence(tmp_path / "evidence")
    assert evidence.write_json("a.json", {"v": 1}) == "evidence/a.json"
    assert evidence.write_json("a.json", {"v": 1}) == "evidence/a.json"
    assert evidence.write_json("a.json", {"v": 2}) == "evidence/a.2.json"
    assert json.loads((tmp_path / "evidence" / "a.json").read_text()) == {"v": 1}

