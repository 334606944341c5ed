"""Building boto3 sessions and clients for a target (a real account or the lab).

One factory passed down explicitly, never a module-global session. ``endpoint_url`` is the seam to the
lab; botocore timeouts and adaptive retries are set by default so a scan neither hangs nor hammers an
account. Failures to reach the endpoint or to authenticate become :mod:`cloudwarden.core.errors`
runtime failures with a message that says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from cloudwarden.core.errors import CredentialsRefused, EndpointUnreachable

DEFAULT_REGION = "us-east-1"
LAB_HINT = "start the embedded lab with `cloudwarden lab up --detach` and pass --endpoint-url (or set AWS_ENDPOINT_URL)"


@dataclass(frozen=True)
class AwsTarget:
    """Where and as whom to call AWS."""

    endpoint_url: str | None = None
    profile: str | None = None
    region: str = DEFAULT_REGION
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


def client_config(max_attempts: int = 8) -> Config:
    return Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=60,
        user_agent_extra="cloudwarden",
    )


def make_session(target: AwsTarget) -> boto3.Session:
    """A boto3 session for ``target``; with an endpoint and no credentials, the lab's default (root) keys."""
    kwargs: dict[str, Any] = {"region_name": target.region}
    if target.profile:
        kwargs["profile_name"] = target.profile
    if target.access_key_id:
        kwargs["aws_access_key_id"] = target.access_key_id
        kwargs["aws_secret_access_key"] = target.secret_access_key
        kwargs["aws_session_token"] = target.session_token
    try:
        session = boto3.Session(**kwargs)
    except botocore.exceptions.ProfileNotFound as exc:
        raise CredentialsRefused(f"--profile: {exc}") from None
    if session.get_credentials() is None:
        if target.endpoint_url:
            # A local endpoint (the lab) accepts any key; moto maps unknown keys to the management root.
            return boto3.Session(
                region_name=target.region, aws_access_key_id="testing", aws_secret_access_key="testing"
            )
        raise CredentialsRefused(f"no AWS credentials found; {LAB_HINT}")
    return session


def make_client(session: boto3.Session, service: str, target: AwsTarget, region: str | None = None) -> Any:
    """A client for ``service`` with our retry/timeout config and the target's endpoint."""
    return session.client(
        service,  # type: ignore[call-overload]
        region_name=region or target.region,
        endpoint_url=target.endpoint_url,
        config=client_config(),
    )


def check_reachable(target: AwsTarget) -> str:
    """Call ``sts:GetCallerIdentity``; return the caller ARN or raise a runtime failure saying what to do."""
    session = make_session(target)
    sts = session.client(
        "sts",
        region_name=target.region,
        endpoint_url=target.endpoint_url,
        config=Config(retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
    )
    try:
        return str(sts.get_caller_identity()["Arn"])
    except botocore.exceptions.EndpointConnectionError:
        where = target.endpoint_url or "AWS"
        raise EndpointUnreachable(f"cannot reach {where}; {LAB_HINT}") from None
    except botocore.exceptions.NoCredentialsError:
        raise CredentialsRefused(f"no AWS credentials found; {LAB_HINT}") from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise CredentialsRefused(f"AWS refused the credentials ({code})") from None
