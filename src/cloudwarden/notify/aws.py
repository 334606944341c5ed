"""Amazon SNS (``Publish``) and SES (``SendEmail``) senders, through boto3 and :mod:`cloudwarden.aws.session`.

Both go through the same session factory as every other AWS call, so ``endpoint_url`` (or
``AWS_ENDPOINT_URL``) points them at the lab, and ``profile`` picks credentials. Clients are made once per
(profile, endpoint, region) and reused. botocore's own retries are kept short (3 attempts): the outbox owns
retrying, with backoff that survives a restart.

SNS: the body is the message's JSON (:meth:`Message.body_json`, the same document webhooks get) or, with
``format: text``, the e-mail's plain text. A message over SNS's 256 KiB limit is split by findings into
several publishes. The highest severity and the finding count travel as message attributes, so subscription
filter policies can route on them. FIFO topics get a group id and a deduplication id derived from the
idempotency key, so SNS itself drops a repeat within its five-minute window.

SES: the same subject, plain text and HTML as SMTP e-mail (:func:`cloudwarden.notify.email.render_email`).

Throttling and unreachable endpoints are retried; everything else SNS or SES refuses (an unknown topic, an
unverified sender, bad parameters, refused credentials) is not.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Literal

import botocore.exceptions
from botocore.config import Config
from pydantic import ConfigDict, Field, field_validator

from cloudwarden.aws.session import AwsTarget, client_config, make_session
from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError, CloudwardenError
from cloudwarden.notify.config import TargetConfig, check_email
from cloudwarden.notify.email import one_line, render_email
from cloudwarden.notify.model import DeliveryResult, Message, Outcome

SNS_MAX_BYTES = 256 * 1024
SNS_MAX_SUBJECT = 100
SES_MAX_RECIPIENTS = 50
# Error codes worth retrying: the service is busy or briefly failing.
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceUnavailable", "InternalError", "InternalFailure", "InternalErrorException", "KMSThrottling",
})
_ATTRIBUTE_ROOM = 1024  # bytes kept free under the SNS limit for attributes and the subject


class _AwsTargetConfig(TargetConfig):
    region: str | None = None
    endpoint_url: str | None = Field(default=None, description="e.g. the lab's http://127.0.0.1:4566")
    profile: str | None = None


class SnsTarget(_AwsTargetConfig):
    """``kind: sns``: an SNS topic (region taken from its ARN unless given)."""

    kind: Literal["sns"] = "sns"
    topic_arn: str
    format: Literal["json", "text"] = "json"

    @field_validator("topic_arn")
    @classmethod
    def _topic(cls, value: str) -> str:
        try:
            arn = Arn.parse(value, "topic_arn")
        except BadInputError as exc:
            raise ValueError(exc.why) from None
        if arn.service != "sns" or not arn.region or not arn.account:
            raise ValueError("must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return value


class SesTarget(_AwsTargetConfig):
    """``kind: ses``: a verified sender identity and up to 50 recipients."""

    kind: Literal["ses"] = "ses"
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1, max_length=SES_MAX_RECIPIENTS)
    configuration_set: str | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return check_email(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return [check_email(item) for item in value]


class _Clients:
    """boto3 clients made once per (service, profile, endpoint, region), thread-safely."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str | None, str | None, str, float], Any] = {}
        self._lock = threading.Lock()

    def get(self, service: str, config: _AwsTargetConfig, region: str) -> Any:
        key = (service, config.profile, config.endpoint_url, region, config.timeout)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                target = AwsTarget(endpoint_url=config.endpoint_url, profile=config.profile, region=region)
                session = make_session(target)
                settings = client_config(max_attempts=3).merge(
                    Config(connect_timeout=config.timeout, read_timeout=config.timeout)
                )
                client = session.client(service, region_name=region, endpoint_url=config.endpoint_url,  # type: ignore[call-overload]
                                        config=settings)
                self._clients[key] = client
            return client


