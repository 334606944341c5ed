"""``cloudtrail:LookupEvents`` answered from the recorded history, through boto3 and its paginator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from cloudwarden.lab.server import Lab

pytestmark = pytest.mark.lab


def _lookup_all(lab: Lab, region: str = "us-east-1", **kwargs: object) -> list[dict[str, object]]:
    paginator = lab.aws_client("cloudtrail", region=region).get_paginator("lookup_events")
    return [event for page in paginator.paginate(**kwargs) for event in page["Events"]]


def test_paginates_newest_first(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    for n in range(7):
        iam.create_user(UserName=f"user-{n}")
    events = _lookup_all(
        lab,
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
        PaginationConfig={"PageSize": 3},
    )
    users = [json.loads(str(e["CloudTrailEvent"]))["requestParameters"]["userName"] for e in events]
    assert users == [f"user-{n}" for n in reversed(range(7))]
    pages = list(
        lab.aws_client("cloudtrail")
        .get_paginator("lookup_events")
        .paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}],
            PaginationConfig={"PageSize": 3},
        )
    )
    assert [len(p["Events"]) for p in pages] == [3, 3, 1]
    assert "NextToken" not in pages[-1]


def test_event_fields(lab: Lab) -> None:
    lab.aws_client("iam").create_user(UserName="frank")
    (event,) = _lookup_all(lab, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"}])
    assert event["EventName"] == "CreateUser"
    assert event["EventSource"] == "iam.amazonaws.com"
    assert event["ReadOnly"] == "false"
    assert event["AccessKeyId"] == "testing"
    assert event["Username"] == "root"
    assert isinstance(event["EventTime"], datetime)
    assert {"ResourceType": "AWS::IAM::User", "ResourceName": "frank"} in event["Resources"]  # type: ignore[operator]
    record = json.loads(str(event["CloudTrailEvent"]))
    assert record["eventID"] == event["EventId"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventSource", "s3.amazonaws.com", ["CreateBucket"]),
        ("ResourceName", "lookup-bucket", ["CreateBucket"]),
        ("ResourceType", "AWS::IAM::User", ["CreateUser"]),
        ("ReadOnly", "true", ["LookupEvents", "ListUsers"]),
        ("EventName", "ListUsers", ["ListUsers"]),
    ],
)
def test_lookup_attributes(lab: Lab, key: str, value: str, expected: list[str]) -> None:
    lab.aws_client("iam").create_user(UserName="grace")
    lab.aws_client("iam").list_users()
    lab.aws_client("s3").create_bucket(Bucket="lookup-bucket")
    lab.aws_client("cloudtrail").lookup_events(MaxResults=1)  # recorded itself, after answering
    events = _lookup_all(lab, LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}])
    assert [e["EventName"] for e in events] == expected


def test_access_key_and_event_id_attributes(lab: Lab) -> None:
    iam = lab.aws_client("iam")
    iam.create_user(UserName="heidi")
    key = iam.create_access_key(UserName="heidi")["AccessKey"]
    lab.aws_client(
        "sts", access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"]
    ).get_caller_identity()
    (by_key,) = _lookup_all(
        lab, LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key["AccessKeyId"]}]
    )
    assert by_key["EventName"] == "GetCallerIdentity"
    assert by_key["Username"] == "heidi"
    (by_id,) = _lookup_all(
        lab, LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": str(by_key["EventId"])}]
    )
    assert by_id["EventId"] == by_key["EventId"]


def test_time_window_region_and_account(lab: Lab) -> None:
    lab.aws_client("ec2", region="eu-west-1").describe_vpcs()
    lab.aws_client("iam").create_user(UserName="ivan")
    now = datetime.now(UTC)
    assert [e["EventName"] for e in _lookup_all(lab, region="eu-west-1")] == ["DescribeVpcs"]
    assert _lookup_all(lab, StartTime=now + timedelta(minutes=5)) == []
    window = {"StartTime": now - timedelta(minutes=5), "EndTime": now + timedelta(minutes=5)}
    # newest first: the (empty) lookup just made in us-east-1, then the user; eu-west-1 stays apart
    assert [e["EventName"] for e in _lookup_all(lab, **window)] == ["LookupEvents", "CreateUser"]
    assert _lookup_all(lab, EndTime=now - timedelta(minutes=5)) == []


def test_data_events_are_not_in_event_history(lab: Lab) -> None:
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="history")
    s3.put_object(Bucket="history", Key="k", Body=b"x")
    names = [e["EventName"] for e in _lookup_all(lab)]
    assert names == ["CreateBucket"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        (
            {
                "LookupAttributes": [
                    {"AttributeKey": "EventName", "AttributeValue": "A"},
                    {"AttributeKey": "Username", "AttributeValue": "B"},
                ]
            },
            "InvalidLookupAttributesException",
        ),
        (
            {"StartTime": datetime(2024, 2, 1, tzinfo=UTC), "EndTime": datetime(2024, 1, 1, tzinfo=UTC)},
            "InvalidTimeRangeException",
        ),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
    ],
)
def test_invalid_input_gets_the_api_error(lab: Lab, kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(ClientError) as caught:
        lab.aws_client("cloudtrail").lookup_events(**kwargs)  # type: ignore[arg-type]
    assert caught.value.response["Error"]["Code"] == code
