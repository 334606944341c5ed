"""boto3 sessions that act as one principal from one place: the lab's way to play a person.

The lab's CloudTrail recorder takes ``sourceIPAddress`` from the first ``X-Forwarded-For`` address
and ``userAgent`` from the ``User-Agent`` header. An :class:`Actor` sets both on every request its
clients send (a botocore ``before-send`` hook, after signing, so the signature is unaffected; SigV4
never signs ``User-Agent``), which is how traffic and attack scenarios make the lab record a
developer at the office, a CI runner or an attacker on another continent, all from one process.

Credentials obtained through an actor (``assume_role``) keep its address and user agent: that is
exactly what stolen instance-role credentials used from outside the instance look like.

``{command}`` in a user agent is replaced per request by the CLI-style command name
(``ec2.describe-instances``), as the AWS CLI v2 appends ``command/...`` to its user agent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore import UNSIGNED
from botocore.config import Config

from cloudwarden.aws.session import with_shared_models
from cloudwarden.core.errors import BadInputError
from cloudwarden.lab.demo_org import HOME_REGION

# Header names the recorder reads (CONTRACTS.md → The lab).
FORWARDED_FOR = "X-Forwarded-For"
USER_AGENT = "User-Agent"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class KeyPair(Protocol):
    """An access key pair as the seeder hands it out (``SeedResult.credentials[...]``)."""

    @property
    def access_key_id(self) -> str: ...

    @property
    def secret_access_key(self) -> str: ...


@dataclass(frozen=True)
class Credentials:
    """Concrete credentials: a long-term key pair, or temporary ones with a session token."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Call:
    """One request an actor made, as the journal saw it (never parameters: they may hold secrets)."""

    service: str
    operation: str
    actor: str
    source_ip: str | None
    region: str
    status: int
    error_code: str | None
    at: datetime


CallObserver = Callable[[Call], None]


def cli_command(service_id: str, operation: str) -> str:
    """``("ec2", "DescribeInstances")`` -> ``"ec2.describe-instances"``, as the AWS CLI names commands."""
    return f"{service_id.lower()}.{_CAMEL.sub('-', operation).lower()}"


def _host_prefix_fix(endpoint_url: str) -> Any:
    """s3control's endpoint rules put the account id in front of the host (``222222222222.127.0.0.1``),
    which names no host in the lab; send such requests to the lab's own host, the path unchanged."""
    lab = urlsplit(endpoint_url)

    def strip_prefix(request: Any, **_: Any) -> None:
        url = urlsplit(request.url)
        head, dot, rest = url.netloc.partition(".")
        if dot and rest == lab.netloc and head.isdigit():
            request.url = urlunsplit(url._replace(netloc=lab.netloc))

    return strip_prefix


def _header_hook(source_ip: str | None, user_agent: str | None) -> Any:
    def add_headers(request: Any, event_name: str = "", **_: Any) -> None:
        if source_ip:
            request.headers[FORWARDED_FOR] = source_ip
        if user_agent:
            agent = user_agent
            if "{command}" in agent:
                # event_name is "before-send.<service-id>.<Operation>"
                parts = event_name.split(".")
                command = cli_command(parts[1], parts[2]) if len(parts) >= 3 else "unknown"
                agent = agent.replace("{command}", command)
            request.headers[USER_AGENT] = agent

    return add_headers


def _journal_hook(observer: CallObserver, actor: str, source_ip: str | None) -> Any:
    def after_call(http_response: Any, parsed: Any, model: Any, context: Any = None, **_: Any) -> None:
        error = parsed.get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        region = (context or {}).get("client_region") or ""
        observer(Call(model.service_model.service_name, model.name, actor, source_ip, region,
                      int(http_response.status_code), error if http_response.status_code >= 300 else None,
                      datetime.now(UTC)))

    return after_call


