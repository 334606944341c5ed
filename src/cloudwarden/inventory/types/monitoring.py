"""Logging and detection services: CloudTrail trails, GuardDuty detectors, Access Analyzer analyzers,
CloudWatch Logs metric filters and CloudWatch alarms (CIS section 4 reads the last two together)."""

from __future__ import annotations

from typing import Any

from cloudwarden.inventory.descriptor import Descriptor, Detail, Item, field_of
from cloudwarden.inventory.document import tags_of


def _trail_tags(_data: Item, calls: dict[str, Any]) -> dict[str, str]:
    found = (calls.get("ListTags") or {}).get("ResourceTagList") or [{}]
    return tags_of(found[0].get("TagsList"))


TRAIL = Descriptor(
    type="AwsCloudTrailTrail", service="cloudtrail", list_operation="DescribeTrails", items="trailList[]",
    # Shadow copies of multi-region trails would repeat one ARN in every region: each trail once, at home.
    list_params={"includeShadowTrails": False},
    arn=lambda i, a, r: str(i["TrailARN"]), name=field_of("Name"),
    details=(
        Detail("GetTrailStatus", lambda i: {"Name": i["TrailARN"]}),
        Detail("GetEventSelectors", lambda i: {"TrailName": i["TrailARN"]}),
        Detail("ListTags", lambda i: {"ResourceIdList": [i["TrailARN"]]}),
    ),
    tags=_trail_tags,
)

DETECTOR = Descriptor(
    type="AwsGuardDutyDetector", service="guardduty", list_operation="ListDetectors", items="DetectorIds[]",
    item_key="DetectorId",
    arn=lambda i, a, r: f"arn:aws:guardduty:{r}:{a}:detector/{i['DetectorId']}", name=field_of("DetectorId"),
    details=(Detail("GetDetector", lambda i: {"DetectorId": i["DetectorId"]}),),
    tags=lambda _d, calls: tags_of((calls.get("GetDetector") or {}).get("Tags")),
)

ANALYZER = Descriptor(
    type="AwsAccessAnalyzerAnalyzer", service="accessanalyzer", list_operation="ListAnalyzers", items="analyzers[]",
    arn=lambda i, a, r: str(i["arn"]), name=field_of("name"),
    tags=lambda data, _c: tags_of(data.get("tags")),
)

METRIC_FILTER = Descriptor(
    type="AwsLogsMetricFilter", service="logs", list_operation="DescribeMetricFilters", items="metricFilters[]",
    arn=lambda i, a, r: f"arn:aws:logs:{r}:{a}:log-group:{i.get('logGroupName', '')}:metric-filter:{i['filterName']}",
    name=field_of("filterName"),
)

ALARM = Descriptor(
    type="AwsCloudWatchAlarm", service="cloudwatch", list_operation="DescribeAlarms", items="MetricAlarms[]",
    arn=lambda i, a, r: str(i["AlarmArn"]), name=field_of("AlarmName"),
)

DESCRIPTORS: tuple[Descriptor, ...] = (TRAIL, DETECTOR, ANALYZER, METRIC_FILTER, ALARM)
