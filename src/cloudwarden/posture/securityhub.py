"""Security Hub enabled in the region (CIS 4.16), from ``DescribeHub`` when the snapshot has it."""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import ResourceDoc, Verdict, verdict
from cloudwarden.posture.registry import control


@control("CW.SecurityHub.1", title="AWS Security Hub should be enabled", severity=Severity.MEDIUM,
         resource_type=ACCOUNT_REGION, service="securityhub", calls=("DescribeHub",),
         rationale="Security Hub gathers findings from every AWS security service in one place.",
         remediation="Enable Security Hub in every region.",
         cli="aws securityhub enable-security-hub --enable-default-standards")
def hub_enabled(doc: ResourceDoc, inv: Inventory) -> Verdict:
    answer = doc.call("DescribeHub", not_configured=("InvalidAccessException", "ResourceNotFoundException"))
    return verdict(answer is not None, f"Security Hub is enabled in {doc.account}/{doc.region}",
                   f"Security Hub is not enabled in {doc.account}/{doc.region}")