def actor_session(
    endpoint_url: str,
    key_pair: KeyPair | Credentials | None,
    region: str = HOME_REGION,
    source_ip: str | None = None,
    user_agent: str | None = None,
    *,
    observer: CallObserver | None = None,
    actor_name: str = "",
) -> boto3.Session:
    """A boto3 session whose clients send ``X-Forwarded-For: source_ip`` and ``User-Agent: user_agent``.

    ``endpoint_url`` is not stored in a boto3 session: pass it to every client, or use :class:`Actor`,
    which does. ``key_pair`` None makes an unsigned (anonymous) actor's session. ``observer``, when
    given, is told of every completed call (service, operation, status; never parameters).
    """
    if not endpoint_url:
        raise BadInputError("endpoint_url", "the lab's endpoint URL is required")
    token = key_pair.session_token if isinstance(key_pair, Credentials) else None
    session = with_shared_models(boto3.Session(
        aws_access_key_id=key_pair.access_key_id if key_pair else None,
        aws_secret_access_key=key_pair.secret_access_key if key_pair else None,
        aws_session_token=token,
        region_name=region,
    ))
    session.events.register("before-send", _header_hook(source_ip, user_agent))
    session.events.register("before-send.s3-control", _host_prefix_fix(endpoint_url))
    if observer is not None:
        session.events.register("after-call", _journal_hook(observer, actor_name, source_ip))
    return session


@dataclass
class Actor:
    """One principal acting from one address with one tool; hands out clients aimed at the lab.

    ``name`` is a label for reports (``"prod/ci-deployer"``). ``anonymous`` actors send unsigned
    requests (public S3 reads). Clients are cached per (service, region). Requests are never retried,
    so each call leaves exactly one CloudTrail record.
    """

    endpoint_url: str
    credentials: Credentials | None
    name: str
    region: str = HOME_REGION
    source_ip: str | None = None
    user_agent: str | None = None
    observer: CallObserver | None = field(default=None, repr=False)
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_key_pair(
        cls,
        endpoint_url: str,
        key_pair: KeyPair,
        name: str,
        *,
        region: str = HOME_REGION,
        source_ip: str | None = None,
        user_agent: str | None = None,
        observer: CallObserver | None = None,
    ) -> Actor:
        creds = Credentials(key_pair.access_key_id, key_pair.secret_access_key)
        return cls(endpoint_url, creds, name, region, source_ip, user_agent, observer)

    @classmethod
    def anonymous(
        cls, endpoint_url: str, *, source_ip: str | None = None, user_agent: str | None = None,
        region: str = HOME_REGION, observer: CallObserver | None = None,
    ) -> Actor:
        return cls(endpoint_url, None, "anonymous", region, source_ip, user_agent, observer)

    @property
    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = actor_session(
                self.endpoint_url, self.credentials, self.region, self.source_ip, self.user_agent,
                observer=self.observer, actor_name=self.name,
            )
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for ``service`` in ``region`` (default: the actor's), aimed at the lab."""
        where = region or self.region
        key = (service, where)
        if key not in self._clients:
            config = Config(
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
                signature_version=UNSIGNED if self.credentials is None else None,
                connect_timeout=5,
                read_timeout=60,
            )
            self._clients[key] = self.session.client(
                service,  # type: ignore[call-overload]
                region_name=where, endpoint_url=self.endpoint_url, config=config
            )
        return self._clients[key]

    def assume_role(self, role_arn: str, session_name: str, *, duration_seconds: int = 3600) -> Actor:
        """AssumeRole through this actor; the new actor keeps this one's address and user agent."""
        resp = self.client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration_seconds
        )
        c = resp["Credentials"]
        creds = Credentials(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        role_name = role_arn.rsplit("/", 1)[-1]
        return Actor(self.endpoint_url, creds, f"{role_name}/{session_name}", self.region,
                     self.source_ip, self.user_agent, self.observer)

    def with_origin(self, *, source_ip: str | None = None, user_agent: str | None = None) -> Actor:
        """The same credentials used from another address and/or with another tool."""
        return Actor(self.endpoint_url, self.credentials, self.name, self.region,
                     source_ip or self.source_ip, user_agent or self.user_agent, self.observer)
