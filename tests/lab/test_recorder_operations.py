"""``eventName``/``eventSource`` for query, JSON and REST protocols, from real clients' requests."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.config import Config

from cloudwarden.lab.recorder.http import CapturedRequest
from cloudwarden.lab.recorder.operations import OperationResolver
from cloudwarden.lab.server import Lab
from tests.lab.conftest import disk_records

pytestmark = pytest.mark.lab


def _sources_and_names(lab: Lab) -> list[tuple[str, str]]:
    lab.client.flush()
    return [(r["eventSource"], r["eventName"]) for r in disk_records(lab.state_dir)]


def test_query_protocol_operations(lab: Lab) -> None:
    lab.aws_client("iam").create_user(UserName="dev")
    lab.aws_client("iam").list_attached_user_policies(UserName="dev")
    lab.aws_client("ec2").describe_instances()
    lab.aws_client("ec2").describe_security_groups(GroupNames=["default"])
    lab.aws_client("sts").get_caller_identity()
    assert _sources_and_names(lab) == [
        ("iam.amazonaws.com", "CreateUser"),
        ("iam.amazonaws.com", "ListAttachedUserPolicies"),
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("ec2.amazonaws.com", "DescribeSecurityGroups"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
    ]


def test_json_protocol_operations(lab: Lab) -> None:
    key = lab.aws_client("kms").create_key(Description="data")["KeyMetadata"]
    lab.aws_client("kms").describe_key(KeyId=key["KeyId"])
    lab.aws_client("secretsmanager").create_secret(Name="db", SecretString="pw")
    lab.aws_client("cloudtrail").describe_trails()
    assert _sources_and_names(lab) == [
        ("kms.amazonaws.com", "CreateKey"),
        ("kms.amazonaws.com", "DescribeKey"),
        ("secretsmanager.amazonaws.com", "CreateSecret"),
        ("cloudtrail.amazonaws.com", "DescribeTrails"),
    ]
    records = disk_records(lab.state_dir)
    assert records[1]["requestParameters"] == {"keyId": key["KeyId"]}


def test_s3_path_style_operations(lab: Lab) -> None:
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="reports/q1.csv", Body=b"a,b")
    s3.get_object(Bucket="data", Key="reports/q1.csv")
    s3.head_object(Bucket="data", Key="reports/q1.csv")
    s3.copy_object(Bucket="data", Key="reports/q1-copy.csv", CopySource="data/reports/q1.csv")
    s3.put_bucket_policy(Bucket="data", Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    s3.get_bucket_policy(Bucket="data")
    s3.list_objects_v2(Bucket="data", Prefix="reports/")
    s3.put_public_access_block(
        Bucket="data",
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.delete_object(Bucket="data", Key="reports/q1-copy.csv")
    s3.list_buckets()
    assert [n for _, n in _sources_and_names(lab)] == [
        "CreateBucket",
        "PutObject",
        "GetObject",
        "HeadObject",
        "CopyObject",
        "PutBucketPolicy",
        "GetBucketPolicy",
        "ListObjects",  # CloudTrail's name for ListObjectsV2 too
        "PutBucketPublicAccessBlock",  # CloudTrail's name for PutPublicAccessBlock
        "DeleteObject",
        "ListBuckets",
    ]
    records = disk_records(lab.state_dir)
    get = records[2]
    assert get["requestParameters"]["bucketName"] == "data"
    assert get["requestParameters"]["key"] == "reports/q1.csv"
    assert get["eventCategory"] == "Data"
    assert get["managementEvent"] is False
    assert get["resources"][0] == {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::data/reports/q1.csv"}
    policy = records[5]
    assert policy["eventCategory"] == "Management"
    assert policy["requestParameters"]["bucketPolicy"] == {"Version": "2012-10-17", "Statement": []}
    block = records[8]["requestParameters"]["PublicAccessBlockConfiguration"]
    assert block["BlockPublicAcls"] == "true"


def test_s3_virtual_host_operations(lab: Lab) -> None:
    lab.aws_client("s3").create_bucket(Bucket="site")
    lab.aws_client("s3").put_object(Bucket="site", Key="index.html", Body=b"<html/>")
    # A client using AWS's own host names, sent to the lab as its HTTP proxy: Host is site.s3.amazonaws.com.
    virtual = boto3.client(
        "s3",
        endpoint_url="http://s3.amazonaws.com",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(proxies={"http": lab.endpoint_url}, s3={"addressing_style": "virtual"}),
    )
    assert virtual.get_object(Bucket="site", Key="index.html")["Body"].read() == b"<html/>"
    virtual.put_bucket_policy(Bucket="site", Policy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    lab.client.flush()
    records = disk_records(lab.state_dir)[2:]
    assert [r["eventName"] for r in records] == ["GetObject", "PutBucketPolicy"]
    assert records[0]["requestParameters"] == {
        "bucketName": "site",
        "Host": "site.s3.amazonaws.com",
        "key": "index.html",
    }
    assert records[1]["requestParameters"]["bucketName"] == "site"


def test_lambda_rest_json_operations(lab: Lab) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = lab.aws_client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(e, c):\n    return 1\n")
    functions = lab.aws_client("lambda")
    functions.create_function(
        FunctionName="webhook",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"API_TOKEN": "tok-123"}},
    )
    functions.get_function(FunctionName="webhook")
    functions.invoke(FunctionName="webhook", Payload=b"{}")
    functions.list_functions()
    records = [
        r for r in (lab.client.flush() and disk_records(lab.state_dir)) if r["eventSource"] == "lambda.amazonaws.com"
    ]
    # CloudTrail logs Lambda's versioned operation names; data events keep the API name.
    assert [r["eventName"] for r in records] == [
        "CreateFunction20150331",
        "GetFunction20150331v2",
        "Invoke",
        "ListFunctions20150331",
    ]
    create = records[0]["requestParameters"]
    assert create["functionName"] == "webhook"
    # CloudTrail leaves the environment and the code archive out of CreateFunction's record.
    assert create["environment"] == {}
    assert create["code"] == {}
    assert "tok-123" not in json.dumps(records)
    invoke = records[2]
    assert invoke["eventCategory"] == "Data"
    assert invoke["resources"][0]["ARN"] == "arn:aws:lambda:us-east-1:123456789012:function:webhook"


def _request(method: str, path: str, query: str = "", **headers: str) -> CapturedRequest:
    return CapturedRequest(
        method=method,
        path=path,
        query_string=query,
        headers={k.replace("_", "-").lower(): v for k, v in headers.items()},
        body=b"",
        remote_addr="127.0.0.1",
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "expected"),
    [
        ("PUT", "/b/k", "", {}, "PutObject"),
        ("PUT", "/b/k", "", {"x_amz_copy_source": "b/other"}, "CopyObject"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("PUT", "/b/k", "partNumber=1&uploadId=u", {"x_amz_copy_source": "b/o"}, "UploadPartCopy"),
        ("GET", "/b/k", "uploadId=u", {}, "ListParts"),
        ("GET", "/b/dir/k.txt", "tagging", {}, "GetObjectTagging"),
        ("GET", "/b", "", {}, "ListObjects"),
        ("GET", "/b/", "list-type=2", {}, "ListObjectsV2"),
        ("PUT", "/b", "publicAccessBlock", {}, "PutPublicAccessBlock"),
        ("GET", "/b", "acl", {}, "GetBucketAcl"),
        ("GET", "/", "", {}, "ListBuckets"),
        ("DELETE", "/b", "", {}, "DeleteBucket"),
        ("POST", "/b", "delete", {}, "DeleteObjects"),
        ("HEAD", "/b", "", {}, "HeadBucket"),
    ],
)
def test_s3_rest_routes(method: str, path: str, query: str, headers: dict[str, str], expected: str) -> None:
    operation = OperationResolver().resolve(_request(method, path, query, **headers), "s3")
    assert operation.name == expected
    assert operation.event_source == "s3.amazonaws.com"


def test_json_target_and_shared_signing_names() -> None:
    resolver = OperationResolver()
    dynamodb = resolver.resolve(_request("POST", "/", x_amz_target="DynamoDB_20120810.ListTables"), "dynamodb")
    assert (dynamodb.service, dynamodb.name) == ("dynamodb", "ListTables")
    streams = resolver.resolve(_request("POST", "/", x_amz_target="DynamoDBStreams_20120810.ListStreams"), "dynamodb")
    assert (streams.service, streams.name, streams.event_source) == (
        "dynamodbstreams",
        "ListStreams",
        "dynamodb.amazonaws.com",
    )
    cloudwatch = resolver.resolve(
        _request("POST", "/service/GraniteServiceVersion20100801/operation/PutMetricData"), "monitoring"
    )
    assert (cloudwatch.name, cloudwatch.event_source) == ("PutMetricData", "monitoring.amazonaws.com")
    control = resolver.resolve(_request("GET", "/v20180820/configuration/publicAccessBlock"), "s3")
    assert (control.service, control.name) == ("s3control", "GetPublicAccessBlock")
