"""The seeder's working state: one boto3 session per account, shared clients, and what was made.

Every family module (``iam``, ``s3``, ``network`` ...) receives a :class:`SeedContext`, asks it for a
client acting as an account's administrator, and records the ids other code needs in
``resources``. Clients are cached per (account, service, region) because creating a botocore
client costs more than most lab API calls.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config

from cloudwarden.aws.session import with_shared_models
from cloudwarden.lab.demo_org import HOME_REGION, ORG_NAME
from cloudwarden.lab.seed.result import AccessKeyPair

# The lab is one host and port, not *.amazonaws.com: path-style S3 addressing, and no account-id host
# prefix where the API model adds one.
_CLIENT_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    s3={"addressing_style": "path"},
    inject_host_prefix=False,
    connect_timeout=5,
    read_timeout=60,
)

# moto's default credentials: the management account's root user.
ROOT_KEY = "testing"


@dataclass
class SeedAccount:
    """One account of the demo organisation, reached as its administrator."""

    alias: str
    account_id: str
    endpoint_url: str
    session: boto3.session.Session
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def client(self, service: str, region: str = HOME_REGION) -> Any:
        """A cached boto3 client for ``service`` in ``region`` acting in this account."""
        key = (service, region)
        if key not in self._clients:
            client = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=region,
                endpoint_url=self.endpoint_url,
                config=_CLIENT_CONFIG,
            )
            if service == "s3control":
                client.meta.events.register("before-send.s3-control", strip_account_host_prefix)
            self._clients[key] = client
        return self._clients[key]

    def arn(self, service: str, resource: str, region: str = "") -> str:
        """``arn:aws:<service>:<region>:<this account>:<resource>``."""
        return f"arn:aws:{service}:{region}:{self.account_id}:{resource}"


def strip_account_host_prefix(request: Any, **_: Any) -> None:
    """S3 Control's endpoint rules put the account id in front of any custom endpoint's host
    (``http://<account>.127.0.0.1:4566``), which does not resolve; the lab serves S3 Control on its own
    host (the account travels in the ``x-amz-account-id`` header anyway). The lab does not check
    signatures, so rewriting the URL after signing is harmless there.
    """
    parts = urlsplit(request.url)
    host, _, rest = parts.netloc.partition(".")
    if host.isdigit() and rest:
        request.url = urlunsplit(parts._replace(netloc=rest))


def management_session() -> boto3.session.Session:
    """A session with the lab's default credentials (the management account's root user)."""
    return with_shared_models(boto3.session.Session(aws_access_key_id=ROOT_KEY, aws_secret_access_key=ROOT_KEY,
                                                    region_name=HOME_REGION))


@dataclass
class SeedContext:
    """Shared state for one seeding run."""

    endpoint_url: str
    now: datetime
    accounts: dict[str, SeedAccount] = field(default_factory=dict)
    organization_id: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, AccessKeyPair] = field(default_factory=dict, repr=False)
    regions_used: set[str] = field(default_factory=lambda: {HOME_REGION})

    def account(self, alias: str) -> SeedAccount:
        return self.accounts[alias]

    def record(self, alias: str, kind: str, name: str, value: str) -> str:
        """Remember ``<alias>/<kind>/<name>`` -> ``value`` for ``SeedResult.resources``; returns value."""
        self.resources[f"{alias}/{kind}/{name}"] = value
        return value

    def days_ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)


def tags(environment: str, owner: str, cost_center: str, **extra: str) -> list[dict[str, str]]:
    """The organisation's tagging standard (Environment, Owner, CostCenter) in the common AWS shape."""
    base = {"Environment": environment, "Owner": owner, "CostCenter": cost_center, **extra}
    return [{"Key": key, "Value": value} for key, value in base.items()]


def tag_map(tag_list: list[dict[str, str]]) -> dict[str, str]:
    """``[{"Key": k, "Value": v}]`` -> ``{k: v}`` for the APIs (Lambda, GuardDuty, ECR...) that take a map."""
    return {item["Key"]: item["Value"] for item in tag_list}


def fake_secret(purpose: str, length: int = 24, alphabet: str = string.ascii_letters + string.digits) -> str:
    """A value that looks like a real credential but is derived from ``purpose`` alone.

    Deterministic, so every lab holds the same values (detections can be reproduced), and never a
    literal in the source tree, so secret scanners have nothing real-looking to flag here.
    """
    rng = random.Random(f"{ORG_NAME}:{purpose}")
    return "".join(rng.choice(alphabet) for _ in range(length))
