"""CloudTrail's event history (``LookupEvents``), answered from what the lab recorded.

moto has no event history, so the lab answers ``cloudtrail:LookupEvents`` itself with the semantics
of the real API: management events only, per account and region, the last 90 days, newest first,
one ``LookupAttributes`` entry at most (``EventId``, ``EventName``, ``EventSource``, ``ReadOnly``,
``Username``, ``AccessKeyId``, ``ResourceType``, ``ResourceName``), ``StartTime``/``EndTime``,
``MaxResults`` (1-50) with ``NextToken`` pagination, and each event's full record as the
``CloudTrailEvent`` JSON string. Invalid input gets the API's own error codes.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

HISTORY_DAYS = 90
MAX_PER_PARTITION = 200_000

# requestParameters members that name a resource, and CloudTrail's resource type for them.
_RESOURCE_PARAMETERS = {
    "userName": "AWS::IAM::User",
    "roleName": "AWS::IAM::Role",
    "groupName": "AWS::IAM::Group",
    "policyArn": "AWS::IAM::Policy",
    "instanceProfileName": "AWS::IAM::InstanceProfile",
    "accessKeyId": "AWS::IAM::AccessKey",
    "bucketName": "AWS::S3::Bucket",
    "keyId": "AWS::KMS::Key",
    "functionName": "AWS::Lambda::Function",
    "secretId": "AWS::SecretsManager::Secret",
    "instanceId": "AWS::EC2::Instance",
    "instanceIds": "AWS::EC2::Instance",
    "groupId": "AWS::EC2::SecurityGroup",
    "snapshotId": "AWS::EC2::Snapshot",
    "imageId": "AWS::EC2::Ami",
    "volumeId": "AWS::EC2::Volume",
    "vpcId": "AWS::EC2::VPC",
    "dBInstanceIdentifier": "AWS::RDS::DBInstance",
    "dBSnapshotIdentifier": "AWS::RDS::DBSnapshot",
    "trailName": "AWS::CloudTrail::Trail",
    "detectorId": "AWS::GuardDuty::Detector",
    "repositoryName": "AWS::ECR::Repository",
}
_ATTRIBUTE_KEYS = frozenset(
    {"EventId", "EventName", "EventSource", "ReadOnly", "Username", "AccessKeyId", "ResourceType", "ResourceName"}
)


class LookupFailure(Exception):
    """An input error, reported with CloudTrail's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Entry:
    seq: int
    epoch: float
    record: Mapping[str, Any]
    username: str
    resources: tuple[tuple[str, str], ...]


