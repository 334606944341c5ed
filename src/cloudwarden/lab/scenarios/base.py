"""The pieces every attack scenario shares: its description, its result, and the context it acts in.

A :class:`Scenario` is data (name, what it does, MITRE techniques, the GuardDuty finding types a
detector should raise) plus one ``run(ctx)`` function, so adding a scenario is one module and one
registry line. :class:`ScenarioContext` hands out :class:`~cloudwarden.lab.actors.Actor` objects for
the seeded principals, all reporting to one journal, so the result says exactly which calls were
made, by whom and from where, without the scenario keeping books itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from cloudwarden.core.errors import BadInputError
from cloudwarden.lab.actors import Actor, Call, Credentials
from cloudwarden.lab.demo_org import ACCOUNTS, HOME_REGION
from cloudwarden.lab.seed.result import SeedResult

T = TypeVar("T")

# The lab's default credentials: moto maps any key it does not know to the management account, and
# the recorder records it as that account's root user.
ROOT_CREDENTIALS = Credentials("testing", "testing")

# How AWS services appear when they act (an instance profile's credentials delivered by EC2).
EC2_SERVICE = "ec2.amazonaws.com"

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)


class LabHelper(Protocol):
    """The lab's helper endpoints scenarios use (``cloudwarden.lab.client.LabClient``)."""

    def deliver(self, account_id: str, bucket: str, key: str, body: bytes) -> object: ...

    def console_login(
        self,
        account_id: str,
        user_name: str,
        *,
        mfa_used: bool,
        success: bool,
        source_ip: str,
        user_agent: str,
        region: str = ...,
    ) -> object: ...


class ScenarioResult(BaseModel):
    """What one scenario played: the calls, who made them, from where, and objects delivered."""

    model_config = ConfigDict(frozen=True)

    name: str
    calls: int
    failed_calls: int
    event_names: list[str]
    principals: list[str]
    source_ips: list[str]
    started: datetime
    ended: datetime
    objects_delivered: list[str]
    error_codes: dict[str, int]


@dataclass(frozen=True)
class Scenario:
    """A game-day attack: data describing it plus the function that plays it."""

    name: str
    title: str
    description: str
    mitre: tuple[str, ...]
    finding_types: tuple[str, ...]
    run: Callable[[ScenarioContext], None]


@dataclass
class ScenarioContext:
    """Everything a scenario acts through; collects what happened for its :class:`ScenarioResult`."""

    endpoint_url: str
    seed: SeedResult
    lab: LabHelper
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    calls: list[Call] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)

    # --- principals -----------------------------------------------------------------------------

    def account(self, alias: str) -> str:
        if alias in self.seed.accounts:
            return self.seed.accounts[alias]
        if alias in ACCOUNTS:
            return ACCOUNTS[alias]
        raise BadInputError("seed.json#/accounts", f"no account {alias!r} (have {sorted(self.seed.accounts)})")

    def actor(self, credential: str, *, source_ip: str, user_agent: str, region: str = HOME_REGION) -> Actor:
        """An actor using the seeded key ``credential`` (``"prod/ci-deployer"``)."""
        try:
            pair = self.seed.credentials[credential]
        except KeyError:
            raise BadInputError(
                "seed.json#/credentials", f"no access key {credential!r} (have {sorted(self.seed.credentials)})"
            ) from None
        return Actor.from_key_pair(self.endpoint_url, pair, credential, region=region, source_ip=source_ip,
                                   user_agent=user_agent, observer=self.calls.append)

    def root(self, *, source_ip: str, user_agent: str, region: str = HOME_REGION) -> Actor:
        """The management account's root user (the lab's default credentials)."""
        return Actor(self.endpoint_url, ROOT_CREDENTIALS, "management/root", region, source_ip, user_agent,
                     self.calls.append)

    def anonymous(self, *, source_ip: str, user_agent: str) -> Actor:
        return Actor.anonymous(self.endpoint_url, source_ip=source_ip, user_agent=user_agent,
                               observer=self.calls.append)

    def instance_credentials(self, account_alias: str, role_name: str, instance_id: str) -> Actor:
        """Credentials EC2 would deliver to an instance through its instance profile.

        EC2 calls AssumeRole with the instance id as the session name; here the lab's default
        credentials make that call with EC2's service name as address and user agent.
        """
        service = Actor(self.endpoint_url, ROOT_CREDENTIALS, EC2_SERVICE, HOME_REGION, EC2_SERVICE,
                        EC2_SERVICE, self.calls.append)
        role_arn = f"arn:aws:iam::{self.account(account_alias)}:role/{role_name}"
        return service.assume_role(role_arn, instance_id, duration_seconds=21600)

    # --- resources ------------------------------------------------------------------------------

    def resource(self, key: str) -> str | None:
        return self.seed.resources.get(key)

    def resources_like(self, prefix: str) -> dict[str, str]:
        return {k: v for k, v in self.seed.resources.items() if k.startswith(prefix)}

    # --- helpers --------------------------------------------------------------------------------

    def console_login(self, account_alias: str, user_name: str, *, mfa_used: bool, success: bool,
                      source_ip: str, user_agent: str = BROWSER_USER_AGENT) -> None:
        """A console sign-in through the lab helper (no API exists); journaled like a call."""
        self.lab.console_login(self.account(account_alias), user_name, mfa_used=mfa_used, success=success,
                               source_ip=source_ip, user_agent=user_agent, region=HOME_REGION)
        self.calls.append(Call("signin", "ConsoleLogin", f"{account_alias}/{user_name}", source_ip,
                               HOME_REGION, 200 if success else 401,
                               None if success else "FailedAuthentication", datetime.now(UTC)))

    def result(self, name: str, started: datetime) -> ScenarioResult:
        codes: dict[str, int] = {}
        for call in self.calls:
            if call.error_code:
                codes[call.error_code] = codes.get(call.error_code, 0) + 1
        return ScenarioResult(
            name=name,
            calls=len(self.calls),
            failed_calls=sum(1 for c in self.calls if c.error_code),
            event_names=_unique(c.operation for c in self.calls),
            principals=_unique(c.actor for c in self.calls),
            source_ips=_unique(c.source_ip for c in self.calls if c.source_ip),
            started=started,
            ended=datetime.now(UTC),
            objects_delivered=list(self.delivered),
            error_codes=codes,
        )


def tolerate(call: Callable[[], T], *codes: str) -> T | None:
    """Run ``call``; an AWS error whose code is in ``codes`` returns None (the scenario carries on,
    as an attacker whose request failed does). Any other error propagates."""
    try:
        return call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in codes:
            return None
        raise


def pages(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item of ``key`` across the pages of a paginated list call."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**params):
        items.extend(page.get(key, []))
    return items


def _unique(values: Iterable[str | None]) -> list[str]:
    return [v for v in dict.fromkeys(values) if v]
