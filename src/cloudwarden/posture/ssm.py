"""Systems Manager controls: plaintext secrets in String parameters, document sharing and Automation
logging settings, and the managed-instance controls that need data outside the snapshot contract.
"""

from __future__ import annotations

from typing import Any

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT_REGION, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, not_collected, passed, verdict
from cloudwarden.posture.registry import control


@control("CW.SSM.1", title="SSM parameters holding secrets should be SecureString", severity=Severity.HIGH,
         resource_type="AwsSsmParameter", service="ssm", calls=("GetParameter",),
         rationale="A String parameter is stored and shown in clear to anyone with ssm:GetParameter(s).",
         remediation="Recreate the parameter as a SecureString (KMS-encrypted) and rotate the exposed value.",
         cli="aws ssm put-parameter --name <name> --type SecureString --value <value> --overwrite")
def plaintext_parameter(doc: ResourceDoc, inv: Inventory) -> Verdict:
    kind = doc.need("Type")
    if kind != "String":
        return passed(f"parameter {doc.label} is a {kind}")
    found = doc.call("GetParameter_plaintext_check") or {}
    if "looks_secret" not in found:
        raise NotAvailable(f"the plaintext-secret verdict of parameter {doc.label} is not in the snapshot")
    return verdict(not found["looks_secret"], f"String parameter {doc.label} does not look like a secret",
                   f"String parameter {doc.label} holds what looks like a secret ({found.get('reason', '')})")


def service_setting(doc: ResourceDoc, setting: str) -> dict[str, Any]:
    """The ``ServiceSetting`` of ``setting`` from a ``GetServiceSetting`` answer (stored under that name, or
    ``GetServiceSetting_<setting id>`` when several settings are collected)."""
    for key in (f"GetServiceSetting_{setting}", "GetServiceSetting"):
        if key in doc.calls:
            found = (doc.call(key) or {}).get("ServiceSetting") or {}
            if found.get("SettingId") == setting:
                return dict(found)
    raise NotAvailable(f"ssm:GetServiceSetting {setting} was not collected for {doc.account}/{doc.region}")


@control("SSM.7", title="SSM documents should have the block public sharing setting enabled",
         severity=Severity.CRITICAL, resource_type=ACCOUNT_REGION, service="ssm", calls=("GetServiceSetting",),
         rationale="Public sharing lets any account run your documents and read what they contain.",
         remediation="Block public sharing of SSM documents in every region.",
         cli="aws ssm update-service-setting --setting-id /ssm/documents/console/public-sharing-permission "
             "--setting-value Disable")
def block_public_sharing(doc: ResourceDoc, inv: Inventory) -> Verdict:
    value = service_setting(doc, "/ssm/documents/console/public-sharing-permission").get("SettingValue")
    return verdict(value == "Disable", f"public sharing of SSM documents is blocked in {doc.region}",
                   f"public sharing of SSM documents is allowed in {doc.account}/{doc.region}")


@control("SSM.6", title="SSM Automation should have CloudWatch logging enabled", severity=Severity.MEDIUM,
         resource_type=ACCOUNT_REGION, service="ssm", calls=("GetServiceSetting",),
         rationale="Automation runs change resources; their output belongs in CloudWatch Logs.",
         remediation="Send SSM Automation output to CloudWatch Logs.",
         cli="aws ssm update-service-setting --setting-id /ssm/automation/customer-script-log-destination "
             "--setting-value CloudWatch")
def automation_logging(doc: ResourceDoc, inv: Inventory) -> Verdict:
    value = service_setting(doc, "/ssm/automation/customer-script-log-destination").get("SettingValue")
    return verdict(value == "CloudWatch", f"SSM Automation logs to CloudWatch in {doc.region}",
                   f"SSM Automation does not log to CloudWatch in {doc.account}/{doc.region}")


def _uncollected(control_id: str, title: str, what: str, resource_type: str, severity: Severity, fix: str,
                 cli: str) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict:
        not_collected(what)

    check.__name__ = "uncollected_" + control_id.replace(".", "_").lower()
    control(control_id, title=title, severity=severity, resource_type=resource_type, scope=ACCOUNT_REGION,
            service="ssm", rationale=f"{title}.", remediation=fix, cli=cli)(check)


_uncollected("SSM.1", "Amazon EC2 instances should be managed by AWS Systems Manager",
             "SSM managed-instance records (ssm:DescribeInstanceInformation)", "AwsEc2Instance", Severity.MEDIUM,
             "Install the SSM agent and give the instance a role with AmazonSSMManagedInstanceCore.",
             "aws ec2 associate-iam-instance-profile --instance-id <id> --iam-instance-profile Name=<ssm-profile>")
_uncollected("SSM.2", "Amazon EC2 instances managed by Systems Manager should have a patch compliance status of "
             "COMPLIANT after a patch installation", "SSM patch compliance records", "AwsSsmPatchCompliance",
             Severity.HIGH, "Patch the instance with a patch baseline.",
             "aws ssm send-command --document-name AWS-RunPatchBaseline --targets Key=InstanceIds,Values=<id>")
_uncollected("SSM.3", "Amazon EC2 instances managed by Systems Manager should have an association compliance "
             "status of COMPLIANT", "SSM association compliance records", "AwsSsmAssociationCompliance",
             Severity.LOW, "Fix the failing association.", "aws ssm list-compliance-items --resource-ids <id>")
_uncollected("SSM.4", "SSM documents should not be public", "SSM documents", "AwsSsmDocument", Severity.CRITICAL,
             "Stop sharing the document publicly.",
             "aws ssm modify-document-permission --name <doc> --permission-type Share --account-ids-to-remove All")
