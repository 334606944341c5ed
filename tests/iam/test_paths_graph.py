"""The principal graph and its search (iam/paths/graph.py, search.py, findings.py) on hand-built models: each
side of an edge decided by the evaluator, multi-hop search, targets other than admin, and the findings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam import evaluate
from cloudwarden.iam.paths import build_graph, find_paths, is_admin, path_findings
from tests.iam.pathsupport import ACCT, ADMIN, HARMLESS, Builder, allow

ROOT = {"AWS": f"arn:aws:iam::{ACCT}:root"}


def test_admin_means_iam_wildcard_on_everything_not_a_list_of_actions() -> None:
    b = Builder()
    star = b.user("star", ADMIN)
    iam_star = b.user("iam-star", allow(["iam:*"]))
    listed = b.user("listed", allow(["iam:AttachRolePolicy", "iam:PutUserPolicy", "iam:CreateAccessKey",
                                     "iam:PassRole"]))
    scoped = b.user("scoped", allow(["iam:*"], f"arn:aws:iam::{ACCT}:user/*"))
    model = b.model()
    assert is_admin(model, star) and is_admin(model, iam_star)
    assert not is_admin(model, listed) and not is_admin(model, scoped)


def test_assume_role_needs_both_the_trust_policy_and_the_identity_side() -> None:
    b = Builder()
    start = b.user("start", allow(["sts:AssumeRole"]))
    b.role("trusts-account", ADMIN, trusts=ROOT)
    b.role("trusts-other-account", ADMIN, trusts={"AWS": "arn:aws:iam::222222222222:root"})
    graph = build_graph(b.model())
    assert [h.target.rsplit("/", 1)[-1] for h in graph.become[start]] == ["trusts-account"]
    # without the identity permission, a trust policy naming the account is not enough ...
    b2 = Builder()
    nobody = b2.user("start", HARMLESS)
    b2.role("trusts-account", ADMIN, trusts=ROOT)
    b2.role("names-start", ADMIN, trusts={"AWS": nobody})
    graph2 = build_graph(b2.model())
    # ... but a same-account trust policy naming the user directly is (IAM User Guide, cross-account evaluation)
    assert [h.target.rsplit("/", 1)[-1] for h in graph2.become.get(nobody, ())] == ["names-start"]


def test_policy_edit_on_a_principal_capped_by_a_boundary_is_no_path() -> None:
    b = Builder()
    cap = b.policy("cap", allow(["s3:*"]))
    start = b.user("start", allow(["iam:AttachRolePolicy", "sts:AssumeRole"]))
    b.role("capped", HARMLESS, trusts=ROOT, boundary=cap)
    assert find_paths(b.model(), source=start) == []
    b.role("uncapped", HARMLESS, trusts=ROOT)
    [path] = find_paths(b.model(), source=start)
    assert path.reached.endswith("role/uncapped") and "iam-014" in path.techniques


def test_pass_role_checks_passed_to_service_condition_and_the_trusted_service() -> None:
    b = Builder()
    start = b.user("start", [
        {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:InvokeFunction"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
    ])
    b.role("lambda-admin", ADMIN, trusts={"Service": "lambda.amazonaws.com"})
    assert find_paths(b.model(), source=start) == []  # may pass roles only to EC2
    b.role("ec2-admin", ADMIN, trusts={"Service": "ec2.amazonaws.com"})
    assert find_paths(b.model(), source=start) == []  # may pass to EC2 but cannot launch instances
    b2 = Builder()
    start2 = b2.user("start", [{"Effect": "Allow", "Action": ["ec2:RunInstances"], "Resource": "*"},
                               {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}])
    b2.role("ec2-admin", ADMIN, trusts={"Service": "ec2.amazonaws.com"}, instance_profile=False)
    assert find_paths(b2.model(), source=start2) == []  # a role without an instance profile cannot go to EC2
    b2.role("ec2-admin-2", ADMIN, trusts={"Service": "ec2.amazonaws.com"})
    [path] = find_paths(b2.model(), source=start2)
    assert path.techniques == ("ec2-001",) and path.reached.endswith("ec2-admin-2")


def test_multi_hop_shortest_path_and_paths_to_a_named_principal() -> None:
    b = Builder()
    start = b.user("start", allow(["sts:AssumeRole"], f"arn:aws:iam::{ACCT}:role/hop1"))
    hop1 = b.role("hop1", allow(["iam:CreateAccessKey"], f"arn:aws:iam::{ACCT}:user/hop2"), trusts=ROOT)
    hop2 = b.user("hop2", allow(["lambda:UpdateFunctionCode"]))
    fn_role = b.role("fn-role", allow(["iam:PutRolePolicy"], f"arn:aws:iam::{ACCT}:role/fn-role"),
                     trusts={"Service": "lambda.amazonaws.com"})
    b.workload("lambda-function", fn_role)
    model = b.model()
    [path] = find_paths(model, source=start)
    assert [h.technique for h in path.hops] == ["sts-001", "iam-002", "lambda-003", "iam-005"]
    assert [h.actor for h in path.hops] == [start, hop1, hop2, fn_role]
    assert path.reached == fn_role
    [to_hop2] = find_paths(model, source=start, to=hop2)
    assert len(to_hop2.hops) == 2 and to_hop2.reached == hop2
    everyone = {p.source for p in find_paths(model)}
    assert everyone == {start, hop1, hop2, fn_role}  # fn-role edits its own policy
    assert find_paths(model, source=fn_role, to=start) == []


def test_unknown_principals_are_bad_input() -> None:
    b = Builder()
    b.user("start", HARMLESS)
    with pytest.raises(BadInputError, match="--from"):
        find_paths(b.model(), source=f"arn:aws:iam::{ACCT}:user/nobody")
    with pytest.raises(BadInputError, match="--to"):
        find_paths(b.model(), to=f"arn:aws:iam::{ACCT}:role/nobody")


def test_undecidable_condition_makes_no_edge() -> None:
    b = Builder()
    # a numeric operator on a value that is not a number: the evaluator answers "error", never allowed
    start = b.user("start", [{"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": "*",
                              "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}])
    model = b.model()
    assert find_paths(model, source=start) == []  # key absent: the condition does not match
    assert evaluate(replace(model.access.request_for(start, "iam:PutUserPolicy", start),
                            context={"aws:multifactorauthage": "soon"})).decision == "error"
    assert find_paths(replace(model, context={"aws:MultiFactorAuthAge": "soon"}), source=start) == []
    assert len(find_paths(replace(model, context={"aws:MultiFactorAuthAge": "60"}), source=start)) == 1


def test_findings_one_per_source_with_hops_as_evidence() -> None:
    b = Builder()
    user = b.user("dev", allow(["iam:PutUserPolicy"], f"arn:aws:iam::{ACCT}:user/dev"))
    role = b.role("builder", allow(["iam:AttachRolePolicy"], f"arn:aws:iam::{ACCT}:role/builder"))
    b.user("ok", HARMLESS)
    findings = {f.principal: f for f in path_findings(find_paths(b.model()))}
    assert set(findings) == {user, role}
    assert findings[user].type == "PrivilegeEscalation:IAMUser/PathToAdmin"
    assert findings[role].type == "PrivilegeEscalation:IAMRole/PathToAdmin"
    assert findings[user].severity.value == "HIGH" and findings[user].source.value == "iam"
    assert findings[user].resource.id == user and findings[user].account_id == ACCT
    hops = findings[role].evidence.details["hops"]
    assert hops == [{"kind": "policy-edit", "technique": "iam-009", "actor": role, "target": role,
                     "resource": role, "permissions": ["iam:AttachRolePolicy"]}]
    again = {f.principal: f.id for f in path_findings(find_paths(b.model()))}
    assert again == {p: f.id for p, f in findings.items()}  # stable ids
