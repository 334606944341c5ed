"""CloudTrail and CloudWatch metric-filter controls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.posture import docs as d
from tests.posture.cases import Case, check

ROOT_PATTERN = ('{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
                '$.eventType != "AwsServiceEvent" }')


def metric_filter(pattern: str, group: str = "trail-logs") -> dict[str, Any]:
    return d.doc("AwsLogsMetricFilter", f"arn:aws:logs:{d.REGION}:{d.ACCT}:metric-filter/root", "root-usage",
                 {"filterName": "root-usage", "filterPattern": pattern, "logGroupName": group,
                  "metricTransformations": [{"metricName": "RootUsage", "metricNamespace": "CISBenchmark",
                                             "metricValue": "1"}]})


def alarm(actions: bool = True) -> dict[str, Any]:
    return d.doc("AwsCloudWatchAlarm", f"arn:aws:cloudwatch:{d.REGION}:{d.ACCT}:alarm:root", "root-usage",
                 {"AlarmName": "root-usage", "MetricName": "RootUsage", "Namespace": "CISBenchmark",
                  "AlarmActions": ["arn:aws:sns:us-east-1:222222222222:security"] if actions else []})


CASES = [
    Case("CloudTrail.1", lambda: d.account(), "PASSED", "", lambda: [d.trail()]),
    Case("CloudTrail.1", lambda: d.account(), "FAILED", "single-region", lambda: [d.trail("prod-trail",
                                                                                       multi_region=False)]),
    Case("CloudTrail.1", lambda: d.account(), "FAILED", "not logging", lambda: [d.trail(logging=False)]),
    Case("CloudTrail.1", lambda: d.account(), "FAILED", "management events", lambda: [d.trail(selectors={
        "EventSelectors": [{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}]})]),
    Case("CloudTrail.1", lambda: d.account(), "FAILED", "no trail"),
    Case("CloudTrail.1", lambda: d.account(), "NOT_AVAILABLE", "GetTrailStatus",
         lambda: [d.with_(d.trail(), calls={"GetTrailStatus": d.error()})]),
    Case("CloudTrail.2", lambda: d.trail(), "PASSED"),
    Case("CloudTrail.2", lambda: d.trail(kms=False), "FAILED"),
    Case("CloudTrail.2", lambda: d.trail(region="eu-west-1"), None),  # a shadow copy in another region
    Case("CloudTrail.4", lambda: d.trail(), "PASSED"),
    Case("CloudTrail.4", lambda: d.trail(validation=False), "FAILED"),
    Case("CloudTrail.4", lambda: d.with_(d.trail(), drop_data=("LogFileValidationEnabled",)), "NOT_AVAILABLE"),
    Case("CloudTrail.5", lambda: d.trail(), "PASSED"),
    Case("CloudTrail.5", lambda: d.trail(cloudwatch=False), "FAILED"),
    Case("CloudTrail.7", lambda: d.trail(bucket_name="trail-bucket"), "PASSED", "",
         lambda: [d.bucket("trail-bucket")]),
    Case("CloudTrail.7", lambda: d.trail(bucket_name="trail-bucket"), "FAILED", "no server access logging",
         lambda: [d.bucket("trail-bucket", GetBucketLogging={})]),
    Case("CloudTrail.7", lambda: d.trail(bucket_name="elsewhere"), "NOT_AVAILABLE", "not in the snapshot"),
    Case("CloudWatch.1", lambda: d.account(), "PASSED", "", lambda: [d.trail(), metric_filter(ROOT_PATTERN),
                                                                    alarm()]),
    Case("CloudWatch.1", lambda: d.account(), "FAILED", "no alarm", lambda: [d.trail(), metric_filter(ROOT_PATTERN),
                                                                            alarm(actions=False)]),
    Case("CloudWatch.1", lambda: d.account(), "FAILED", "no metric filter",
         lambda: [d.trail(), metric_filter('{ $.eventName = "ConsoleLogin" }'), alarm()]),
    Case("CloudWatch.1", lambda: d.account(), "FAILED", "delivers to CloudWatch Logs",
         lambda: [d.trail(cloudwatch=False), metric_filter(ROOT_PATTERN), alarm()]),
    Case("CloudWatch.1", lambda: d.account(), "FAILED", "", lambda: [d.trail(), metric_filter(ROOT_PATTERN, "other"),
                                                                    alarm()]),
    Case("CloudWatch.1", lambda: d.account(), "NOT_AVAILABLE", "GetTrailStatus",
         lambda: [d.with_(d.trail(), calls={"GetTrailStatus": d.error()})]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_control(case: Case) -> None:
    check(case)
