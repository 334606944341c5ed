"""Account-level and region-level settings as pseudo-resources: ``AwsAccount`` and ``AwsAccountRegion``.

Settings that belong to no resource (password policy, credential report, account S3 Block Public
Access, EBS encryption by default, "is there a GuardDuty detector here") still need a document, so
controls can decide them and say ``NOT_AVAILABLE`` when a call failed. An empty ``ListDetectors`` is
stored on ``AwsAccountRegion`` so that "no detector in this region" is decidable.

The credential report is generated, polled until ready (bounded), fetched and stored parsed:
``calls.GetCredentialReport = {"GeneratedTime": ..., "rows": [{column: value} ...]}``.
``GetAlternateContact`` holds the SECURITY contact (the one CIS asks about).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import Any

from cloudwarden.inventory.context import UnitContext, failed
from cloudwarden.inventory.document import make_document

GLOBAL_REGION = "us-east-1"
REPORT_POLLS = 10
REPORT_POLL_SECONDS = 0.5
SSM_PUBLIC_SHARING = "/ssm/documents/console/public-sharing-permission"


def account_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:root"


def account_region_arn(account: str, region: str) -> str:
    return f"arn:aws::{region}:{account}:account-region"


def collect_account(ctx: UnitContext, sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """The ``AwsAccount`` document of ``ctx.account``."""
    iam: dict[str, Any] = {"service": "iam", "region": GLOBAL_REGION}
    account: dict[str, Any] = {"service": "account", "region": GLOBAL_REGION}
    # Independent reads, made concurrently (the credential report's generate-poll-get stays one chain).
    found = ctx.gather({
        "GetAccountPasswordPolicy": lambda: ctx.call("GetAccountPasswordPolicy", **iam),
        "GetAccountSummary": lambda: ctx.call("GetAccountSummary", **iam),
        "CredentialReport": lambda: credential_report(ctx, sleep),
        "ListVirtualMFADevices": lambda: ctx.call("ListVirtualMFADevices", **iam),
        "ListSAMLProviders": lambda: ctx.call("ListSAMLProviders", **iam),
        "ListOpenIDConnectProviders": lambda: ctx.call("ListOpenIDConnectProviders", **iam),
        "ListServerCertificates": lambda: ctx.call("ListServerCertificates", **iam),
        "GetPublicAccessBlock": lambda: ctx.call("GetPublicAccessBlock", {"AccountId": ctx.account},
                                                 service="s3control", region=GLOBAL_REGION),
        "DescribeOrganization": lambda: ctx.call("DescribeOrganization", service="organizations",
                                                 region=GLOBAL_REGION),
        "GetContactInformation": lambda: ctx.call("GetContactInformation", **account),
        "GetAlternateContact": lambda: ctx.call("GetAlternateContact", {"AlternateContactType": "SECURITY"},
                                                **account),
    })
    calls: dict[str, Any] = {k: v for k, v in found.items() if k != "CredentialReport"}
    calls["GenerateCredentialReport"], calls["GetCredentialReport"] = found["CredentialReport"]
    return [make_document(arn=account_arn(ctx.account), type_="AwsAccount", account=ctx.account,
                          region=GLOBAL_REGION, name=ctx.account, data={"AccountId": ctx.account}, calls=calls)]


def credential_report(ctx: UnitContext, sleep: Callable[[float], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(last ``GenerateCredentialReport`` answer, parsed ``GetCredentialReport`` or its error)."""
    generated: dict[str, Any] = {}
    for _ in range(REPORT_POLLS):
        generated = ctx.call("GenerateCredentialReport", service="iam", region=GLOBAL_REGION)
        if failed(generated) or generated.get("State") == "COMPLETE":
            break
        sleep(REPORT_POLL_SECONDS)
    report = ctx.call("GetCredentialReport", service="iam", region=GLOBAL_REGION)
    if failed(report):
        return generated, report
    content = report.get("Content") or ""
    rows = list(csv.DictReader(io.StringIO(content)))
    return generated, {"GeneratedTime": report.get("GeneratedTime"), "ReportFormat": report.get("ReportFormat"),
                       "rows": rows}


def collect_account_region(ctx: UnitContext) -> list[dict[str, Any]]:
    """The ``AwsAccountRegion`` document of ``ctx.account`` in ``ctx.region``."""
    calls: dict[str, Any] = ctx.gather({
        "GetEbsEncryptionByDefault": lambda: ctx.call("GetEbsEncryptionByDefault", service="ec2"),
        "GetSnapshotBlockPublicAccessState": lambda: ctx.call("GetSnapshotBlockPublicAccessState", service="ec2"),
        "GetImageBlockPublicAccessState": lambda: ctx.call("GetImageBlockPublicAccessState", service="ec2"),
        "ListDetectors": lambda: ctx.call("ListDetectors", service="guardduty"),
        "DescribeConfigurationRecorders": lambda: ctx.call("DescribeConfigurationRecorders", service="config"),
        "DescribeConfigurationRecorderStatus": lambda: ctx.call("DescribeConfigurationRecorderStatus",
                                                                service="config"),
        "ListAnalyzers": lambda: ctx.call("ListAnalyzers", service="accessanalyzer"),
        "GetServiceSetting": lambda: ctx.call("GetServiceSetting", {"SettingId": SSM_PUBLIC_SHARING}, service="ssm"),
        "GetRegistryScanningConfiguration": lambda: ctx.call("GetRegistryScanningConfiguration", service="ecr"),
    })
    return [make_document(arn=account_region_arn(ctx.account, ctx.region), type_="AwsAccountRegion",
                          account=ctx.account, region=ctx.region, name=f"{ctx.account}/{ctx.region}",
                          data={"AccountId": ctx.account, "Region": ctx.region}, calls=calls)]


ACCOUNT_PERMISSIONS = (
    "iam:GetAccountPasswordPolicy", "iam:GetAccountSummary", "iam:GenerateCredentialReport", "iam:GetCredentialReport",
    "iam:ListVirtualMFADevices", "iam:ListSAMLProviders", "iam:ListOpenIDConnectProviders",
    "iam:ListServerCertificates", "s3:GetAccountPublicAccessBlock", "organizations:DescribeOrganization",
    "account:GetContactInformation", "account:GetAlternateContact",
)
REGION_PERMISSIONS = (
    "ec2:GetEbsEncryptionByDefault", "ec2:GetSnapshotBlockPublicAccessState", "ec2:GetImageBlockPublicAccessState",
    "guardduty:ListDetectors", "config:DescribeConfigurationRecorders", "config:DescribeConfigurationRecorderStatus",
    "access-analyzer:ListAnalyzers", "ssm:GetServiceSetting", "ecr:GetRegistryScanningConfiguration",
)
