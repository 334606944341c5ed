"""What every response action is: declared input schema and IAM permissions, plan/execute/verify/rollback.

An action is a small class registered by name (``iam.deactivate-access-key``); a playbook's Task names it
as ``cloudwarden:<name>``. Its parts:

* ``input_schema`` (JSON Schema) and ``permissions`` (the IAM actions it calls, rollback included) are
  data, so ``respond list``, documentation and a least-privilege policy can be computed from the registry;
* ``plan`` reads the account and says what ``execute`` would change (empty: nothing to do) and what it
  would return, in the same shape, so a dry run flows through the playbook like a real run;
* ``execute`` makes only the changes still needed (so running twice changes nothing the second time)
  and returns the ``undo`` record ``rollback`` needs; ``verify`` re-reads the account afterwards;
* ``targets`` names the resources it would touch, which the runner checks for the ``cloudwarden:exclude``
  tag before anything else happens.

Only this package talks to AWS in ``respond``; every client comes from :class:`ActionContext`, whose
factory is built on a :func:`marked_session`: every request of a run carries the User-Agent suffix
``cloudwarden-respond/<run id>`` (:func:`respond_user_agent`), so CloudTrail records each remediation
call with it and detection (the rule pack's shared allowlist) and routing never take a remediation's
own calls for an attack to respond to.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final, cast

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from cloudwarden.core.arn import Arn
from cloudwarden.core.errors import BadInputError
from cloudwarden.core.finding import scrub_secrets
from cloudwarden.respond.asl.errors import StatesError

EXCLUDE_TAG = "cloudwarden:exclude"
RESPOND_AGENT: Final = "cloudwarden-respond/"  # User-Agent marker of every call a playbook run makes


def respond_user_agent(run_id: str) -> str:
    """The User-Agent suffix of run ``run_id``'s calls: ``cloudwarden-respond/<run id>``."""
    return f"{RESPOND_AGENT}{run_id}"


class _MarkedSession:
    """``base`` whose clients all send the run's User-Agent marker, appended to whatever
    ``user_agent_extra`` the caller's own ``Config`` sets; everything else is ``base``'s own.

    A wrapper rather than a second ``boto3.Session`` over the same botocore session: boto3 registers its
    handlers on the botocore session per ``boto3.Session``, and twice is an error for S3 clients.
    """

    def __init__(self, base: boto3.Session, run_id: str) -> None:
        self._base = base
        self.marker = respond_user_agent(run_id)

    def client(self, *args: Any, **kwargs: Any) -> Any:
        given: Config | None = kwargs.get("config")
        extra = " ".join(part for part in (getattr(given, "user_agent_extra", None), self.marker) if part)
        marker = Config(user_agent_extra=extra)
        kwargs["config"] = given.merge(marker) if given is not None else marker
        return self._base.client(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def marked_session(base: boto3.Session, run_id: str) -> boto3.Session:
    """``base`` as a session whose every client carries :func:`respond_user_agent` of ``run_id``."""
    return cast(boto3.Session, _MarkedSession(base, run_id))


@dataclass(frozen=True)
class ResourceKey:
    """A resource an action touches: ``kind`` is ``user``, ``role`` or ``policy``; ``name`` its name or ARN."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Plan:
    """What ``execute`` would do: the changes (sentences; empty when nothing is needed) and its result."""

    changes: list[str]
    result: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What ``execute`` did, what it returns to the playbook, and what ``rollback`` needs (None: nothing)."""

    changes: list[str]
    result: dict[str, Any]
    undo: dict[str, Any] | None = None


@dataclass
class Evidence:
    """Where collected evidence goes: ``<case>/evidence/``. A file never overwrites different content."""

    folder: Path
    written: list[Path] = field(default_factory=list)

    def write_json(self, name: str, value: Any) -> str:
        """Write ``value`` (secrets scrubbed) as ``evidence/<name>``; returns the path relative to the case."""
        self.folder.mkdir(parents=True, exist_ok=True)
        body = json.dumps(scrub_secrets(value), indent=2, sort_keys=True, default=str) + "\n"
        stem, dot, suffix = name.rpartition(".")
        target = self.folder / name
        counter = 1
        while target.exists() and target.read_text(encoding="utf-8") != body:
            counter += 1
            target = self.folder / f"{stem}.{counter}{dot}{suffix}"
        target.write_text(body, encoding="utf-8")
        self.written.append(target)
        return f"{self.folder.name}/{target.name}"


@dataclass
class ActionContext:
    """Everything an action acts through: clients in the finding's account, the run, the evidence folder."""

    client_factory: Callable[[str, str | None], Any]
    account_id: str
    region: str
    run_id: str
    started_at: datetime
    evidence: Evidence
    _tags: dict[ResourceKey, dict[str, str]] = field(default_factory=dict)

    def client(self, service: str, region: str | None = None) -> Any:
        return self.client_factory(service, region)

    def tags(self, key: ResourceKey) -> dict[str, str]:
        """The resource's tags (empty when it does not exist), read once per run."""
        if key not in self._tags:
            self._tags[key] = _read_tags(self.client("iam"), key)
        return self._tags[key]

    def is_excluded(self, key: ResourceKey) -> bool:
        return EXCLUDE_TAG in self.tags(key)


def _read_tags(iam: Any, key: ResourceKey) -> dict[str, str]:
    calls = {"user": ("list_user_tags", "UserName"), "role": ("list_role_tags", "RoleName"),
             "policy": ("list_policy_tags", "PolicyArn")}
    if key.kind not in calls:
        return {}
    operation, parameter = calls[key.kind]
    try:
        found = getattr(iam, operation)(**{parameter: key.name})
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return {}
        raise aws_error(exc) from None
    return {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])}


