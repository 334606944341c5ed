"""Building CloudTrail records: API calls (``AwsApiCall``) and console sign-ins (``AwsConsoleSignIn``).

Field names, order and value formats follow CloudTrail's record contents (event version 1.09):
detection rules, the DuckDB/Spark readers and other people's tools read these records as they would
read real CloudTrail, so nothing here is cloudwarden-specific. Secrets are redacted in
:mod:`cloudwarden.lab.recorder.params` before a record exists, so no record ever holds one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudwarden.lab.recorder.http import CapturedRequest, CapturedResponse
from cloudwarden.lab.recorder.identity import Identity, cloudtrail_time
from cloudwarden.lab.recorder.operations import Operation
from cloudwarden.lab.recorder.params import error_details, request_parameters, response_elements

EVENT_VERSION = "1.09"
DEFAULT_REGION = "us-east-1"
CONSOLE_LOGIN_URL = "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true"

_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Head",
    "Lookup",
    "Search",
    "Scan",
    "Query",
    "BatchGet",
    "Select",
    "Simulate",
    "Estimate",
    "Preview",
    "View",
    "Check",
    "Test",
    "Validate",
    "Download",
)
# Names a prefix would misclassify (CloudTrail logs STS's role assumptions as read-only).
_READ_ONLY = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateRandom",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
    }
)
# Read-only calls whose response CloudTrail still logs (the session they hand out).
_READ_WITH_RESPONSE = frozenset({"AssumeRole", "AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"})
ROLE_ASSUMPTIONS = _READ_WITH_RESPONSE
_NOT_READ_ONLY = frozenset({"GetSessionToken", "GetFederationToken", "GetObjectTorrent"})

# S3 object-level operations: CloudTrail data events (AWS::S3::Object).
S3_DATA_EVENTS = frozenset(
    {
        "GetObject",
        "PutObject",
        "DeleteObject",
        "DeleteObjects",
        "HeadObject",
        "CopyObject",
        "GetObjectAcl",
        "PutObjectAcl",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "GetObjectAttributes",
        "GetObjectRetention",
        "PutObjectRetention",
        "GetObjectLegalHold",
        "PutObjectLegalHold",
        "RestoreObject",
        "SelectObjectContent",
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPartCopy",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
        "ListParts",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "ListMultipartUploads",
    }
)
_LAMBDA_DATA_EVENTS = frozenset({"Invoke", "InvokeAsync", "InvokeWithResponseStream"})
_DYNAMODB_DATA_EVENTS = frozenset(
    {
        "GetItem",
        "PutItem",
        "DeleteItem",
        "UpdateItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def is_read_only(event_name: str) -> bool:
    if event_name in _READ_ONLY:
        return True
    if event_name in _NOT_READ_ONLY:
        return False
    return event_name.startswith(_READ_PREFIXES)


def data_resource_type(op: Operation) -> str | None:
    """The data-event resource type of ``op``, or None for a management event."""
    if op.event_source == "s3.amazonaws.com" and op.name in S3_DATA_EVENTS:
        return "AWS::S3::Object"
    if op.event_source == "lambda.amazonaws.com" and op.name in _LAMBDA_DATA_EVENTS:
        return "AWS::Lambda::Function"
    if op.event_source == "dynamodb.amazonaws.com" and op.name in _DYNAMODB_DATA_EVENTS:
        return "AWS::DynamoDB::Table"
    return None


@dataclass(frozen=True)
class ApiCall:
    """Everything one recorded API call is made of."""

    request: CapturedRequest
    response: CapturedResponse
    operation: Operation
    identity: Identity
    region: str
    event_time: datetime
    bucket_owner: str | None = None


def build_api_record(call: ApiCall) -> dict[str, Any]:
    op = call.operation
    request = call.request
    response = call.response
    name = op.event_name or "Unknown"
    read_only = is_read_only(name)
    data_type = data_resource_type(op)
    service = call.identity.aws_service
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": call.identity.user_identity,
        "eventTime": cloudtrail_time(call.event_time),
        "eventSource": op.event_source,
        "eventName": name,
        "awsRegion": call.region,
        # A service acting is logged with its own name as address and agent.
        "sourceIPAddress": service or request.source_ip,
        "userAgent": service or request.header("user-agent"),
    }
    if not response.ok:
        code, message = error_details(response)
        record["errorCode"] = code
        if message:
            record["errorMessage"] = message
    params = request_parameters(op, request)
    record["requestParameters"] = params
    logs_response = (not read_only or name in _READ_WITH_RESPONSE) and data_type is None
    record["responseElements"] = response_elements(op, response) if response.ok and logs_response else None
    record["requestID"] = _request_id(response, op)
    _align_request_id(record)
    record["eventID"] = str(uuid.uuid4())
    record["readOnly"] = read_only
    resources = _resources(op, call, params)
    if resources:
        record["resources"] = resources
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = data_type is None
    record["recipientAccountId"] = call.identity.account_id
    if service:
        record["sharedEventID"] = str(uuid.uuid4())
    record["eventCategory"] = "Management" if data_type is None else "Data"
    return record


def build_console_login(
    identity: Identity,
    *,
    event_time: datetime,
    region: str,
    source_ip: str,
    user_agent: str,
    success: bool,
    mfa_used: bool,
) -> dict[str, Any]:
    """A console sign-in as CloudTrail writes it (signin.amazonaws.com, ``ConsoleLogin``)."""
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity.user_identity,
        "eventTime": cloudtrail_time(event_time),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    if not success:
        record["errorMessage"] = "Failed authentication"
    record["requestParameters"] = None
    record["responseElements"] = {"ConsoleLogin": "Success" if success else "Failure"}
    record["additionalEventData"] = {
        "LoginTo": CONSOLE_LOGIN_URL,
        "MobileVersion": "No",
        "MFAUsed": "Yes" if mfa_used else "No",
    }
    record["eventID"] = str(uuid.uuid4())
    record["readOnly"] = False
    record["eventType"] = "AwsConsoleSignIn"
    record["managementEvent"] = True
    record["recipientAccountId"] = identity.account_id
    record["eventCategory"] = "Management"
    return record


def role_account(role_arn: str) -> str | None:
    """The account of an IAM role ARN, or None when ``role_arn`` is not one."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    return parts[4] if parts[4].isdigit() else None


