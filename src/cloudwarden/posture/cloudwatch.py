"""CloudWatch metric filter and alarm controls (CIS section 4): a filter on the trail's log group for each
sensitive activity, and an alarm with an action on its metric.

A filter counts when its pattern names every event the recommendation lists (whitespace and quoting
ignored); it must sit on the log group of a multi-region, logging trail of the same account.
"""

from __future__ import annotations

import re

from cloudwarden.core.severity import Severity
from cloudwarden.posture.cloudtrail import account_trails, is_logging
from cloudwarden.posture.inventory import ACCOUNT, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, failed, passed
from cloudwarden.posture.registry import control

FILTER = "AwsLogsMetricFilter"
ALARM = "AwsCloudWatchAlarm"

# control id -> (what is monitored, tokens the filter pattern must name)
MONITORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "CloudWatch.1": ("usage of the root user", ('$.userIdentity.type="Root"', "$.userIdentity.invokedByNOTEXISTS",
                                                '$.eventType!="AwsServiceEvent"')),
    "CloudWatch.2": ("unauthorized API calls", ("UnauthorizedOperation", "AccessDenied")),
    "CloudWatch.3": ("console sign-in without MFA", ("ConsoleLogin", '$.additionalEventData.MFAUsed!="Yes"')),
    "CloudWatch.4": ("IAM policy changes", (
        "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy", "PutRolePolicy",
        "PutUserPolicy", "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion",
        "AttachRolePolicy", "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy",
        "DetachGroupPolicy")),
    "CloudWatch.5": ("CloudTrail configuration changes", ("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging",
                                                          "StopLogging")),
    "CloudWatch.6": ("console authentication failures", ("ConsoleLogin", "Failedauthentication")),
    "CloudWatch.7": ("disabling or scheduled deletion of customer managed keys", (
        "kms.amazonaws.com", "DisableKey", "ScheduleKeyDeletion")),
    "CloudWatch.8": ("S3 bucket policy changes", (
        "s3.amazonaws.com", "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle",
        "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors", "DeleteBucketLifecycle",
        "DeleteBucketReplication")),
    "CloudWatch.9": ("AWS Config configuration changes", (
        "config.amazonaws.com", "StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
        "PutConfigurationRecorder")),
    "CloudWatch.10": ("security group changes", (
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup")),
    "CloudWatch.11": ("network ACL changes", (
        "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
        "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation")),
    "CloudWatch.12": ("network gateway changes", (
        "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway", "CreateInternetGateway",
        "DeleteInternetGateway", "DetachInternetGateway")),
    "CloudWatch.13": ("route table changes", (
        "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation", "DeleteRouteTable",
        "DeleteRoute", "DisassociateRouteTable")),
    "CloudWatch.14": ("VPC changes", (
        "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection",
        "DeleteVpcPeeringConnection", "RejectVpcPeeringConnection")),
    "CW.CloudWatch.15": ("AWS Organizations changes", (
        "organizations.amazonaws.com", "AcceptHandshake", "AttachPolicy", "CreateAccount",
        "CreateOrganizationalUnit", "CreatePolicy", "DeclineHandshake", "DeleteOrganization",
        "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy", "DisablePolicyType", "EnablePolicyType",
        "InviteAccountToOrganization", "LeaveOrganization", "MoveAccount", "RemoveAccountFromOrganization",
        "UpdatePolicy", "UpdateOrganizationalUnit")),
}

_SPACES = re.compile(r"\s+")


def normalise(pattern: str) -> str:
    return _SPACES.sub("", pattern).replace("'", '"')


def pattern_covers(pattern: str, tokens: tuple[str, ...]) -> bool:
    text = normalise(pattern)
    return all(normalise(token) in text for token in tokens)


def log_group_name(arn: str) -> str:
    """``arn:aws:logs:r:a:log-group:NAME:*`` -> ``NAME``."""
    parts = arn.split(":log-group:", 1)
    return parts[1].split(":", 1)[0] if len(parts) == 2 else arn


def monitored(doc: ResourceDoc, inv: Inventory, what: str, tokens: tuple[str, ...]) -> Verdict:
    groups: set[str] = set()
    for trail in account_trails(inv, doc.account):
        if trail.data.get("IsMultiRegionTrail") and trail.data.get("CloudWatchLogsLogGroupArn") and is_logging(trail):
            groups.add(log_group_name(str(trail.data["CloudWatchLogsLogGroupArn"])))
    if not groups:
        return failed(f"no multi-region trail of {doc.account} delivers to CloudWatch Logs, so {what} "
                      "cannot be monitored")
    filters = [f for f in inv.of_type(FILTER, doc.account) if f.data.get("logGroupName") in groups
               and pattern_covers(str(f.data.get("filterPattern", "")), tokens)]
    if not filters:
        if not inv.of_type(FILTER, doc.account) and not inv.of_type("AwsAccountRegion", doc.account):
            raise NotAvailable(f"CloudWatch Logs metric filters of {doc.account} are not in the snapshot")
        return failed(f"no metric filter on {', '.join(sorted(groups))} matches {what}")
    metrics = {(str(t.get("metricNamespace")), str(t.get("metricName")))
               for f in filters for t in f.data.get("metricTransformations") or []}
    alarms = [a for a in inv.of_type(ALARM, doc.account) if a.data.get("AlarmActions")
              and (str(a.data.get("Namespace")), str(a.data.get("MetricName"))) in metrics]
    if not alarms:
        return failed(f"metric filter {filters[0].data.get('filterName')} for {what} has no alarm with an action")
    return passed(f"{what} is monitored by filter {filters[0].data.get('filterName')} and alarm "
                  f"{alarms[0].data.get('AlarmName')}")


def _register(control_id: str, what: str, tokens: tuple[str, ...]) -> None:
    def check(doc: ResourceDoc, inv: Inventory) -> Verdict:
        return monitored(doc, inv, what, tokens)

    check.__name__ = "monitor_" + control_id.replace(".", "_").lower()
    control(control_id, title=f"A log metric filter and alarm should exist for {what}", severity=Severity.LOW,
            resource_type=ACCOUNT, service="cloudwatch", calls=("DescribeMetricFilters", "DescribeAlarms"),
            rationale=f"An alarm on {what} tells responders about it within minutes instead of at the next audit.",
            remediation=f"Create a metric filter for {what} on the trail's log group and an alarm with an SNS action.",
            cli="aws logs put-metric-filter --log-group-name <group> --filter-name <name> --filter-pattern '<p>' "
                "--metric-transformations metricName=<m>,metricNamespace=CISBenchmark,metricValue=1; "
                "aws cloudwatch put-metric-alarm --alarm-name <a> --metric-name <m> --namespace CISBenchmark "
                "--statistic Sum --period 300 --threshold 1 --comparison-operator GreaterThanOrEqualToThreshold "
                "--evaluation-periods 1 --alarm-actions <sns-arn>")(check)


for _id, (_what, _tokens) in MONITORS.items():
    _register(_id, _what, _tokens)
