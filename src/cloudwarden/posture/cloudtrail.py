"""CloudTrail controls: a multi-region trail with management events, encryption, log file validation,
CloudWatch Logs integration, and access logging on the trail's bucket.

DescribeTrails lists a multi-region trail in every region; per-trail controls judge it once, in its home
region, so one trail gives one verdict.
"""

from __future__ import annotations

from cloudwarden.core.severity import Severity
from cloudwarden.posture.inventory import ACCOUNT, Inventory
from cloudwarden.posture.model import NotAvailable, ResourceDoc, Verdict, failed, passed, verdict
from cloudwarden.posture.registry import control

TRAIL = "AwsCloudTrailTrail"


def home_copy(doc: ResourceDoc) -> bool:
    """True for the trail in its home region (not a shadow copy listed in another region)."""
    return str(doc.data.get("HomeRegion") or doc.region) == doc.region


def account_trails(inv: Inventory, account: str) -> list[ResourceDoc]:
    """The account's trails, one document per trail (home-region copies first)."""
    seen: dict[str, ResourceDoc] = {}
    for trail in sorted(inv.of_type(TRAIL, account), key=lambda t: not home_copy(t)):
        seen.setdefault(trail.arn, trail)
    return list(seen.values())


def logs_management_events(trail: ResourceDoc) -> bool:
    """Read and write management events, by basic or advanced event selectors. A trail with no selector
    of either kind logs the default, all management events (some local endpoints return that shape)."""
    answer = trail.call("GetEventSelectors") or {}
    if not answer.get("EventSelectors") and not answer.get("AdvancedEventSelectors"):
        return True
    for selector in answer.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents", True) and selector.get("ReadWriteType", "All") == "All":
            return True
    for selector in answer.get("AdvancedEventSelectors") or []:
        fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors") or []}
        if (fields.get("eventCategory") or {}).get("Equals") == ["Management"] and "readOnly" not in fields:
            return True
    return False


def is_logging(trail: ResourceDoc) -> bool:
    return bool((trail.call("GetTrailStatus") or {}).get("IsLogging"))


@control("CloudTrail.1", title="CloudTrail should be enabled and configured with at least one multi-Region trail "
         "that includes read and write management events", severity=Severity.HIGH, resource_type=ACCOUNT,
         service="cloudtrail", calls=("DescribeTrails", "GetTrailStatus", "GetEventSelectors"),
         rationale="Without a logging multi-region trail, API activity in some regions leaves no record.",
         remediation="Create a multi-region trail logging read and write management events, and start it.",
         cli="aws cloudtrail create-trail --name <trail> --s3-bucket-name <bucket> --is-multi-region-trail; "
             "aws cloudtrail start-logging --name <trail>")
def multi_region_trail(doc: ResourceDoc, inv: Inventory) -> Verdict:
    trails = account_trails(inv, doc.account)
    if not trails:
        return failed(f"account {doc.account} has no trail")
    problems: list[str] = []
    for trail in trails:
        if not trail.data.get("IsMultiRegionTrail"):
            problems.append(f"{trail.label} is single-region")
            continue
        if not is_logging(trail):
            problems.append(f"{trail.label} is not logging")
            continue
        if not logs_management_events(trail):
            problems.append(f"{trail.label} does not log read and write management events")
            continue
        return passed(f"multi-region trail {trail.label} logs read and write management events")
    return failed(f"account {doc.account} has no logging multi-region trail with management events "
                  f"({'; '.join(problems)})")


@control("CloudTrail.2", title="CloudTrail should have encryption at-rest enabled", severity=Severity.MEDIUM,
         resource_type=TRAIL, service="cloudtrail", categories=("encryption",),
         rationale="SSE-KMS adds a key policy between the log files and anyone who can read the bucket.",
         remediation="Encrypt the trail's log files with a KMS key.",
         cli="aws cloudtrail update-trail --name <trail> --kms-key-id <key-arn>")
def trail_encrypted(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not home_copy(doc):
        return None
    key = doc.data.get("KmsKeyId")
    return verdict(bool(key), f"trail {doc.label} encrypts with {key}", f"trail {doc.label} is not KMS-encrypted")


@control("CloudTrail.4", title="CloudTrail log file validation should be enabled", severity=Severity.LOW,
         resource_type=TRAIL, service="cloudtrail",
         rationale="Digest files prove the logs were not changed or deleted after delivery.",
         remediation="Enable log file validation on the trail.",
         cli="aws cloudtrail update-trail --name <trail> --enable-log-file-validation")
def log_file_validation(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not home_copy(doc):
        return None
    if "LogFileValidationEnabled" not in doc.data:
        raise NotAvailable(f"LogFileValidationEnabled is not in the snapshot for trail {doc.label}")
    return verdict(bool(doc.data["LogFileValidationEnabled"]), f"trail {doc.label} validates its log files",
                   f"trail {doc.label} has log file validation off")


@control("CloudTrail.5", title="CloudTrail trails should be integrated with Amazon CloudWatch Logs",
         severity=Severity.LOW, resource_type=TRAIL, service="cloudtrail",
         rationale="Sending events to CloudWatch Logs enables real-time metric filters and alarms.",
         remediation="Configure the trail to deliver to a CloudWatch Logs log group.",
         cli="aws cloudtrail update-trail --name <trail> --cloud-watch-logs-log-group-arn <arn> "
             "--cloud-watch-logs-role-arn <role-arn>")
def cloudwatch_integration(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not home_copy(doc):
        return None
    group = doc.data.get("CloudWatchLogsLogGroupArn")
    return verdict(bool(group), f"trail {doc.label} delivers to {group}",
                   f"trail {doc.label} does not deliver to CloudWatch Logs")


@control("CloudTrail.7", title="Ensure S3 bucket access logging is enabled on the CloudTrail S3 bucket",
         severity=Severity.LOW, resource_type=TRAIL, service="cloudtrail", calls=("GetBucketLogging",),
         rationale="Access logs on the trail bucket show who read or tampered with the audit logs.",
         remediation="Enable server access logging on the trail's bucket.",
         cli="aws s3api put-bucket-logging --bucket <trail-bucket> --bucket-logging-status file://logging.json")
def trail_bucket_logging(doc: ResourceDoc, inv: Inventory) -> Verdict | None:
    if not home_copy(doc):
        return None
    name = doc.need("S3BucketName")
    bucket = inv.get(f"arn:aws:s3:::{name}")
    if bucket is None:
        raise NotAvailable(f"bucket {name} of trail {doc.label} is not in the snapshot (another account?)")
    logging = (bucket.call("GetBucketLogging") or {}).get("LoggingEnabled")
    return verdict(bool(logging), f"the bucket {name} of trail {doc.label} has access logging",
                   f"the bucket {name} of trail {doc.label} has no server access logging")