def lookup_resources(record: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(type, name) pairs for an event: its ``resources`` and the resource-naming parameters."""
    found: dict[tuple[str, str], None] = {}
    for resource in record.get("resources") or ():
        found[(str(resource.get("type", "")), str(resource.get("ARN", "")))] = None
    params = record.get("requestParameters")
    if isinstance(params, Mapping):
        for key, kind in _RESOURCE_PARAMETERS.items():
            value = params.get(key)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and item:
                    found[(kind, item)] = None
        if record.get("eventSource") == "cloudtrail.amazonaws.com" and isinstance(params.get("name"), str):
            found[("AWS::CloudTrail::Trail", params["name"])] = None
    return tuple(found)


class EventHistory:
    """Recorded management events, per (account, region), for LookupEvents."""

    def __init__(self, max_per_partition: int = MAX_PER_PARTITION) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._max = max_per_partition
        self._events: dict[tuple[str, str], deque[_Entry]] = {}

    def add(self, record: Mapping[str, Any], username: str) -> None:
        if record.get("eventCategory") != "Management":
            return
        epoch = _parse_event_time(str(record.get("eventTime", "")))
        key = (str(record.get("recipientAccountId")), str(record.get("awsRegion")))
        resources = lookup_resources(record)
        with self._lock:
            self._seq += 1
            partition = self._events.get(key)
            if partition is None:
                partition = self._events[key] = deque(maxlen=self._max)
            partition.append(_Entry(self._seq, epoch, record, username, resources))

    def count(self) -> int:
        with self._lock:
            return sum(len(v) for v in self._events.values())

    def lookup(
        self, account_id: str, region: str, request: Mapping[str, Any], now: datetime | None = None
    ) -> dict[str, Any]:
        """The ``LookupEvents`` response for ``request`` (the API's JSON input) in one account and region."""
        now = now or datetime.now(UTC)
        category = request.get("EventCategory")
        if category is not None and category != "insight":
            raise LookupFailure("InvalidEventCategoryException", f"Invalid EventCategory: {category}")
        max_results = request.get("MaxResults", 50)
        if not isinstance(max_results, int) or isinstance(max_results, bool) or not 1 <= max_results <= 50:
            raise LookupFailure("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        attribute = _attribute(request.get("LookupAttributes"))
        start = _time_param(request.get("StartTime"), "StartTime")
        end = _time_param(request.get("EndTime"), "EndTime")
        oldest = (now - timedelta(days=HISTORY_DAYS)).timestamp()
        start_epoch = max(start, oldest) if start is not None else oldest
        end_epoch = end if end is not None else float("inf")
        if start is not None and end is not None and start > end:
            raise LookupFailure("InvalidTimeRangeException", "StartTime must be before EndTime.")
        before = _decode_token(request.get("NextToken"), account_id, region)
        if category == "insight":
            return {"Events": []}
        with self._lock:
            entries = list(self._events.get((account_id, region), ()))
        page: list[_Entry] = []
        more = False
        for entry in reversed(entries):
            if before is not None and entry.seq >= before:
                continue
            if not start_epoch <= entry.epoch <= end_epoch:
                continue
            if attribute is not None and not _matches(entry, *attribute):
                continue
            if len(page) == max_results:
                more = True
                break
            page.append(entry)
        response: dict[str, Any] = {"Events": [_event(e) for e in page]}
        if more and page:
            response["NextToken"] = _encode_token(page[-1].seq, account_id, region)
        return response


def _attribute(value: Any) -> tuple[str, str] | None:
    if value in (None, []):
        return None
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], Mapping):
        raise LookupFailure("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
    key = value[0].get("AttributeKey")
    wanted = value[0].get("AttributeValue")
    if key not in _ATTRIBUTE_KEYS:
        raise LookupFailure("InvalidLookupAttributesException", f"Invalid AttributeKey: {key}")
    if not isinstance(wanted, str) or not wanted:
        raise LookupFailure("InvalidLookupAttributesException", "AttributeValue must not be empty.")
    return str(key), wanted


def _matches(entry: _Entry, key: str, wanted: str) -> bool:
    record = entry.record
    if key == "EventId":
        return record.get("eventID") == wanted
    if key == "EventName":
        return record.get("eventName") == wanted
    if key == "EventSource":
        return record.get("eventSource") == wanted
    if key == "ReadOnly":
        return ("true" if record.get("readOnly") else "false") == wanted.lower()
    if key == "Username":
        return entry.username == wanted
    if key == "AccessKeyId":
        return (record.get("userIdentity") or {}).get("accessKeyId") == wanted
    if key == "ResourceType":
        return any(kind == wanted for kind, _ in entry.resources)
    return any(name == wanted for _, name in entry.resources)


def _event(entry: _Entry) -> dict[str, Any]:
    record = entry.record
    event: dict[str, Any] = {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": "true" if record.get("readOnly") else "false",
    }
    access_key = (record.get("userIdentity") or {}).get("accessKeyId")
    if access_key:
        event["AccessKeyId"] = access_key
    event["EventTime"] = entry.epoch
    event["EventSource"] = record.get("eventSource")
    if entry.username:
        event["Username"] = entry.username
    event["Resources"] = [{"ResourceType": kind, "ResourceName": name} for kind, name in entry.resources]
    event["CloudTrailEvent"] = json.dumps(record, separators=(",", ":"))
    return event


def _parse_event_time(text: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return datetime.now(UTC).timestamp()


def _time_param(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise LookupFailure("InvalidTimeRangeException", f"{name} is not a timestamp: {value!r}")


def _encode_token(seq: int, account_id: str, region: str) -> str:
    raw = json.dumps({"before": seq, "account": account_id, "region": region}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: Any, account_id: str, region: str) -> int | None:
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
    except (ValueError, binascii.Error) as exc:
        raise LookupFailure("InvalidNextTokenException", "Invalid NextToken.") from exc
    if (
        not isinstance(data, dict)
        or data.get("account") != account_id
        or data.get("region") != region
        or not isinstance(data.get("before"), int)
    ):
        raise LookupFailure("InvalidNextTokenException", "Invalid NextToken.")
    return int(data["before"])
