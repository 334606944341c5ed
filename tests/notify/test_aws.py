"""SNS and SES through boto3 against in-process moto: what subscribers receive, splitting over 256 KiB, FIFO
deduplication, and AWS's refusals as permanent failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cloudwarden.core.severity import Severity
from cloudwarden.lab import demo_org
from cloudwarden.lab.server import Lab
from cloudwarden.notify import Message, Outbox, Outcome, Targets
from cloudwarden.notify.aws import SesSender, SesTarget, SnsSender, SnsTarget
from cloudwarden.store import Store
from tests.notify.conftest import make_finding

REGION = demo_org.HOME_REGION


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def _topic_with_queue(name: str, fifo: bool = False) -> tuple[str, Any, str]:
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    attributes = {"FifoTopic": "true", "ContentBasedDeduplication": "false"} if fifo else {}
    topic = sns.create_topic(Name=name + (".fifo" if fifo else ""), Attributes=attributes)["TopicArn"]
    queue = sqs.create_queue(QueueName=name + (".fifo" if fifo else ""),
                             Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    return topic, sqs, queue


def _drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = batch.get("Messages", [])
        if not messages:
            return got
        got += messages
        for m in messages:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])


def test_sns_subscribers_get_the_findings_as_json_with_filterable_attributes(aws: None) -> None:
    topic, sqs, queue = _topic_with_queue("cloudwarden-alerts")
    findings = [make_finding(1, severity=Severity.MEDIUM), make_finding(2, severity=Severity.CRITICAL)]
    message = Message.for_findings("sns", "sns", findings)
    result = SnsSender().send(message, SnsTarget(topic_arn=topic))
    assert result.ok
    (got,) = _drain(sqs, queue)
    body = json.loads(got["Body"])
    assert body["id"] == message.idempotency_key
    assert sorted(body["finding_ids"]) == sorted(f.id for f in findings)
    assert got["MessageAttributes"]["severity"]["StringValue"] == "CRITICAL"
    assert got["MessageAttributes"]["finding_count"]["StringValue"] == "2"


def test_sns_splits_a_message_over_256_kib_by_findings(aws: None) -> None:
    topic, sqs, queue = _topic_with_queue("big")
    findings = [make_finding(i, description="d" * 20_000) for i in range(40)]  # ~800 KB of JSON
    result = SnsSender().send(Message.for_findings("sns", "sns", findings), SnsTarget(topic_arn=topic))
    assert result.ok and result.parts_total >= 4
    got = _drain(sqs, queue)
    assert len(got) == result.parts_total
    assert all(len(m["Body"].encode()) <= 256 * 1024 for m in got)
    ids = [i for m in got for i in json.loads(m["Body"])["finding_ids"]]
    assert sorted(ids) == sorted(f.id for f in findings)  # every finding once


def test_sns_fifo_topic_drops_a_repeat_by_deduplication_id(aws: None) -> None:
    topic, sqs, queue = _topic_with_queue("alerts", fifo=True)
    message = Message.for_findings("sns", "sns", [make_finding()])
    sender = SnsSender()
    assert sender.send(message, SnsTarget(topic_arn=topic)).ok
    assert sender.send(message, SnsTarget(topic_arn=topic)).ok
    assert len(_drain(sqs, queue)) == 1


def test_sns_unknown_topic_is_a_permanent_failure(aws: None) -> None:
    missing = f"arn:aws:sns:{REGION}:123456789012:nope"
    result = SnsSender().send(Message.for_findings("sns", "sns", [make_finding()]), SnsTarget(topic_arn=missing))
    assert result.outcome is Outcome.FAILED and "NotFound" in result.detail


def test_sns_text_format_reads_like_the_email(aws: None) -> None:
    topic, sqs, queue = _topic_with_queue("text")
    finding = make_finding(3)
    SnsSender().send(Message.for_findings("sns", "sns", [finding]), SnsTarget(topic_arn=topic, format="text"))
    (got,) = _drain(sqs, queue)
    assert got["Body"].startswith(f"[HIGH] {finding.title}") and finding.resource.id in got["Body"]


def test_ses_sends_from_a_verified_identity_and_refuses_an_unverified_one(aws: None) -> None:
    ses = boto3.client("ses", region_name=REGION)
    target = SesTarget.model_validate({"from": "alerts@cloudwarden.test", "to": ["secops@example.com"]})
    message = Message.for_findings("ses", "ses", [make_finding()])
    refused = SesSender().send(message, target)
    assert refused.outcome is Outcome.FAILED and "MessageRejected" in refused.detail
    ses.verify_email_identity(EmailAddress="alerts@cloudwarden.test")
    assert SesSender().send(message, target).ok
    assert ses.get_send_quota()["SentLast24Hours"] == 1


def test_sns_config_names_a_bad_topic_arn() -> None:
    with pytest.raises(ValueError, match="topic_arn"):
        SnsTarget(topic_arn="arn:aws:sqs:us-east-1:123456789012:queue")


@pytest.mark.lab
def test_outbox_publishes_to_sns_on_the_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with Lab(tmp_path / "lab", seed="empty", flush_interval=3600.0) as lab:
        sns, sqs = lab.aws_client("sns"), lab.aws_client("sqs")
        topic = sns.create_topic(Name="cloudwarden-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        targets = Targets({"sns": SnsTarget(topic_arn=topic, endpoint_url=lab.endpoint_url)})
        with Store.open(tmp_path / "s.duckdb") as store:
            outbox = Outbox(store, targets)
            message = outbox.enqueue("sns", [make_finding(1), make_finding(2)])
            assert message is not None
            assert outbox.deliver_due().delivered == [message.idempotency_key]
        (got,) = _drain(sqs, queue)
        assert json.loads(got["Body"])["id"] == message.idempotency_key