class Action(ABC):
    """One response action. Subclasses set the class attributes and implement the four verbs."""

    name: ClassVar[str]
    summary: ClassVar[str]
    input_schema: ClassVar[dict[str, Any]]
    permissions: ClassVar[tuple[str, ...]]
    disruptive: ClassVar[bool] = True  # changes the account in a way people notice: waits for approval
    read_only: ClassVar[bool] = False  # reads only: its plan is its execution
    reversible: ClassVar[bool] = True

    def targets(self, params: dict[str, Any]) -> list[ResourceKey]:
        """The resources this call would touch (checked for ``cloudwarden:exclude``)."""
        return []

    @abstractmethod
    def plan(self, ctx: ActionContext, params: dict[str, Any]) -> Plan: ...

    @abstractmethod
    def execute(self, ctx: ActionContext, params: dict[str, Any]) -> Outcome: ...

    def verify(self, ctx: ActionContext, params: dict[str, Any], result: dict[str, Any]) -> list[str]:
        """Problems found re-reading the account after ``execute``; empty when it did what it said."""
        return []

    def rollback(self, ctx: ActionContext, undo: dict[str, Any]) -> list[str]:
        """Undo what ``execute`` recorded; returns what was restored. Irreversible actions say why."""
        raise StatesError("cloudwarden.NotReversible", f"{self.name} cannot be undone")


# --- helpers shared by actions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """An IAM user or role, from an ARN (``user/…``, ``role/…``, ``assumed-role/ROLE/session``) or a name."""

    kind: str  # user | role
    name: str
    arn: str

    @classmethod
    def from_params(cls, params: dict[str, Any], account_id: str, where: str) -> Principal:
        if "Principal" in params:
            return cls.from_arn(str(params["Principal"]), where)
        if "UserName" in params:
            name = str(params["UserName"])
            return cls("user", name, f"arn:aws:iam::{account_id}:user/{name}")
        if "RoleName" in params:
            name = str(params["RoleName"])
            return cls("role", name, f"arn:aws:iam::{account_id}:role/{name}")
        raise BadInputError(where, "give Principal (an IAM user or role ARN), UserName or RoleName")

    @classmethod
    def from_arn(cls, text: str, where: str) -> Principal:
        arn = Arn.parse(text, where)
        kind = arn.resource_type
        if arn.service == "sts" and kind == "assumed-role":
            role = arn.resource.split("/")[1]
            return cls("role", role, f"arn:{arn.partition}:iam::{arn.account}:role/{role}")
        if arn.service != "iam" or kind not in ("user", "role"):
            raise BadInputError(where, f"{text!r} is not an IAM user or role ARN")
        return cls(kind, arn.resource_name, text)

    @property
    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.name)


def aws_error(exc: ClientError, service: str = "IAM") -> StatesError:
    """An AWS error as a States error named ``<Service>.<Code>`` (as Step Functions' SDK tasks name them),
    so a playbook can Retry or Catch it by name."""
    code = exc.response.get("Error", {}).get("Code", "Unknown")
    message = exc.response.get("Error", {}).get("Message", "")
    return StatesError(f"{service}.{code}", f"{exc.operation_name}: {message}")


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


PRINCIPAL_SCHEMA: dict[str, Any] = {
    "Principal": {"type": "string", "pattern": "^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:(user|role|assumed-role)/"},
    "UserName": {"type": "string", "minLength": 1, "maxLength": 64},
    "RoleName": {"type": "string", "minLength": 1, "maxLength": 64},
}


def principal_schema(extra: dict[str, Any] | None = None, *, users_only: bool = False) -> dict[str, Any]:
    """An input schema taking a principal (one of Principal, UserName, RoleName) plus ``extra`` fields."""
    names = ["Principal", "UserName"] if users_only else ["Principal", "UserName", "RoleName"]
    return {
        "type": "object",
        "properties": {**{n: PRINCIPAL_SCHEMA[n] for n in names}, **(extra or {})},
        "oneOf": [{"required": [n]} for n in names],
        "additionalProperties": False,
    }