def _request_id(response: CapturedResponse, op: Operation) -> str:
    for header in ("x-amzn-requestid", "x-amz-request-id", "x-amzn-request-id"):
        value = response.headers.get(header)
        if value:
            return value
    if op.protocol == "ec2":
        return str(uuid.uuid4())
    return uuid.uuid4().hex.upper()[:16]


def _align_request_id(record: dict[str, Any]) -> None:
    """EC2 repeats the request id in its response; make it the record's (moto's is a constant)."""
    elements = record.get("responseElements")
    if record.get("eventSource") != "ec2.amazonaws.com" or not isinstance(elements, dict):
        return
    for document in (elements, *(v for v in elements.values() if isinstance(v, dict))):
        if "requestId" in document:
            document["requestId"] = record["requestID"]


def _resources(op: Operation, call: ApiCall, params: dict[str, Any] | None) -> list[dict[str, str]]:
    if op.event_source == "sts.amazonaws.com" and op.name in ROLE_ASSUMPTIONS and params:
        role_arn = str(params.get("roleArn", ""))
        account = role_account(role_arn)
        if account is not None:
            return [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}]
    if op.event_source == "s3.amazonaws.com" and params and "bucketName" in params:
        bucket = str(params["bucketName"])
        bucket_entry = {"type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}
        if call.bucket_owner:
            bucket_entry = {"accountId": call.bucket_owner, **bucket_entry}
        if "key" in params:
            return [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{params['key']}"}, bucket_entry]
        if data_resource_type(op) == "AWS::S3::Object":
            # Listing objects: CloudTrail names the objects by prefix.
            prefix = f"arn:aws:s3:::{bucket}/{params.get('prefix', '')}"
            return [{"type": "AWS::S3::Object", "ARNPrefix": prefix}, bucket_entry]
        return [bucket_entry]
    if data_resource_type(op) == "AWS::Lambda::Function" and "FunctionName" in op.uri_params:
        function = op.uri_params["FunctionName"]
        arn = (
            function
            if function.startswith("arn:")
            else f"arn:aws:lambda:{call.region}:{call.identity.account_id}:function:{function}"
        )
        return [{"accountId": call.identity.account_id, "type": "AWS::Lambda::Function", "ARN": arn}]
    return []
