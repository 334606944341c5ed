"""Record contents: secrets redacted everywhere, errors, readOnly, data vs management events."""

from __future__ import annotations

import gzip
import json

import pytest
from botocore.exceptions import ClientError

from cloudwarden.lab.server import Lab
from tests.lab.conftest import bucket_files, disk_records, make_trail, only

pytestmark = pytest.mark.lab

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


def _everything_delivered(lab: Lab, bucket: str) -> bytes:
    """The decompressed bytes of every file on disk and in the trail bucket."""
    parts = [gzip.decompress(p.read_bytes()) for p in (lab.state_dir / "cloudtrail").rglob("*.json.gz")]
    parts += [json.dumps(records).encode() for records in bucket_files(lab.aws_client("s3"), bucket).values()]
    return b"\n".join(parts)


def test_secrets_never_reach_a_delivered_file(lab: Lab) -> None:
    make_trail(lab, "audit", "audit-logs")
    iam = lab.aws_client("iam")
    iam.create_user(UserName="bob")
    iam.create_login_profile(UserName="bob", Password="Hunter2-console-pw!", PasswordResetRequired=False)
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    secrets = lab.aws_client("secretsmanager")
    secrets.create_secret(Name="prod/db", SecretString="initial-db-secret")
    secrets.put_secret_value(SecretId="prod/db", SecretString="rotated-db-secret")
    secrets.put_secret_value(SecretId="prod/db", SecretBinary=b"binary-db-secret")
    lab.aws_client("ssm").put_parameter(Name="/app/token", Value="ssm-secure-value", Type="SecureString")
    lab.aws_client("ec2").run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, UserData="#!/bin/sh\nexport TOKEN=userdata-secret"
    )
    assert lab.client.flush()["trail_files"] == 1

    delivered = _everything_delivered(lab, "audit-logs")
    for secret in (
        "Hunter2-console-pw!",
        key["SecretAccessKey"],
        "initial-db-secret",
        "rotated-db-secret",
        "binary-db-secret",
        "YmluYXJ5LWRiLXNlY3JldA==",  # base64 of the binary secret
        "ssm-secure-value",
        "userdata-secret",
    ):
        assert secret.encode() not in delivered, secret

    records = disk_records(lab.state_dir)
    # As CloudTrail logs it: no password at all, the flag as a boolean.
    assert only(records, "CreateLoginProfile")["requestParameters"] == {
        "userName": "bob",
        "passwordResetRequired": False,
    }
    access_key = only(records, "CreateAccessKey")["responseElements"]["accessKey"]
    assert access_key["accessKeyId"] == key["AccessKeyId"]
    assert access_key["secretAccessKey"] == HIDDEN
    put_values = [r for r in records if r["eventName"] == "PutSecretValue"]
    assert [
        r["requestParameters"].get("secretString", r["requestParameters"].get("secretBinary")) for r in put_values
    ] == [
        HIDDEN,
        HIDDEN,
    ]
    assert only(records, "PutParameter")["requestParameters"]["value"] == HIDDEN
    assert only(records, "RunInstances")["requestParameters"]["userData"] == "<sensitiveDataRemoved>"


def test_failed_call_has_error_code_and_message(lab: Lab) -> None:
    with pytest.raises(ClientError):
        lab.aws_client("iam").get_user(UserName="ghost")
    with pytest.raises(ClientError):
        lab.aws_client("kms").describe_key(KeyId="alias/missing")
    with pytest.raises(ClientError):
        lab.aws_client("s3").get_object(Bucket="no-such-bucket", Key="k")
    lab.client.flush()
    iam_error, kms_error, s3_error = disk_records(lab.state_dir)
    assert iam_error["errorCode"] == "NoSuchEntity"
    assert "ghost" in iam_error["errorMessage"]
    assert iam_error["responseElements"] is None
    assert kms_error["errorCode"] == "NotFoundException"
    assert kms_error["errorMessage"]
    assert s3_error["errorCode"] == "NoSuchBucket"


def test_successful_call_has_no_error_fields(lab: Lab) -> None:
    lab.aws_client("iam").create_user(UserName="carol")
    lab.client.flush()
    record = only(disk_records(lab.state_dir), "CreateUser")
    assert "errorCode" not in record and "errorMessage" not in record
    assert record["readOnly"] is False
    assert record["responseElements"]["user"]["userName"] == "carol"
    assert record["requestID"]
    assert len(record["eventID"]) == 36


def test_read_only_calls_have_no_response_elements(lab: Lab) -> None:
    lab.aws_client("iam").create_user(UserName="dave")
    lab.aws_client("iam").get_user(UserName="dave")
    lab.client.flush()
    record = only(disk_records(lab.state_dir), "GetUser")
    assert record["readOnly"] is True
    assert record["responseElements"] is None


def test_query_lists_become_arrays_and_ec2_lists_item_sets(lab: Lab) -> None:
    ec2 = lab.aws_client("ec2")
    ec2.describe_instances(InstanceIds=[], Filters=[{"Name": "instance-state-name", "Values": ["running", "stopped"]}])
    lab.aws_client("iam").create_user(UserName="erin", Tags=[{"Key": "team", "Value": "data"}])
    lab.client.flush()
    records = disk_records(lab.state_dir)
    describe = only(records, "DescribeInstances")["requestParameters"]
    # EC2 logs its own XML shape: lists as {"items": [...]}, absent lists as {}.
    assert describe == {
        "instancesSet": {},
        "filterSet": {
            "items": [
                {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}, {"value": "stopped"}]}}
            ]
        },
    }
    assert only(records, "CreateUser")["requestParameters"] == {
        "userName": "erin",
        "tags": [{"key": "team", "value": "data"}],
    }


def test_s3_events_are_logged_in_the_bucket_region(lab: Lab) -> None:
    s3 = lab.aws_client("s3", region="eu-west-1")
    s3.create_bucket(Bucket="eu-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    lab.aws_client("s3", region="us-east-1").put_object(Bucket="eu-data", Key="k", Body=b"x")
    lab.client.flush()
    assert only(disk_records(lab.state_dir), "PutObject")["awsRegion"] == "eu-west-1"
