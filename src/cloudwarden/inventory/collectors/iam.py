"""IAM users, roles, groups and policies from one paginated ``GetAccountAuthorizationDetails``.

One call family (with ``Filter`` = User, Role, Group, LocalManagedPolicy) returns every principal with
its inline policies, attachments, group memberships, tags and trust policy, which is what the controls
and the IAM engine read; per-principal ``Get*`` calls would cost hundreds of requests. Only what it
lacks is fetched per user (access keys and their last use, MFA devices, login profile), and the AWS
managed policies that are actually attached are fetched one by one (``GetPolicy`` +
``GetPolicyVersion`` of the default version) instead of listing the 1,300 that exist.

Policy documents arrive decoded (botocore URL-decodes and parses IAM's policy strings); any that did
not are decoded here, so ``PolicyDocument``/``Document`` are always objects. IAM is global; its
documents have region ``us-east-1``, as Security Hub records them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from cloudwarden.inventory.context import UnitContext, failed
from cloudwarden.inventory.document import decode_policy, make_document, tags_of

T = TypeVar("T")
GLOBAL_REGION = "us-east-1"
TYPES = ("AwsIamUser", "AwsIamRole", "AwsIamGroup", "AwsIamPolicy")
AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"
PERMISSIONS = (
    "iam:GetAccountAuthorizationDetails", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:ListMFADevices",
    "iam:GetLoginProfile", "iam:GetPolicy", "iam:GetPolicyVersion",
)


def collect_iam(ctx: UnitContext) -> list[dict[str, Any]]:
    pages, error = ctx.pages("GetAccountAuthorizationDetails",
                             {"Filter": ["User", "Role", "Group", "LocalManagedPolicy"]}, service="iam")
    if error is not None:
        return []
    users = [u for p in pages for u in p.get("UserDetailList", [])]
    roles = [r for p in pages for r in p.get("RoleDetailList", [])]
    groups = [g for p in pages for g in p.get("GroupDetailList", [])]
    policies = [p_ for p in pages for p_ in p.get("Policies", [])]
    documents: list[dict[str, Any]] = []
    kept_users = _capped(ctx, "AwsIamUser", users)
    user_calls = ctx.map(lambda user: _user_calls(ctx, str(user["UserName"])), kept_users)
    for user, calls in zip(kept_users, user_calls, strict=True):
        _decode_inline(user, "UserPolicyList")
        documents.append(_doc(ctx, "AwsIamUser", user, "UserName", calls))
    for role in _capped(ctx, "AwsIamRole", roles):
        _decode_inline(role, "RolePolicyList")
        role["AssumeRolePolicyDocument"] = decode_policy(role.get("AssumeRolePolicyDocument"))
        documents.append(_doc(ctx, "AwsIamRole", role, "RoleName", {}))
    for group in _capped(ctx, "AwsIamGroup", groups):
        _decode_inline(group, "GroupPolicyList")
        documents.append(_doc(ctx, "AwsIamGroup", group, "GroupName", {}))
    attached = sorted({
        str(a["PolicyArn"])
        for principal in (*users, *roles, *groups)
        for a in principal.get("AttachedManagedPolicies") or []
        if str(a.get("PolicyArn", "")).startswith(AWS_MANAGED_PREFIX)
    })
    managed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for policy in policies:
        for version in policy.get("PolicyVersionList") or []:
            version["Document"] = decode_policy(version.get("Document"))
        managed.append((policy, {}))
    managed.extend(ctx.map(lambda arn: _aws_managed(ctx, arn), attached))
    for policy, calls in _capped(ctx, "AwsIamPolicy", managed):
        documents.append(_doc(ctx, "AwsIamPolicy", policy, "PolicyName", calls))
    return documents


def _capped(ctx: UnitContext, resource_type: str, items: list[T]) -> list[T]:
    limit = ctx.cap_for(resource_type)
    if len(items) > limit:
        ctx.record("GetAccountAuthorizationDetails", "CapReached",
                   f"{len(items)} {resource_type}; kept the first {limit}", service="iam")
        return items[:limit]
    return items


def _decode_inline(item: dict[str, Any], key: str) -> None:
    for inline in item.get(key) or []:
        inline["PolicyDocument"] = decode_policy(inline.get("PolicyDocument"))


def _doc(ctx: UnitContext, type_: str, item: dict[str, Any], name_key: str,
         calls: dict[str, Any]) -> dict[str, Any]:
    arn = str(item["Arn"])
    # AWS managed policies are one resource shared by every account (see inventory.stage).
    owner = "aws" if arn.startswith(AWS_MANAGED_PREFIX) else ctx.account
    return make_document(arn=arn, type_=type_, account=owner, region=GLOBAL_REGION,
                         name=str(item.get(name_key, "")), data=item, tags=tags_of(item.get("Tags")), calls=calls)


def _user_calls(ctx: UnitContext, user: str) -> dict[str, Any]:
    calls: dict[str, Any] = {}
    keys = ctx.call("ListAccessKeys", {"UserName": user}, service="iam")
    calls["ListAccessKeys"] = keys
    if not failed(keys):
        calls["GetAccessKeyLastUsed"] = {
            str(k["AccessKeyId"]): ctx.call("GetAccessKeyLastUsed", {"AccessKeyId": k["AccessKeyId"]}, service="iam")
            for k in keys.get("AccessKeyMetadata", [])
        }
    calls["ListMFADevices"] = ctx.call("ListMFADevices", {"UserName": user}, service="iam")
    calls["GetLoginProfile"] = ctx.call("GetLoginProfile", {"UserName": user}, service="iam")
    return calls


def _aws_managed(ctx: UnitContext, arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An attached AWS managed policy in ``GetAccountAuthorizationDetails``' ``Policies`` item shape, and the
    calls that failed getting it (a policy that could not be read still has a document saying so)."""
    policy = ctx.call("GetPolicy", {"PolicyArn": arn}, service="iam")
    if failed(policy):
        return {"Arn": arn, "PolicyName": arn.rsplit("/", 1)[-1], "PolicyVersionList": []}, {"GetPolicy": policy}
    item: dict[str, Any] = dict(policy["Policy"])
    version = ctx.call("GetPolicyVersion", {"PolicyArn": arn, "VersionId": item.get("DefaultVersionId", "v1")},
                       service="iam")
    if failed(version):
        item["PolicyVersionList"] = []
        return item, {"GetPolicyVersion": version}
    found = dict(version["PolicyVersion"])
    found["Document"] = decode_policy(found.get("Document"))
    item["PolicyVersionList"] = [found]
    return item, {}
