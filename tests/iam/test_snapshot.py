"""The access model on hand-built snapshot documents: what each principal carries, the organisation's levels,
and full requests the evaluator decides (SCP denies, boundary caps, the cross-account both-sides rule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cloudwarden.core.errors import BadInputError
from cloudwarden.iam import evaluate
from cloudwarden.iam.access import can, who_can
from cloudwarden.iam.snapshot import AccessModel, ModelError

A, B, MGMT, OUTSIDE = "111111111111", "222222222222", "123456789012", "999999999999"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def doc(type_: str, arn: str, data: dict[str, Any], account: str, calls: dict[str, Any] | None = None,
        tags: dict[str, str] | None = None) -> dict[str, Any]:
    name = arn.rsplit("/", 1)[-1].split(":::")[-1]
    return {"arn": arn, "type": type_, "account": account, "region": "us-east-1", "name": name,
            "tags": tags or {}, "data": data, "calls": calls or {}}


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def managed(arn: str, document: dict[str, Any], account: str = "aws") -> dict[str, Any]:
    return doc("AwsIamPolicy", arn, {"Arn": arn, "DefaultVersionId": "v2", "PolicyVersionList": [
        {"VersionId": "v1", "IsDefaultVersion": False, "Document": policy()},
        {"VersionId": "v2", "IsDefaultVersion": True, "Document": document}]}, account)


def user(account: str, name: str, *, inline: list[dict[str, Any]] | None = None, attached: Sequence[str] = (),
         groups: Sequence[str] = (), boundary: str | None = None, tags: dict[str, str] | None = None
         ) -> dict[str, Any]:
    data: dict[str, Any] = {
        "UserName": name, "Path": "/",
        "UserPolicyList": [{"PolicyName": f"p{i}", "PolicyDocument": d} for i, d in enumerate(inline or [])],
        "AttachedManagedPolicies": [{"PolicyArn": a} for a in attached], "GroupList": list(groups),
    }
    if boundary:
        data["PermissionsBoundary"] = {"PermissionsBoundaryArn": boundary}
    return doc("AwsIamUser", f"arn:aws:iam::{account}:user/{name}", data, account, tags=tags)


def role(account: str, name: str, trust: dict[str, Any], *, inline: list[dict[str, Any]] | None = None,
         attached: Sequence[str] = ()) -> dict[str, Any]:
    return doc("AwsIamRole", f"arn:aws:iam::{account}:role/{name}", {
        "RoleName": name, "Path": "/", "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [{"PolicyName": f"p{i}", "PolicyDocument": d} for i, d in enumerate(inline or [])],
        "AttachedManagedPolicies": [{"PolicyArn": a} for a in attached]}, account)


def bucket(name: str, account: str, bucket_policy: dict[str, Any] | None) -> dict[str, Any]:
    calls: dict[str, Any] = {"GetBucketPolicy": {"PolicyDocument": bucket_policy} if bucket_policy else
                             {"error": {"code": "NoSuchBucketPolicy", "message": "none"}}}
    return doc("AwsS3Bucket", f"arn:aws:s3:::{name}", {"Name": name}, account, calls)


def organisation(scp_deny: dict[str, Any] | None, *, deny_target: str = "ou-work",
                 drop_full_access_at: str | None = None) -> list[dict[str, Any]]:
    """root r-1 -> OU ou-work -> accounts A and B; the management account under the root."""
    docs = [
        doc("AwsOrganizationsOrganization", "arn:org", {"Id": "o-test", "MasterAccountId": MGMT}, MGMT,
            {"ListRoots": {"Roots": [{"Id": "r-1", "PolicyTypes": [
                {"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}]}]}}),
        doc("AwsOrganizationsOrganizationalUnit", "arn:ou", {"Id": "ou-work", "ParentId": "r-1"}, MGMT),
        doc("AwsOrganizationsAccount", "arn:a", {"Id": A, "ParentId": "ou-work"}, MGMT),
        doc("AwsOrganizationsAccount", "arn:b", {"Id": B, "ParentId": "ou-work"}, MGMT),
        doc("AwsOrganizationsAccount", "arn:m", {"Id": MGMT, "ParentId": "r-1"}, MGMT),
    ]
    full_targets = [t for t in ("r-1", "ou-work", A, B, MGMT) if t != drop_full_access_at]
    docs.append(doc("AwsOrganizationsPolicy", "arn:p-full", {"Id": "p-full", "Name": "FullAWSAccess",
                                                              "Type": "SERVICE_CONTROL_POLICY", "AwsManaged": True},
                    MGMT, {"DescribePolicy": {"PolicyDocument": ALLOW_ALL},
                           "ListTargetsForPolicy": {"Targets": [{"TargetId": t} for t in full_targets]}}))
    if scp_deny is not None:
        docs.append(doc("AwsOrganizationsPolicy", "arn:p-deny", {"Id": "p-deny", "Name": "guard",
                                                                  "Type": "SERVICE_CONTROL_POLICY"},
                        MGMT, {"DescribePolicy": {"PolicyDocument": scp_deny},
                               "ListTargetsForPolicy": {"Targets": [{"TargetId": deny_target}]}}))
    return docs


ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
S3_ONLY = "arn:aws:iam::aws:policy/S3Only"


def base_docs() -> list[dict[str, Any]]:
    return [
        managed(ADMIN, ALLOW_ALL),
        managed(S3_ONLY, policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})),
        doc("AwsIamGroup", f"arn:aws:iam::{A}:group/devs", {
            "GroupName": "devs", "AttachedManagedPolicies": [{"PolicyArn": S3_ONLY}],
            "GroupPolicyList": [{"PolicyName": "logs", "PolicyDocument": policy(
                {"Effect": "Allow", "Action": "logs:GetLogEvents", "Resource": "*"})}]}, A),
        user(A, "admin", attached=[ADMIN]),
        user(A, "dev", groups=["devs"], tags={"team": "blue"}),
        user(A, "capped", attached=[ADMIN], boundary=S3_ONLY),
        user(A, "nobody"),
        user(B, "reader", inline=[policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})]),
        role(A, "ops", policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                               "Principal": {"AWS": f"arn:aws:iam::{A}:root"}}), attached=[ADMIN]),
        bucket("shared-a", A, policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                                      "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-a/*"})),
        bucket("private-a", A, None),
    ]


def decide(model: AccessModel, principal: str, action: str, resource: str,
           context: dict[str, Any] | None = None) -> str:
    return evaluate(model.request_for(principal, action, resource, context)).decision


def test_principals_carry_group_policies_boundary_and_tags() -> None:
    model = AccessModel.from_documents(base_docs())
    dev = model.principal(f"arn:aws:iam::{A}:user/dev")
    assert dev is not None and dev.groups == ("devs",)
    assert {(s.kind, s.name, s.via) for s in dev.sources} == {("group-managed", S3_ONLY, "devs"),
                                                               ("group-inline", "logs", "devs")}
    assert dict(dev.tags) == {"team": "blue"}
    capped = model.principal(f"arn:aws:iam::{A}:user/capped")
    assert capped is not None and capped.boundary_arn == S3_ONLY and capped.permissions_boundary is not None
    # one compiled object per managed policy, shared by every principal attaching it
    admin = model.principal(f"arn:aws:iam::{A}:user/admin")
    assert admin is not None and admin.identity_policies[0] is capped.identity_policies[0]
    # a role's session ARN finds the role
    ops = model.principal(f"arn:aws:sts::{A}:assumed-role/ops/s1")
    assert ops is not None and ops.kind == "role" and ops.trust_policy is not None


def test_group_membership_grants_and_only_the_default_version_counts() -> None:
    model = AccessModel.from_documents(base_docs())
    assert decide(model, f"arn:aws:iam::{A}:user/dev", "logs:GetLogEvents", "*") == "allowed"
    assert decide(model, f"arn:aws:iam::{A}:user/dev", "ec2:RunInstances", "*") == "implicitDeny"
    assert decide(model, f"arn:aws:iam::{A}:user/nobody", "s3:GetObject", "arn:aws:s3:::private-a/k") \
        == "implicitDeny"


def test_permissions_boundary_caps_an_admin() -> None:
    model = AccessModel.from_documents(base_docs())
    capped = f"arn:aws:iam::{A}:user/capped"
    assert decide(model, capped, "s3:PutObject", "arn:aws:s3:::private-a/k") == "allowed"
    decision = evaluate(model.request_for(capped, "iam:CreateUser", "*"))
    assert decision.decision == "implicitDeny" and decision.blocked_by == ("permissions_boundary",)
    assert decide(model, f"arn:aws:iam::{A}:user/admin", "iam:CreateUser", "*") == "allowed"


def test_scp_levels_from_targets_deny_and_spare_the_management_account() -> None:
    deny = policy({"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"})
    docs = base_docs() + organisation(deny) + [user(MGMT, "root-admin", attached=[ADMIN])]
    model = AccessModel.from_documents(docs)
    assert model.management_account == MGMT
    levels = model.org_levels(A)
    assert levels.scps is not None and len(levels.scps) == 3  # root, OU, account
    assert [p.label for p in levels.scps[1]] == ["scp:FullAWSAccess", "scp:guard"]
    assert levels.org_path == "o-test/r-1/ou-work/"
    decision = evaluate(model.request_for(f"arn:aws:iam::{A}:user/admin", "iam:CreateUser", "*"))
    assert decision.decision == "explicitDeny" and decision.blocked_by == ("scp",)
    assert decide(model, f"arn:aws:iam::{A}:user/admin", "iam:ListUsers", "*") == "allowed"
    # the management account sits under the root only, and SCPs never apply to it anyway
    assert decide(model, f"arn:aws:iam::{MGMT}:user/root-admin", "iam:CreateUser", "*") == "allowed"


def test_a_level_without_full_access_denies_everything_it_does_not_list() -> None:
    model = AccessModel.from_documents(base_docs() + organisation(None, drop_full_access_at="ou-work"))
    decision = evaluate(model.request_for(f"arn:aws:iam::{A}:user/admin", "s3:ListAllMyBuckets", "*"))
    assert decision.decision == "implicitDeny" and decision.blocked_by == ("scp",)


def test_principal_org_id_is_in_the_context() -> None:
    model = AccessModel.from_documents(base_docs() + organisation(None))
    request = model.request_for(f"arn:aws:iam::{A}:user/dev", "s3:GetObject", "arn:aws:s3:::private-a/k")
    assert request.context["aws:principalorgid"] == "o-test"
    assert request.context["aws:principaltag/team"] == "blue"
    assert request.context["aws:resourceaccount"] == A  # the bucket's owner, found by name


def test_cross_account_needs_both_sides() -> None:
    model = AccessModel.from_documents(base_docs())
    reader = f"arn:aws:iam::{B}:user/reader"
    # B's reader: identity allows, bucket policy names B -> allowed
    assert decide(model, reader, "s3:GetObject", "arn:aws:s3:::shared-a/x") == "allowed"
    # the private bucket has no policy: the identity side alone is not enough across accounts
    decision = evaluate(model.request_for(reader, "s3:GetObject", "arn:aws:s3:::private-a/x"))
    assert decision.decision == "implicitDeny" and "resource" in decision.blocked_by
    # the bucket policy alone is not enough either: an outside principal without an identity grant
    outside = f"arn:aws:iam::{B}:user/ghost"
    decision = evaluate(model.request_for(outside, "s3:GetObject", "arn:aws:s3:::shared-a/x"))
    assert decision.decision == "implicitDeny" and "identity" in decision.blocked_by


def test_who_can_lists_principals_and_the_outside_account() -> None:
    model = AccessModel.from_documents(base_docs())
    grants = who_can(model, "s3:GetObject", "arn:aws:s3:::shared-a/report.csv")
    allowed = {g.principal for g in grants if g.decision == "allowed"}
    assert f"arn:aws:iam::{A}:user/admin" in allowed and f"arn:aws:iam::{A}:user/dev" in allowed
    assert f"arn:aws:iam::{B}:user/reader" in allowed
    assert f"arn:aws:iam::{A}:user/nobody" not in allowed and "*" not in allowed
    # B is in the snapshot, so it is answered through its principals, not as an opaque account
    assert not any(g.principal_kind == "account" for g in grants)


def test_who_can_expands_wildcards_and_can_groups_by_access_level() -> None:
    model = AccessModel.from_documents(base_docs())
    grants = who_can(model, "logs:GetLog*", "*")
    by_dev = {g.action for g in grants if g.principal.endswith("user/dev")}
    assert by_dev == {"logs:GetLogEvents"}
    assert len({g.action for g in grants if g.principal.endswith("user/admin")}) > 1
    result = can(model, f"arn:aws:iam::{A}:user/dev", service="logs")
    assert result == {"Read": [("logs:GetLogEvents", "*")]}
    capped = can(model, f"arn:aws:iam::{A}:user/capped")
    assert {a.split(":")[0] for pairs in capped.values() for a, _ in pairs} == {"s3"}


def test_can_rejects_unknown_principals_and_services() -> None:
    model = AccessModel.from_documents(base_docs())
    with pytest.raises(BadInputError, match="not a user or role"):
        can(model, f"arn:aws:iam::{A}:user/missing")
    with pytest.raises(BadInputError, match="not a service prefix"):
        can(model, f"arn:aws:iam::{A}:user/dev", service="nosuchservice")


def test_a_policy_that_does_not_compile_is_an_error_never_a_guess() -> None:
    broken = user(A, "broken", inline=[{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"NoSuchOperator": {"a": "b"}}}]}])
    model = AccessModel.from_documents([*base_docs(), broken])
    assert any("user/broken" in e for e in model.errors)
    with pytest.raises(ModelError):
        model.request_for(f"arn:aws:iam::{A}:user/broken", "s3:GetObject", "*")
    grants = who_can(model, "s3:GetObject", "arn:aws:s3:::private-a/k")
    assert [g.decision for g in grants if g.principal.endswith("user/broken")] == ["error"]


def test_missing_managed_policy_is_reported() -> None:
    model = AccessModel.from_documents([user(A, "orphan", attached=["arn:aws:iam::aws:policy/Gone"])])
    assert any("Gone is not in the snapshot" in e for e in model.errors)