def _aws_failure(exc: Exception, parts_sent: int = 0, parts_total: int = 1) -> DeliveryResult:
    """A botocore or cloudwarden error as a delivery result (no secrets: codes and AWS's message only)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        outcome = Outcome.RETRY if code in RETRYABLE_CODES or (status or 0) >= 500 else Outcome.FAILED
        detail = f"{code}: {one_line(str(error.get('Message', '')), 200)}"
        return DeliveryResult(outcome, detail, status, None, parts_sent, parts_total)
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
                  | botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectionClosedError):
        return DeliveryResult(Outcome.RETRY, f"AWS endpoint unreachable ({type(exc).__name__})", None, None,
                              parts_sent, parts_total)
    return DeliveryResult(Outcome.FAILED, one_line(str(exc), 300), None, None, parts_sent, parts_total)


_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, CloudwardenError)


def sns_subject(text: str) -> str:
    """SNS's Subject rules: ASCII, one line, at most 100 characters."""
    ascii_only = text.encode("ascii", "replace").decode("ascii")
    return one_line(ascii_only, SNS_MAX_SUBJECT)


def split_for_sns(message: Message, render: Any, limit: int = SNS_MAX_BYTES - _ATTRIBUTE_ROOM) -> list[Message]:
    """``message`` as one or more messages whose rendered body fits ``limit`` bytes (split by findings)."""
    findings = list(message.payload.get("findings", []))
    if len(render(message).encode()) <= limit or len(findings) <= 1:
        return [message]
    half = len(findings) // 2
    out: list[Message] = []
    for chunk in (findings[:half], findings[half:]):
        ids = [item["id"] for item in chunk]
        part = message.model_copy(update={"payload": {**message.payload, "findings": chunk}, "finding_ids": ids})
        out.extend(split_for_sns(part, render, limit))
    return out


class SnsSender:
    """``sns:Publish`` to the target's topic."""

    kind = "sns"
    config_type = SnsTarget

    def __init__(self) -> None:
        self._clients = _Clients()

    @staticmethod
    def body(message: Message, config: SnsTarget) -> str:
        if config.format == "text":
            return render_email(message)[1]
        return json.dumps(message.body_json(), sort_keys=True, ensure_ascii=False)

    def send(self, message: Message, config: TargetConfig, *, resume_from: int = 0) -> DeliveryResult:
        assert isinstance(config, SnsTarget)
        arn = Arn.parse(config.topic_arn, "topic_arn")
        parts = split_for_sns(message, lambda m: self.body(m, config))
        total = len(parts)
        try:
            client = self._clients.get("sns", config, config.region or arn.region)
        except _AWS_ERRORS as exc:
            return _aws_failure(exc, resume_from, total)
        for index in range(resume_from, total):
            part = parts[index]
            body = self.body(part, config)
            if len(body.encode()) > SNS_MAX_BYTES - _ATTRIBUTE_ROOM:
                return DeliveryResult(Outcome.FAILED, "one finding alone is larger than SNS's 256 KiB limit",
                                      None, None, index, total)
            findings = part.findings()
            top = max((f.severity for f in findings), default=None)
            request: dict[str, Any] = {
                "TopicArn": config.topic_arn,
                "Message": body,
                "Subject": sns_subject(f"[cloudwarden] {part.subject}" + (f" ({index + 1}/{total})" if total > 1
                                                                            else "")),
                "MessageAttributes": {
                    "finding_count": {"DataType": "Number", "StringValue": str(len(findings))},
                    "delivery_id": {"DataType": "String", "StringValue": message.idempotency_key},
                },
            }
            if top is not None:
                request["MessageAttributes"]["severity"] = {"DataType": "String", "StringValue": top.value}
            if config.topic_arn.endswith(".fifo"):
                digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()
                request["MessageGroupId"] = "cloudwarden"
                request["MessageDeduplicationId"] = f"{digest}-{index}"
            try:
                client.publish(**request)
            except _AWS_ERRORS as exc:
                return _aws_failure(exc, index, total)
        return DeliveryResult.delivered(total, 200)


class SesSender:
    """``ses:SendEmail`` with the same text and HTML bodies as SMTP e-mail."""

    kind = "ses"
    config_type = SesTarget

    def __init__(self) -> None:
        self._clients = _Clients()

    def send(self, message: Message, config: TargetConfig, *, resume_from: int = 0) -> DeliveryResult:
        assert isinstance(config, SesTarget)
        subject, text, body_html = render_email(message)
        request: dict[str, Any] = {
            "Source": config.sender,
            "Destination": {"ToAddresses": list(config.to)},
            "Message": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": body_html, "Charset": "UTF-8"}},
            },
        }
        if config.configuration_set:
            request["ConfigurationSetName"] = config.configuration_set
        try:
            client = self._clients.get("ses", config, config.region or "us-east-1")
            client.send_email(**request)
        except _AWS_ERRORS as exc:
            return _aws_failure(exc)
        return DeliveryResult.delivered(1, 200)
