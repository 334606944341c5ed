"""Where and as whom to call AWS: a plain value, importable without boto3 (commands that never call AWS
start faster without it)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class AwsTarget:
    """Where and as whom to call AWS."""

    endpoint_url: str | None = None
    profile: str | None = None
    region: str = DEFAULT_REGION
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
