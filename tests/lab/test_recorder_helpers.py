"""The ``/_cloudwarden/`` helper endpoints through ``LabClient``: console sign-ins, log delivery, flush."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from cloudwarden.core.errors import BadInputError, EndpointUnreachable
from cloudwarden.lab.client import LabClient
from cloudwarden.lab.server import Lab
from tests.lab.conftest import bucket_records, disk_records, make_trail, only

pytestmark = pytest.mark.lab


def test_console_login_of_a_user_is_delivered_like_cloudtrail(lab: Lab) -> None:
    make_trail(lab, "signin", "signin-logs")
    user = lab.aws_client("iam").create_user(UserName="bob")["User"]
    event_id = lab.client.console_login(
        "123456789012", "bob", success=True, mfa_used=False, source_ip="203.0.113.66", user_agent="Mozilla/5.0"
    )
    lab.client.flush()
    record = only(bucket_records(lab.aws_client("s3"), "signin-logs"), "ConsoleLogin")
    assert record["eventID"] == event_id
    assert record["eventSource"] == "signin.amazonaws.com"
    assert record["eventType"] == "AwsConsoleSignIn"
    assert record["userIdentity"] == {
        "type": "IAMUser",
        "principalId": user["UserId"],
        "arn": user["Arn"],
        "accountId": "123456789012",
        "userName": "bob",
    }
    assert record["sourceIPAddress"] == "203.0.113.66"
    assert record["userAgent"] == "Mozilla/5.0"
    assert record["responseElements"] == {"ConsoleLogin": "Success"}
    assert record["additionalEventData"]["MFAUsed"] == "No"
    assert record["additionalEventData"]["MobileVersion"] == "No"
    assert record["additionalEventData"]["LoginTo"].startswith("https://console.aws.amazon.com/")
    assert "errorMessage" not in record


def test_failed_root_console_login(lab: Lab) -> None:
    lab.client.console_login("123456789012", "root", success=False, mfa_used=True, source_ip="198.51.100.77")
    lab.client.flush()
    record = only(disk_records(lab.state_dir), "ConsoleLogin")
    assert record["userIdentity"]["type"] == "Root"
    assert record["userIdentity"]["arn"] == "arn:aws:iam::123456789012:root"
    assert record["responseElements"] == {"ConsoleLogin": "Failure"}
    assert record["errorMessage"] == "Failed authentication"
    assert record["additionalEventData"]["MFAUsed"] == "Yes"


def test_console_login_of_unknown_user(lab: Lab) -> None:
    with pytest.raises(BadInputError, match="no IAM user 'mallory'"):
        lab.client.console_login("123456789012", "mallory", success=True, source_ip="198.51.100.1")
    lab.client.console_login("123456789012", "mallory", success=False, source_ip="198.51.100.1")
    lab.client.flush()
    record = only(disk_records(lab.state_dir), "ConsoleLogin")
    assert record["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"


def test_deliver_writes_an_object_without_a_record(lab: Lab) -> None:
    s3 = lab.aws_client("s3")
    s3.create_bucket(Bucket="flow-logs")
    answer = lab.client.deliver("123456789012", "flow-logs", "AWSLogs/123456789012/vpcflowlogs/f.log.gz", b"flow data")
    assert answer == {"bucket": "flow-logs", "key": "AWSLogs/123456789012/vpcflowlogs/f.log.gz", "size": 9}
    body = s3.get_object(Bucket="flow-logs", Key="AWSLogs/123456789012/vpcflowlogs/f.log.gz")["Body"].read()
    assert body == b"flow data"
    lab.client.flush()
    assert "PutObject" not in [r["eventName"] for r in disk_records(lab.state_dir)]


def test_deliver_to_missing_bucket_is_refused(lab: Lab) -> None:
    with pytest.raises(BadInputError, match="bucket nowhere does not exist"):
        lab.client.deliver("123456789012", "nowhere", "k", b"x")


def test_bad_helper_input_is_a_400_naming_the_field(lab: Lab) -> None:
    request = urllib.request.Request(
        f"{lab.endpoint_url}/_cloudwarden/console-login",
        data=json.dumps({"account_id": "123456789012", "user_name": "x", "success": "yes"}).encode(),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    assert json.loads(caught.value.read()) == {"error": "field 'success' must be a bool"}


def test_flush_and_status_report_counts(lab: Lab) -> None:
    make_trail(lab, "counted", "counted-logs")
    flushed = lab.client.flush()
    assert flushed["records"] == 3  # CreateBucket, CreateTrail, StartLogging
    assert flushed["disk_files"] == 1
    assert flushed["trail_files"] == 1
    status = lab.client.status()
    assert status["records_total"] == 3
    assert status["records_pending"] == 0
    assert status["trails"] == [
        {
            "arn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/counted",
            "bucket": "counted-logs",
            "logging": True,
            "multi_region": False,
            "organization_trail": False,
        }
    ]


def test_client_says_when_no_lab_answers() -> None:
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = LabClient(f"http://127.0.0.1:{port}", timeout=1)
    assert client.is_up() is False
    with pytest.raises(EndpointUnreachable, match="no lab answers"):
        client.status()
