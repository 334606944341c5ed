"""Organizations, from the management account only: the organisation, OUs, accounts, SCPs and RCPs.

Members cannot list their organisation, so every account first asks ``DescribeOrganization`` and only
the management account goes on. Each policy's ``Content`` is decoded into ``PolicyDocument`` and its
targets (roots, OUs, accounts) are listed, so a control or the IAM engine can rebuild which policies
apply at each level. OUs are walked from the root; each account and OU records its parent.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.inventory.context import UnitContext, failed
from cloudwarden.inventory.document import decode_policy, make_document

REGION = "us-east-1"
POLICY_TYPES = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY")
PERMISSIONS = (
    "organizations:DescribeOrganization", "organizations:ListRoots", "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListAccountsForParent", "organizations:ListPolicies", "organizations:DescribePolicy",
    "organizations:ListTargetsForPolicy", "organizations:ListDelegatedAdministrators",
)


def collect_organizations(ctx: UnitContext) -> list[dict[str, Any]]:
    org_kw: dict[str, Any] = {"service": "organizations", "region": REGION}
    described = ctx.call("DescribeOrganization", **org_kw)
    if failed(described):
        return []
    organization = described.get("Organization") or {}
    if str(organization.get("MasterAccountId")) != ctx.account:
        return []
    documents: list[dict[str, Any]] = []
    roots = ctx.list("ListRoots", "Roots[]", **org_kw)
    delegated = ctx.call("ListDelegatedAdministrators", **org_kw)
    documents.append(make_document(
        arn=str(organization.get("Arn")), type_="AwsOrganizationsOrganization", account=ctx.account, region=REGION,
        name=str(organization.get("Id")), data=organization,
        calls={"ListRoots": {"Roots": roots.items} if roots.error is None else roots.error,
               "ListDelegatedAdministrators": delegated},
    ))
    parents: list[tuple[str, str]] = [(str(r["Id"]), "/") for r in roots.items]
    while parents:
        parent_id, path = parents.pop(0)
        accounts = ctx.list("ListAccountsForParent", "Accounts[]", {"ParentId": parent_id}, **org_kw)
        for account in accounts.items:
            documents.append(make_document(
                arn=str(account["Arn"]), type_="AwsOrganizationsAccount", account=ctx.account, region=REGION,
                name=str(account.get("Name", account["Id"])), data={**account, "ParentId": parent_id, "Path": path},
            ))
        units = ctx.list("ListOrganizationalUnitsForParent", "OrganizationalUnits[]", {"ParentId": parent_id},
                         **org_kw)
        for unit in units.items:
            unit_path = f"{path}{unit.get('Name', unit['Id'])}/"
            documents.append(make_document(
                arn=str(unit["Arn"]), type_="AwsOrganizationsOrganizationalUnit", account=ctx.account, region=REGION,
                name=str(unit.get("Name", unit["Id"])), data={**unit, "ParentId": parent_id, "Path": unit_path},
            ))
            parents.append((str(unit["Id"]), unit_path))
    for policy_type in POLICY_TYPES:
        listing = ctx.list("ListPolicies", "Policies[]", {"Filter": policy_type}, **org_kw)
        for summary in listing.items:
            policy_id = str(summary["Id"])
            calls: dict[str, Any] = {}
            described_policy = ctx.call("DescribePolicy", {"PolicyId": policy_id}, **org_kw)
            if not failed(described_policy):
                content = (described_policy.get("Policy") or {}).get("Content")
                described_policy["PolicyDocument"] = decode_policy(content)
            calls["DescribePolicy"] = described_policy
            targets = ctx.list("ListTargetsForPolicy", "Targets[]", {"PolicyId": policy_id}, **org_kw)
            calls["ListTargetsForPolicy"] = {"Targets": targets.items} if targets.error is None else targets.error
            documents.append(make_document(
                arn=str(summary["Arn"]), type_="AwsOrganizationsPolicy", account=ctx.account, region=REGION,
                name=str(summary.get("Name", policy_id)), data=summary, calls=calls,
            ))
    return documents
