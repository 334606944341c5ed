"""IAM Identity Center permission sets (``AwsSsoPermissionSet``), where an instance exists in the region.

Permission sets hang off an instance, so the instance list comes first; each set is described with its
managed and inline policies (decoded) and the accounts it is provisioned to.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.inventory.context import UnitContext
from cloudwarden.inventory.document import decode_policy, make_document

PERMISSIONS = (
    "sso:ListInstances", "sso:ListPermissionSets", "sso:DescribePermissionSet",
    "sso:ListManagedPoliciesInPermissionSet", "sso:GetInlinePolicyForPermissionSet",
    "sso:ListAccountsForProvisionedPermissionSet",
)


def collect_permission_sets(ctx: UnitContext) -> list[dict[str, Any]]:
    kw: dict[str, Any] = {"service": "sso-admin"}
    instances = ctx.list("ListInstances", "Instances[]", **kw)
    documents: list[dict[str, Any]] = []
    for instance in instances.items:
        instance_arn = str(instance["InstanceArn"])
        sets = ctx.list("ListPermissionSets", "PermissionSets[]", {"InstanceArn": instance_arn}, **kw,
                        cap=ctx.cap_for("AwsSsoPermissionSet"))
        for set_arn in sets.items:
            ids = {"InstanceArn": instance_arn, "PermissionSetArn": str(set_arn)}
            described = ctx.call("DescribePermissionSet", ids, **kw)
            data = described.get("PermissionSet", {"PermissionSetArn": set_arn}) if "error" not in described \
                else {"PermissionSetArn": set_arn}
            inline = ctx.call("GetInlinePolicyForPermissionSet", ids, **kw)
            if "InlinePolicy" in inline:
                inline["PolicyDocument"] = decode_policy(inline["InlinePolicy"]) if inline["InlinePolicy"] else None
            calls = {
                "DescribePermissionSet": described,
                "ListManagedPoliciesInPermissionSet": ctx.call("ListManagedPoliciesInPermissionSet", ids, **kw),
                "GetInlinePolicyForPermissionSet": inline,
                "ListAccountsForProvisionedPermissionSet": ctx.call("ListAccountsForProvisionedPermissionSet", ids,
                                                                    **kw),
            }
            documents.append(make_document(
                arn=str(set_arn), type_="AwsSsoPermissionSet", account=ctx.account, region=ctx.region,
                name=str(data.get("Name", set_arn)), data={**data, "InstanceArn": instance_arn}, calls=calls,
            ))
    return documents
