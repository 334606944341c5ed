"""Event names CloudTrail logs where they differ from the API operation: every table entry, and the
calls detection rules care about made against a lab."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import botocore.session
import pytest
from botocore.model import Shape
from botocore.serialize import create_serializer

from cloudwarden.lab.recorder.event_names import EVENT_NAMES, event_name_for
from cloudwarden.lab.recorder.http import CapturedRequest
from cloudwarden.lab.recorder.operations import OperationResolver
from cloudwarden.lab.server import Lab
from tests.lab.conftest import disk_records

_SESSION = botocore.session.get_session()
_RESOLVER = OperationResolver(_SESSION)


def _minimal(shape: Shape | None, depth: int = 0) -> Any:
    """A value for ``shape`` with every required member filled in (enough to serialize a request)."""
    if shape is None or depth > 5:
        return None
    kind = shape.type_name
    if kind == "structure":
        required = shape.metadata.get("required", [])
        return {name: _minimal(shape.members[name], depth + 1) for name in required}  # type: ignore[attr-defined]
    if kind == "string":
        return "n" * max(int(shape.metadata.get("min", 1)), 6)
    return {"integer": 1, "long": 1, "boolean": True, "list": [], "map": {}, "blob": b"x"}.get(kind, "name-1")


def _verb(name: str) -> str:
    found = re.match(r"[A-Z][a-z]+", name)
    return found.group(0) if found else ""


def _request_for(service: str, operation: str) -> CapturedRequest:
    """The HTTP request botocore's own serializer makes for ``operation`` (no network involved)."""
    model = _SESSION.get_service_model(service)
    op = model.operation_model(operation)
    serialized = create_serializer(model.protocol).serialize_to_request(_minimal(op.input_shape), op)
    path, _, inline_query = str(serialized["url_path"]).partition("?")
    query = "&".join(q for q in (inline_query, urlencode(serialized["query_string"], doseq=True)) if q)
    body = serialized["body"]
    return CapturedRequest(
        method=serialized["method"],
        path=path,
        query_string=query,
        headers={str(k).lower(): str(v) for k, v in serialized["headers"].items()},
        body=body if isinstance(body, bytes) else str(body or "").encode(),
        remote_addr="127.0.0.1",
    )


def _entry_id(value: object) -> str:
    return "/".join(value) if isinstance(value, tuple) else str(value)


@pytest.mark.parametrize(("key", "name"), sorted(EVENT_NAMES.items()), ids=_entry_id)
def test_every_entry_names_an_operation_the_recorder_resolves(key: tuple[str, str], name: str) -> None:
    service, operation = key
    assert operation in _SESSION.get_service_model(service).operation_names
    # A different name for the same action: the verb never changes.
    assert name != operation and _verb(name) == _verb(operation)
    signing = _SESSION.get_service_model(service).metadata.get("signingName", service)
    resolved = _RESOLVER.resolve(_request_for(service, operation), str(signing))
    # S3's deprecated twins (GetBucketLifecycle for GetBucketLifecycleConfiguration) share a route
    # and are already CloudTrail's names; either way the record carries CloudTrail's name.
    assert resolved.service == service
    assert resolved.event_name == name


def test_operations_without_an_entry_keep_their_name() -> None:
    assert event_name_for("lambda", "CreateFunctionUrlConfig") == "CreateFunctionUrlConfig"
    assert event_name_for("lambda", "Invoke") == "Invoke"
    assert event_name_for("cloudfront", "UpdateDistribution") == "UpdateDistribution"
    assert event_name_for("iam", "CreateUser") == "CreateUser"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
    return buffer.getvalue()


def _lab_host(lab: Lab) -> Any:
    """s3control puts the account id in front of the host; send it to the lab's host instead."""
    netloc = urlsplit(lab.endpoint_url).netloc

    def rewrite(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        request.url = urlunsplit(url._replace(netloc=netloc))

    return rewrite


@pytest.mark.lab
def test_lambda_and_s3_control_calls_are_delivered_with_cloudtrails_names(lab: Lab) -> None:
    statement = {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    trust = {"Version": "2012-10-17", "Statement": [statement]}
    role = lab.aws_client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    queue = lab.aws_client("sqs").create_queue(QueueName="jobs")["QueueUrl"]
    queue_arn = lab.aws_client("sqs").get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    functions = lab.aws_client("lambda")
    functions.create_function(
        FunctionName="fn", Runtime="python3.12", Role=role["Arn"], Handler="app.handler", Code={"ZipFile": _zip()}
    )
    functions.update_function_code(FunctionName="fn", ZipFile=_zip())
    layer = functions.publish_layer_version(LayerName="ext", Content={"ZipFile": _zip()})
    functions.update_function_configuration(FunctionName="fn", Layers=[layer["LayerVersionArn"]])
    functions.add_permission(FunctionName="fn", StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    functions.get_function(FunctionName="fn")
    functions.list_functions()
    functions.get_policy(FunctionName="fn")
    functions.remove_permission(FunctionName="fn", StatementId="s")
    functions.create_event_source_mapping(FunctionName="fn", EventSourceArn=queue_arn)
    functions.create_function_url_config(FunctionName="fn", AuthType="NONE")
    functions.update_function_url_config(FunctionName="fn", AuthType="AWS_IAM")
    functions.delete_function(FunctionName="fn")

    control = lab.aws_client("s3control")
    control.meta.events.register("before-send.s3-control", _lab_host(lab))
    block = dict.fromkeys(("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True)
    control.put_public_access_block(AccountId="123456789012", PublicAccessBlockConfiguration=block)
    control.get_public_access_block(AccountId="123456789012")
    control.delete_public_access_block(AccountId="123456789012")
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="assets")
    s3.put_public_access_block(Bucket="assets", PublicAccessBlockConfiguration=block)
    lab.client.flush()

    records = disk_records(lab.state_dir)
    lambda_names = [r["eventName"] for r in records if r["eventSource"] == "lambda.amazonaws.com"]
    assert lambda_names == [
        "CreateFunction20150331",
        "UpdateFunctionCode20150331v2",
        "PublishLayerVersion20181031",
        "UpdateFunctionConfiguration20150331v2",
        "AddPermission20150331v2",
        "GetFunction20150331v2",
        "ListFunctions20150331",
        "GetPolicy20150331v2",
        "RemovePermission20150331v2",
        "CreateEventSourceMapping20150331",
        "CreateFunctionUrlConfig",
        "UpdateFunctionUrlConfig",
        "DeleteFunction20150331",
    ]
    s3_names = [r["eventName"] for r in records if r["eventSource"] == "s3.amazonaws.com"]
    assert s3_names == [
        "PutAccountPublicAccessBlock",
        "GetAccountPublicAccessBlock",
        "DeleteAccountPublicAccessBlock",
        "CreateBucket",
        "PutBucketPublicAccessBlock",
    ]
    read_only = {r["eventName"]: r["readOnly"] for r in records}
    assert read_only["GetFunction20150331v2"] and read_only["GetAccountPublicAccessBlock"]
    assert not read_only["UpdateFunctionCode20150331v2"] and not read_only["PutAccountPublicAccessBlock"]
    assert all("errorCode" not in r for r in records), [r["errorCode"] for r in records if "errorCode" in r]
